"""The local-feature shortlist at catalogue scale: recall of the true work, cost per candidate, RAM per work.

    python -m benchmarks.shortlist_scale [--quick] [--sizes 1000,10000,100000] [--photos DIR] [--workdir DIR]

How the catalogues are built (nothing here is registered through the CLI: this measures the index):
- the photos are split by seed: half are the true works, half are the source of distractors;
- true works: the real RootSIFT features of each photo (as registration extracts them, at most
  1024 px), the same spread sample of `per_work` descriptors the workspace index keeps;
- candidates: each true work through a seeded sample of the benchmark's transforms (benchmarks/
  transforms.py; collages and screenshots are filled with distractor photos), their features and
  their mirror image's extracted as detection does;
- distractor works, up to the catalogue size: each is `per_work` real descriptors drawn at random
  from the distractor photos and their variants (half size, rotated, cropped), each moved by
  Gaussian noise (sigma 0.02 per component, about 0.23 in L2, the order of the distance between
  descriptors of similar patches) and re-normalised, so that no two distractor entries are the
  same point: a crowd of realistic, distinct descriptors that no candidate truly matches.

Recall: the true work is on the candidate's shortlist as detection builds it from votes (the
`shortlist_size` works with most votes, image or mirror, with at least `min_feature_votes`).
Cost: CPU and wall ms of the votes of one candidate (image and mirror), FAISS on one thread as
detection runs it. RAM: the index's bytes divided by the works it holds. Building (training and
adding) uses every core, as `copyhound reindex` does; `train_s` is the training's share of `build_s`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
from PIL import Image

from benchmarks.dataset import REPO, photos_dir
from benchmarks.transforms import FAMILIES
from detector.config import MatchSettings, ShortlistSettings
from detector.features import MIRROR_PERMUTATION, LocalFeatures, extract, spread_sample
from index.local import LocalFeatureIndex, lists_for, training_size

TRANSFORMS = ["mild/jpeg25", "mild/mirror", "medium/crop_60_80", "medium/rotate", "medium/perspective",
              "hard/crop_25_45", "hard/screenshot", "hard/collage", "hard/meme"]
NOISE = 0.02
QUERIES_PER_WORK = 4
CHUNK = 2000  # distractor works generated and added at a time


def load_image(path: Path) -> Image.Image:
    """`path` in RGB, its long side at most 1024 px (as intake decodes a work)."""
    im = Image.open(path).convert("RGB")
    im.thumbnail((1024, 1024), Image.LANCZOS)
    return im


def _features(im: Image.Image) -> LocalFeatures:
    return extract(im, "sift")


def prepare(photos: Path, seed: int, queries_per_work: int, cache: Path) -> dict:
    """Works' samples, candidates' descriptors (image, mirror) and the distractor pool (cached). The
    works' files and the candidates' images (PNG, beside the cache) are kept for whole detections."""
    if cache.exists():
        with np.load(cache, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    rng = random.Random(seed)
    paths = sorted(p for p in photos.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rng.shuffle(paths)
    works, others = paths[: len(paths) // 2], paths[len(paths) // 2:]
    per_work = ShortlistSettings().per_work
    fillers = [load_image(p) for p in others]
    images = candidates_dir(cache)
    images.mkdir(parents=True, exist_ok=True)
    work_rows, query_rows = [], []
    for work_id, path in enumerate(works):
        image = load_image(path)
        feats = _features(image)
        work_rows.append(feats.descriptors[spread_sample(feats, per_work)])
        for name in sorted(rng.sample(TRANSFORMS, queries_per_work)):
            family, transform = name.split("/")
            local = random.Random(f"{seed}:{path.stem}:{name}")
            pool = fillers[:]
            local.shuffle(pool)
            copy = FAMILIES[family][transform](image, local, pool)
            copy.save(images / f"{len(query_rows):04d}.png")
            query_rows.append((work_id, name, _features(copy).descriptors,
                               _features(copy.transpose(Image.FLIP_LEFT_RIGHT)).descriptors))
    data = {
        "work_file": np.array([str(p) for p in works]),
        "work_descriptors": np.concatenate(work_rows), "work_counts": np.array([len(w) for w in work_rows]),
        "query_work": np.array([q[0] for q in query_rows]), "query_name": np.array([q[1] for q in query_rows]),
        "query_descriptors": np.concatenate([np.concatenate([q[2], q[3]]) for q in query_rows]),
        "query_counts": np.array([[len(q[2]), len(q[3])] for q in query_rows]),
        "pool": descriptor_pool(fillers),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **data)
    return data


def descriptor_pool(images: list[Image.Image]) -> np.ndarray:
    """The descriptors distractor works are drawn from: those of each image and of three variants of it
    (half size, rotated, cropped), as registration extracts them."""
    pool = []
    for im in images:
        for variant in (im, im.resize((im.width // 2, im.height // 2)), im.rotate(17, expand=True),
                        im.crop((im.width // 4, im.height // 4, im.width, im.height))):
            pool.append(_features(variant).descriptors)
    return np.concatenate(pool)


def cache_path(workdir: Path, seed: int, queries_per_work: int) -> Path:
    return workdir / f"shortlist-{seed}-{queries_per_work}.npz"


def candidates_dir(cache: Path) -> Path:
    return cache.with_name(cache.stem + "-candidates")


def _split(array: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    return np.split(array, np.cumsum(counts)[:-1])


def distractors(pool: np.ndarray, count: int, per_work: int, rng: np.random.Generator):
    """`count` distractor works of `per_work` noisy pool descriptors each, a chunk at a time."""
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        rows = pool[rng.integers(0, len(pool), n * per_work)]
        rows = np.abs(rows + NOISE * rng.standard_normal(rows.shape, dtype=np.float32))
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        rows = np.rint(rows * 255) / 255  # as RootSIFT is stored: 8 bits per component
        yield start, rows.astype(np.float32).reshape(n, per_work, -1)


class OldFlatVoter:
    """Today's voter before this change (FeatureVoter): a flat L2 index, ratio test against the
    second nearest descriptor overall."""

    def __init__(self):
        self.index, self.owner = faiss.IndexFlatL2(128), []

    def add(self, work_id: int, descriptors: np.ndarray) -> None:
        self.index.add(descriptors)
        self.owner.append(np.full(len(descriptors), work_id))

    def memory_bytes(self) -> int:
        return self.index.ntotal * (128 * 4 + 8)

    def votes(self, descriptors: np.ndarray, ratio: float = 0.8) -> dict[int, int]:
        owners = np.concatenate(self.owner)
        distances, neighbours = self.index.search(descriptors, 2)
        keep = distances[:, 0] < ratio ** 2 * distances[:, 1]
        winners, counts = np.unique(owners[neighbours[keep, 0]], return_counts=True)
        return dict(zip(winners.tolist(), counts.tolist()))


def shortlisted(index, image: np.ndarray, mirror: np.ndarray, settings: MatchSettings) -> list[int]:
    votes = index.votes(image)
    for work, count in index.votes(mirror).items():
        votes[work] = max(votes.get(work, 0), count)
    ranked = sorted(votes.items(), key=lambda item: -item[1])[: settings.shortlist_size]
    return [work for work, count in ranked if count >= settings.min_feature_votes]


#: The exhaustive methods cost seconds per candidate at 1k works; they run on every STEP-th candidate,
#: and every method reports its recall on that subset too, for a like-for-like comparison.
STEP = 4


def measure(index, data: dict, size: int, method: str, settings: MatchSettings, step: int = 1) -> dict:
    queries = _split(data["query_descriptors"], data["query_counts"].sum(axis=1))
    found, cpu, wall = [], [], []
    for (n_image, _), descriptors in list(zip(data["query_counts"], queries))[::step]:
        c0, w0 = time.process_time(), time.perf_counter()
        shortlist = shortlisted(index, descriptors[:n_image], descriptors[n_image:], settings)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        found.append(shortlist)
    truth, names = data["query_work"][::step].tolist(), data["query_name"][::step]
    hits = np.array([w in s for w, s in zip(truth, found)])
    per_transform = {name: float(hits[names == name].mean()) for name in sorted(set(names))}
    return {"works": size, "method": method, "queries": len(hits), "recall": float(hits.mean()),
            "recall_subset": float(hits[:: STEP // step].mean()),
            "recall_per_transform": per_transform, "cpu_ms": 1000 * float(np.mean(cpu)),
            "wall_ms": 1000 * float(np.mean(wall)), "p99_wall_ms": 1000 * float(np.percentile(wall, 99)),
            "bytes_per_work": index.memory_bytes() / size, "lists": getattr(index, "lists", 0)}


BEFORE, EXACT = "flat, ratio vs any descriptor (before)", "exact, ratio vs another work"


def build(method: str, data: dict, size: int, seed: int, shortlist: ShortlistSettings):
    """The index of `method` over the true works plus distractors up to `size` works; build and
    training seconds."""
    works = _split(data["work_descriptors"], data["work_counts"])
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    clock = time.perf_counter()
    train_s = 0.0
    if method == BEFORE:
        index = OldFlatVoter()
    elif method == EXACT:
        index = LocalFeatureIndex(128)
    else:
        index = LocalFeatureIndex(128, code_bytes=shortlist.code_bytes, nprobe=int(method.split("nprobe ")[1][:-1]))
        # Trained as the workspace trains it, on a random sample of the catalogue's own descriptors:
        # the true works take their share of it, the distractors the rest.
        lists = lists_for(size * shortlist.per_work)
        wanted = training_size(lists)
        true_rows = np.concatenate(works)
        own = true_rows[np.random.default_rng(seed).choice(len(true_rows), min(len(true_rows), wanted * len(works) // size),
                                                          replace=False)]
        others = np.concatenate([chunk.reshape(-1, 128) for _, chunk in distractors(
            data["pool"], -(-(wanted - len(own)) // shortlist.per_work), shortlist.per_work,
            np.random.default_rng(seed + 2))])
        started = time.perf_counter()
        index.train(np.concatenate([own, others])[:wanted], lists, trained_for=size * shortlist.per_work,
                    mirror=MIRROR_PERMUTATION)
        train_s = time.perf_counter() - started
    for work_id, descriptors in enumerate(works):
        index.add(work_id, descriptors)
    rng = np.random.default_rng(seed + 1)
    for start, chunk in distractors(data["pool"], size - len(works), shortlist.per_work, rng):
        for offset, descriptors in enumerate(chunk):
            index.add(len(works) + start + offset, descriptors)
    build_s = time.perf_counter() - clock
    faiss.omp_set_num_threads(1)  # as detection runs it (index.threads)
    return index, build_s, train_s


def run(photos: Path, sizes: list[int], methods: dict[int, list[str]], seed: int, queries_per_work: int,
        workdir: Path, detect: Callable[[int, LocalFeatureIndex, dict], list[dict]] | None = None) -> dict:
    """The rows of every method at every size; `detect(size, index, data)` adds whole-detection rows
    with the index the workspace would build (the default nprobe) at each size."""
    faiss.omp_set_num_threads(1)  # as detection runs it (index.threads)
    data = prepare(photos, seed, queries_per_work, cache_path(workdir, seed, queries_per_work))
    shortlist, settings = ShortlistSettings(), MatchSettings()
    rows, detections = [], []
    for size in sizes:
        for method in methods[size]:
            index, build_s, train_s = build(method, data, size, seed, shortlist)
            row = measure(index, data, size, method, settings, STEP if method in (BEFORE, EXACT) else 1)
            row["build_s"], row["train_s"] = build_s, train_s
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "recall_per_transform"}), flush=True)
            if detect is not None and method == default_method():
                detections += detect(size, index, data)
            del index
    return {"detection": detections, "sizes": sizes, "true_works": len(data["work_counts"]), "queries": len(data["query_work"]),
            "pool_descriptors": len(data["pool"]), "noise": NOISE, "per_work": shortlist.per_work,
            "code_bytes": shortlist.code_bytes, "rows": rows}


def default_method() -> str:
    return f"IVF-PQ fast-scan (nprobe {ShortlistSettings().nprobe})"


def methods_for(sizes: list[int]) -> dict[int, list[str]]:
    """Before and exact at 1k works (they are exhaustive), the trained index at its default nprobe
    at every size, and at four times that up to 10k works (one more 100k build would double the run)."""
    default = ShortlistSettings().nprobe
    return {size: ([BEFORE, EXACT] if size <= 1_000 else []) + [default_method()]
            + ([f"IVF-PQ fast-scan (nprobe {4 * default})"] if size <= 10_000 else []) for size in sizes}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1k and 10k works only.")
    parser.add_argument("--sizes", help="Comma-separated catalogue sizes (default 1000,10000,100000).")
    parser.add_argument("--photos", help="Folder of real photos (default: $COPYHOUND_PHOTOS or ../shared/photos).")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queries-per-work", type=int, default=QUERIES_PER_WORK)
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench-cache")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "SHORTLIST.json")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else \
        ([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000])
    clock = time.perf_counter()
    result = run(photos_dir(args.photos), sizes, methods_for(sizes), args.seed, args.queries_per_work, args.workdir)
    result["seconds"] = time.perf_counter() - clock
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
