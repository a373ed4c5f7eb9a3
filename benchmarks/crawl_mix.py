"""What detection costs on a crawl of mostly unrelated images, and the quality set's recall, in one run.

    python -m benchmarks.crawl_mix [--mix 5000] [--works 1000] [--per-family 4] [--small-works 12] [--throughput 400]
                                   [--catalogue 100000] [--workdir DIR] [--out FILE] [--debs DIR] [--photos DIR]
                                   [--seed N]

The *crawl mix* is `--mix` candidate images that copy no registered work, of the kinds a crawl brings:
- photos: the shared photos that are not registered (`benchmarks.dataset`'s negatives), as they are;
- icons: PNG icons installed by Debian packages under /usr/share/icons, at the sizes they ship;
- clip art, logos and wallpapers: the PNG, JPEG and WebP files of the Debian packages `openclipart-png`,
  `desktop-base` and `gnome-backgrounds`, unpacked under `--debs` (`apt-get download` them, then
  `dpkg -x PACKAGE.deb DIR/root`; a kind whose files are absent is left out and the report says so);
- figures: the PNG and JPEG files under /usr/share/doc;
- thumbnails (150-320 px JPEGs) and banners (728x90, 970x250 or 1200x300 crops) cut from those photos
  and wallpapers; text-page screenshots and charts drawn by `benchmarks.distractors` with another seed.
Every file's origin is listed in the JSON output (`mix_sources`). A kind with fewer files than its share
leaves the rest to the others (`shares`). Mixed in: 1% copies, taken from the quality set's copies.

The *quality set* is `benchmarks.dataset`'s (registered works, their copies in named families, negatives, and
`--small-works` works registered at most 320 px on the short side, the `small_work` family);
it is registered into a real workspace (embedder "none"), whose shortlist index then holds `--catalogue` works
in all, the rest distractor works as in the scale part (`catalogue_index`), and every query is analysed exactly
as a scan does (`Detector.analyse_content` on the stored bytes), so per-family recall at `match` is the product's.

Per candidate it measures the process CPU time of the whole analysis (decode, Content Credentials,
hashes, features, search, verification) as one of `scan`'s workers spends it, OpenCV, FAISS and BLAS on one thread
each (`detector.parallel`: what a scan runs by default, one such worker per core), and, where the detector says so,
the cascade stage the candidate stopped at. On the same mix files, in the same run: decode + pHash, decode + PDQ,
and decode + pHash + PDQ (the hashing floor). Then images/s of the mix with 1 and 2 worker processes (`--throughput`
images; wall time, so it moves with whatever else the machine runs), and the CPU per image of the one-process runs:
on every core's threads (`--workers 1`) and on one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

from benchmarks import distractors, machine, quality, shortlist_scale
from benchmarks.dataset import Dataset, Query, build, photos_dir
from benchmarks.detection_scale import AssetIds
from detector.config import Settings, ShortlistSettings
from detector.detect import Detector
from detector.errors import ImageRefused
from detector.features import LocalFeatures, spread_sample
from detector.hashing import HASHERS
from detector.intake import decode_image
from detector.parallel import analyse_all, one_thread
from detector.register import WorkInfo, register_files
from detector.workspace import create_workspace, open_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, open_store
from index.local import LocalFeatureIndex

RASTER = (".png", ".jpg", ".jpeg", ".webp")
#: Share of the mix each kind takes; a kind with too few files takes them all and leaves the rest of its share to
#: the others, in proportion to theirs (`shares`).
MIX_SHARES = {"photo": 0.10, "icon": 0.25, "clipart": 0.20, "logo": 0.03, "wallpaper": 0.04, "figure": 0.05,
              "thumbnail": 0.13, "banner": 0.08, "screenshot": 0.06, "chart": 0.06}
COPY_SHARE = 0.01
#: Photo works registered small (short side 200-320 px) with their copies: the `small_work` family (issue 23).
SMALL_WORKS = 12
#: Where the Debian packages are unpacked (see the module's docstring).
DEFAULT_DEBS = Path("/tmp/crawlmix-debs")
#: Works the shortlist index holds in issue 23's run: "100k registered works, as in the scale part".
CATALOGUE = 100_000
#: Clip art files, of those the mix does not use, whose descriptors the catalogue's distractor works are drawn from.
POOL_FILES = 200


def _debian_files(debs: Path) -> dict[str, list[tuple[Path, str]]]:
    """Raster files of each kind shipped by Debian packages: (path, package)."""
    def listed(root: Path, package: str, pattern: str = "**/*") -> list[tuple[Path, str]]:
        return [(p, package) for p in sorted(root.glob(pattern)) if p.suffix.lower() in RASTER and p.is_file()]

    unpacked = debs / "root" / "usr" / "share"
    desktop = listed(unpacked / "desktop-base", "desktop-base")
    return {
        "icon": listed(Path("/usr/share/icons"), "installed icon themes (dpkg -S names the package)"),
        "figure": listed(Path("/usr/share/doc"), "installed package documentation"),
        "clipart": listed(unpacked / "openclipart", "openclipart-png") + listed(unpacked / "pixmaps", "openclipart-png"),
        "logo": [(p, pkg) for p, pkg in desktop if "logo" in str(p).lower() or "emblem" in str(p).lower()],
        "wallpaper": [(p, pkg) for p, pkg in desktop if "logo" not in str(p).lower()]
                     + listed(unpacked / "backgrounds", "gnome-backgrounds"),
    }


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def build_mix(dataset: Dataset, photos: Path, debs: Path, size: int, seed: int,
              out: Path) -> tuple[list[dict], dict[str, int]]:
    """Write the crawl mix's non-copies under `out`; returns [{file, kind, source}] (shuffled) and how many
    each kind fell short of its share (its files ran out)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    files = _debian_files(debs)
    photo_paths = [p for p in sorted(photos.glob("*")) if p.stem in dataset.negatives]
    files["photo"] = [(p, "shared/photos (not registered)") for p in photo_paths]
    pictures = [p for p, _ in files["photo"] + files.get("wallpaper", []) if p.suffix.lower() != ".svg"]
    available = {kind: len(files.get(kind, [])) for kind in ("photo", "icon", "clipart", "logo", "wallpaper", "figure")}
    available.update(thumbnail=None if pictures else 0, banner=None if pictures else 0)  # None: drawn without end
    wanted = shares(size, available)
    items: list[dict] = []

    def add(kind: str, data: bytes, source: str, suffix: str) -> None:
        name = f"{kind}-{len(items):05d}{suffix}"
        (out / name).write_bytes(data)
        items.append({"file": name, "kind": kind, "source": source})

    for kind in ("photo", "icon", "clipart", "logo", "wallpaper", "figure"):
        chosen = rng.sample(files.get(kind, []), min(wanted[kind], len(files.get(kind, []))))
        for path, package in chosen:
            add(kind, path.read_bytes(), f"{package}: {path}", path.suffix.lower())
    for _ in range(wanted["thumbnail"]):
        path = rng.choice(pictures)
        image = Image.open(path).convert("RGB")
        image.thumbnail((rng.randint(150, 320),) * 2)
        add("thumbnail", _jpeg(image, rng.choice((70, 80, 90))), f"thumbnail of {path}", ".jpg")
    for _ in range(wanted["banner"]):
        path = rng.choice(pictures)
        image = Image.open(path).convert("RGB")
        width, height = rng.choice(((728, 90), (970, 250), (1200, 300)))
        scale = max(width / image.width, height / image.height)
        image = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))))
        left, top = rng.randint(0, image.width - width), rng.randint(0, image.height - height)
        add("banner", _jpeg(image.crop((left, top, left + width, top + height))), f"banner cut from {path}", ".jpg")
    for kind, draw in (("screenshot", distractors.text_screenshot), ("chart", distractors.chart)):
        for i in range(wanted[kind]):
            recipe = f"mix:{seed}:{kind}:{i}"
            add(kind, _png(draw(random.Random(recipe))), f"benchmarks.distractors.{draw.__name__}, Random({recipe!r})",
                ".png")
    rng.shuffle(items)
    share = {kind: round(value * size) for kind, value in MIX_SHARES.items()}
    return items, {kind: share[kind] - wanted[kind] for kind in share if wanted[kind] < share[kind]}


def shares(size: int, available: dict[str, int | None]) -> dict[str, int]:
    """Images of each kind in a mix of `size`: its share (`MIX_SHARES`), except that a kind with fewer files
    (`available`; None or absent: without end) takes all it has and leaves the rest to the other kinds, in
    proportion to their shares."""
    wanted: dict[str, int] = {}
    open_kinds, left = dict(MIX_SHARES), size
    while True:
        total = sum(open_kinds.values())
        capped = {kind: available[kind] for kind, share in open_kinds.items()
                  if available.get(kind) is not None and available[kind] < round(share / total * left)}
        if not capped:
            break
        for kind, count in capped.items():
            wanted[kind], left = count, left - count
            del open_kinds[kind]
    total = sum(open_kinds.values())
    wanted.update({kind: round(share / total * left) for kind, share in open_kinds.items()})
    wanted[max(open_kinds, key=open_kinds.get)] += size - sum(wanted.values())  # what rounding left over
    return wanted


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ms = [1000 * v for v in values]
    return {"n": len(ms), "median": statistics.median(ms), "p95": float(np.percentile(ms, 95)),
            "mean": statistics.fmean(ms)}


def _exit_of(analysis) -> str:
    """The cascade stage an analysis stopped at (detectors before the cascade ran every stage)."""
    cascade = getattr(analysis, "cascade", None)
    return cascade["exit"] if cascade else "full (no cascade)"


@contextmanager
def as_a_worker() -> Iterator[None]:
    """This process's OpenCV, FAISS and BLAS on one thread each while the block runs, as in each of `scan`'s worker
    processes, and as the floor's decoding and hashing run: a candidate's CPU is then its own work, not also the
    threads' handing over (`_throughput` measures both on the same images: 26.8 ms an image on both cores' threads
    against 26.3 on one, benchmarks/RESULTS.md)."""
    with one_thread(), threadpool_limits(1, user_api="blas"):
        yield


def _analyse(detector: Detector, blobs: BlobStore, folder: Path, names: list[str], unscreened: bool = False) -> list[dict]:
    """One row per image: CPU, exit, seconds per stage, findings. `unscreened`: an image the cascade's screen
    or confirm stage stopped is analysed again with the screen off, and that row's `unscreened` holds those
    findings (what the detector found before the cascade, the same code past the screen)."""
    rows = []
    for name in names:
        sha256 = blobs.put((folder / name).read_bytes())
        clock = time.process_time()
        analysis = detector.analyse_content(sha256, name)
        cpu = time.process_time() - clock
        cascade = getattr(analysis, "cascade", None) or {}
        rows.append({"name": name, "sha256": sha256, "cpu": cpu, "refused": analysis.refusal is not None,
                     "exit": _exit_of(analysis), "best_coarse_votes": cascade.get("best_coarse_votes"),
                     "near_lists_only": bool(cascade.get("near_lists_only")), "seconds": dict(analysis.seconds),
                     "findings": [(f.asset_id, f.decision.score, f.decision.decision) for f in analysis.findings]})
        if unscreened and rows[-1]["exit"] in ("screen", "confirm"):
            gates, detector.gates = detector.gates, replace(detector.gates, screen=False)
            try:
                again = detector.analyse_content(sha256, name)
            finally:
                detector.gates = gates
            rows[-1]["unscreened"] = [(f.asset_id, f.decision.score, f.decision.decision) for f in again.findings]
    return rows


def stage_cpu(rows: list[dict]) -> dict[str, float]:
    """Mean CPU ms per candidate of each stage: a candidate's CPU time shared out in proportion to its stages'
    own (wall) clocks, so that other load on the machine does not inflate it."""
    total: Counter = Counter()
    for row in rows:
        clocked = sum(row["seconds"].values())
        for stage, seconds in row["seconds"].items():
            total[stage] += 1000 * row["cpu"] * seconds / clocked if clocked else 0.0
    return {stage: value / max(1, len(rows)) for stage, value in sorted(total.items())}


def _floor(folder: Path, names: list[str], settings) -> dict:
    """CPU per file of decode + pHash, decode + PDQ, and decode + both (the product's decode)."""
    cpu: dict[str, list[float]] = {"decode + phash": [], "decode + pdq": [], "decode + phash + pdq": []}
    for name in names:
        data = (folder / name).read_bytes()
        for label, hashers in (("decode + phash", ("phash",)), ("decode + pdq", ("pdq",)),
                               ("decode + phash + pdq", ("phash", "pdq"))):
            clock = time.process_time()
            try:
                image = decode_image(data, name, settings).image
            except ImageRefused:
                break
            for hasher in hashers:
                HASHERS[hasher].hash(image)
            cpu[label].append(time.process_time() - clock)
    return {label: _stats(values) for label, values in cpu.items()}


def _throughput(detector: Detector, contents: list[tuple[str, str]]) -> dict:
    """Images/s with 1 worker (in process, OpenCV and FAISS on their default threads), with 1 worker on one
    thread of each (what one core does), and with 2 workers (forked, one thread each)."""
    out = {}
    for label, workers, single in (("workers_1", 1, False), ("workers_1_one_thread", 1, True),
                                   ("workers_2", 2, False)):
        with as_a_worker() if single else nullcontext():
            clock, cpu = time.perf_counter(), time.process_time()
            done = sum(1 for _ in analyse_all(detector, list(dict(contents).items()), workers))
            wall, cpu = time.perf_counter() - clock, time.process_time() - cpu
        out[label] = {"images": done, "wall_s": wall, "images_per_s": done / wall}
        if workers == 1:  # a forked worker's CPU is not this process's
            out[label]["cpu_ms_per_image"] = 1000 * cpu / done
    out["speedup"] = out["workers_2"]["images_per_s"] / out["workers_1"]["images_per_s"]
    out["speedup_per_core"] = out["workers_2"]["images_per_s"] / out["workers_1_one_thread"]["images_per_s"]
    return out


def _workspace(dataset: Dataset, home: Path):
    """The workspace with the set's works registered (once: a later run reuses it)."""
    done = home / "registered"
    if done.exists():
        ws = open_workspace(home)
        return ws, open_store(ws), float(done.read_text(encoding="utf-8"))
    ws, _ = create_workspace(home, Settings().with_embedder("none"))
    store = open_store(ws)
    clock = time.perf_counter()
    register_files(ws, store, ws.settings(), None, sorted(dataset.works_dir.iterdir()), WorkInfo("bench"), workers=2)
    done.write_text(str(time.perf_counter() - clock), encoding="utf-8")
    return ws, store, float(done.read_text(encoding="utf-8"))


def catalogue_index(store: Store, size: int, debs: Path, items: list[dict], seed: int,
                    cache: Path) -> tuple[AssetIds, dict]:
    """The shortlist index of a catalogue of `size` works, built as the scale part builds it
    (`shortlist_scale.build`, seen under asset ids by `detection_scale.AssetIds`): the workspace's registered
    works, the same sample of each one's descriptors its own index keeps, then distractor works up to `size`,
    trained and searched as a workspace of that size would be. A distractor work has no stored features or
    pixels: when one is shortlisted its votes are paid, its verification is not.

    The distractors' descriptors are drawn from `POOL_FILES` Debian clip art files the mix does not use (and
    variants of them): the scale part's pool, its photos, holds the quality set's works and the mix's photos
    here, and their near twins would take the true works' votes. Built once and kept under `cache`; when the
    registered works' descriptors have changed since (registered again by a newer extractor), theirs are replaced
    in the kept index, as re-registering replaces a work's in a workspace's, and the distractors are kept."""
    shortlist = ShortlistSettings()
    asset_ids = sorted(a["id"] for a in store.assets())
    samples = []
    for asset_id in asset_ids:
        feats = LocalFeatures.from_bytes(store.asset_features(asset_id, "sift"))
        samples.append(feats.descriptors[spread_sample(feats, shortlist.per_work)])
    digests = [hashlib.sha256(sample.tobytes()).hexdigest()[:16] for sample in samples]
    index_file, pool_file = cache / f"catalogue-{size}-{seed}.faiss", cache / f"pool-{seed}.npy"
    if index_file.exists():
        index, meta = LocalFeatureIndex.load(index_file, nprobe=shortlist.nprobe)
        if meta.get("asset_ids") == asset_ids:
            kept = meta.get("sample_digests") or [None] * len(asset_ids)
            stale = [position for position, digest in enumerate(digests) if kept[position] != digest]
            if stale:
                index.remove(stale)
                for position in stale:
                    index.add(position, samples[position])
                meta["about"]["refreshed_works"] = len(stale)
                index.save(index_file, {"asset_ids": asset_ids, "about": meta["about"], "sample_digests": digests})
            return AssetIds(index, asset_ids), meta["about"]
    if pool_file.exists():
        pool = np.load(pool_file)
    else:
        used = {item["source"].split(": ", 1)[1] for item in items if item["kind"] == "clipart"}
        unused = [path for path, _ in _debian_files(debs)["clipart"] if str(path) not in used]
        if not unused:
            raise SystemExit(f"crawl_mix: the catalogue's distractor works are drawn from clip art the mix does not use, "
                             f"and none was found under {debs}; unpack openclipart-png there (see the module's "
                             "docstring) or run with --catalogue 0")
        chosen = random.Random(seed).sample(unused, min(POOL_FILES, len(unused)))
        pool = shortlist_scale.descriptor_pool([shortlist_scale.load_image(path) for path in chosen])
        cache.mkdir(parents=True, exist_ok=True)
        np.save(pool_file, pool)
    data = {"work_descriptors": np.concatenate(samples), "work_counts": np.array([len(s) for s in samples]),
            "pool": pool}
    index, build_s, train_s = shortlist_scale.build(shortlist_scale.default_method(), data, size, seed, shortlist)
    about = {"works": size, "registered": len(asset_ids), "distractors": size - len(asset_ids),
             "pool_descriptors": len(pool), "build_s": build_s, "train_s": train_s}
    index.save(index_file, {"asset_ids": asset_ids, "about": about, "sample_digests": digests})
    return AssetIds(index, asset_ids), about


def run(photos: Path, workdir: Path, debs: Path, mix: int, works: int, per_family: int, throughput: int,
        seed: int, checkpoint=lambda part, data: None, small_works: int = SMALL_WORKS,
        catalogue: int = CATALOGUE) -> dict:
    """Every number of the part; `checkpoint(name, data)` gets each stage's raw rows as soon as they exist."""
    manifest = workdir / "set" / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        dataset = Dataset(workdir / "set", data["seed"], data["works"], data["negatives"],
                          [Query(**q) for q in data["queries"]], data["generated"])
    else:
        dataset = build(photos, workdir / "set", seed, quick=False, per_family=per_family, catalogue=works,
                        small_works=small_works)
    mix_file = workdir / "mix.json"
    if mix_file.exists():
        items, short = json.loads(mix_file.read_text(encoding="utf-8"))
    else:
        items, short = build_mix(dataset, photos, debs, mix, seed, workdir / "mix")
        mix_file.write_text(json.dumps([items, short], indent=1), encoding="utf-8")
    items = items[:mix]  # a smaller run on a kept mix takes its first images
    ws, store, register_s = _workspace(dataset, workdir / "home")
    try:
        settings = ws.settings()
        detector = Detector(ws, store, settings, None)
        blobs = BlobStore(ws.blobs_dir)
        stems = {a["id"]: Path(a["filename"]).stem for a in store.assets()}
        held = None
        if catalogue > len(stems):
            detector.indexes.features, held = catalogue_index(store, catalogue, debs, items, seed, workdir / "catalogue")
        print(f"crawl_mix: {len(stems)} works ({held['works'] if held else len(stems)} in the shortlist index), "
              f"{len(dataset.queries)} quality queries, {len(items)} mix images", flush=True)
        with as_a_worker():
            queries = _analyse(detector, blobs, dataset.queries_dir, [q.name for q in dataset.queries],
                               unscreened=True)
        predictions = [(row["name"], stems[asset_id], score) for row in queries
                       for asset_id, score, decision in row["findings"] if decision]
        evaluation = quality.evaluate(dataset, predictions, fixed_threshold=settings.match.match_threshold)
        unscreened = [(row["name"], stems[asset_id], score) for row in queries
                      for asset_id, score, decision in row.get("unscreened", row["findings"]) if decision]
        without_screen = quality.evaluate(dataset, unscreened, fixed_threshold=settings.match.match_threshold)
        checkpoint("quality", {"family_recall": evaluation["family_recall"], "rows": queries})
        by_name = {q.name: q for q in dataset.queries}
        copies = [row for row in queries if by_name[row["name"]].work]
        with as_a_worker():
            crawl = _analyse(detector, blobs, workdir / "mix", [i["file"] for i in items])
        checkpoint("mix", {"rows": crawl})
        kinds = {i["file"]: i["kind"] for i in items}
        decoded = [row for row in crawl if not row["refused"]]
        mixed = decoded + random.Random(seed).sample(copies, min(len(copies), max(1, round(COPY_SHARE * len(decoded)))))
        with as_a_worker():
            floor = _floor(workdir / "mix", [row["name"] for row in decoded], settings.intake)
        contents = [(row["sha256"], row["name"]) for row in mixed][:throughput]
        speed = _throughput(detector, contents) if throughput else None
    finally:
        store.close()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine.describe(),
        "seed": seed, "works": len(stems), "register_s": register_s, "catalogue": held,
        "quality": {"queries": len(dataset.queries), "family_recall": evaluation["family_recall"],
                    "negatives_hit": evaluation["negatives_hit"], "negative_queries": evaluation["negative_queries"],
                    "threshold": evaluation["threshold"],
                    "family_recall_without_screen": without_screen["family_recall"],
                    "lost_to_screen": sorted(row["name"] for row in queries if "unscreened" in row
                                             and any(d == "match" for _, _, d in row["unscreened"])),
                    "best_coarse_votes": {row["name"]: row["best_coarse_votes"] for row in queries},
                    "copy_exits": dict(Counter(f"{by_name[r['name']].family}: {r['exit']}" for r in copies))},
        "mix": {"images": len(items), "refused": sum(row["refused"] for row in crawl),
                "kinds": dict(Counter(i["kind"] for i in items)), "short_of": short,
                "false_matches": sorted(f"{row['name']} ({kinds[row['name']]}) -> {stems[a]} {s:.3f}"
                                        for row in crawl for a, s, d in row["findings"] if d == "match"),
                "reviews": sum(1 for row in crawl for _, _, d in row["findings"] if d == "review"),
                "exits": dict(Counter(row["exit"] for row in decoded)),
                "near_lists_only": sum(row["near_lists_only"] for row in decoded),
                "best_coarse_votes": {row["name"]: row["best_coarse_votes"] for row in decoded},
                "exits_by_kind": {k: dict(Counter(r["exit"] for r in decoded if kinds[r["name"]] == k))
                                  for k in sorted(set(kinds.values()))},
                "stage_cpu_ms_mean": stage_cpu(decoded)},
        "cpu_ms": {"non_copies": _stats([row["cpu"] for row in decoded]),
                   "copies": _stats([row["cpu"] for row in copies]),
                   "non_copies_by_kind": {k: _stats([r["cpu"] for r in decoded if kinds[r["name"]] == k])
                                          for k in sorted(set(kinds.values()))},
                   **floor},
        "throughput": speed,
        "mix_sources": items,
    }


def _ms(stats: dict) -> str:
    return f"{stats['median']:.0f} / {stats['p95']:.0f} / {stats['mean']:.0f}" if stats.get("n") else "-"


def _held(catalogue: dict | None) -> str:
    if not catalogue:
        return ""
    refreshed = (f"; the registered works' descriptors replaced since, {catalogue['refreshed_works']:,} of them"
                 if catalogue.get("refreshed_works") else "")
    return (f" (the shortlist index holding {catalogue['works']:,} works: {catalogue['distractors']:,} distractor works "
            f"as in the scale part, built in {catalogue['build_s'] / 60:.0f} min{refreshed})")


def render(part: dict, baseline: dict | None = None) -> list[str]:
    """The part's section of RESULTS.md; with `baseline` (the same part run by an earlier version on the same
    set), its numbers beside."""
    cpu, mix = part["cpu_ms"], part["mix"]
    before = baseline["cpu_ms"] if baseline else None
    lines = ["## Crawl mix: the cost of unrelated images", "",
             (f"{mix['images']} candidate images that copy nothing ({', '.join(f'{k} {v}' for k, v in sorted(mix['kinds'].items()))}; "
             f"{mix['refused']} refused by intake, e.g. icons under 32 px) and the quality set's {part['quality']['queries']} "
             f"queries, against {part['works']} registered works{_held(part.get('catalogue'))}, embedder 'none'; "
             "`benchmarks/crawl_mix.py`, seed "
             f"{part['seed']}, {part['date']}. CPU is process time per candidate (decode to decision), in ms: "
             "median / p95 / mean, as one of `scan`'s workers spends it (OpenCV, FAISS and BLAS on one thread)."), "",
             "| | this run" + (f" | before ({baseline.get('commit', 'an earlier version')}) |" if before else " |"),
             "|---|---|" + ("---|" if before else "")]
    rows = [("non-copies", "non_copies"), ("copies (quality set)", "copies"), ("decode + pHash", "decode + phash"),
            ("decode + PDQ", "decode + pdq"), ("decode + pHash + PDQ (the floor)", "decode + phash + pdq")]
    for label, key in rows:
        lines.append(f"| {label} | {_ms(cpu[key])} |" + (f" {_ms(before[key])} |" if before else ""))
    for kind, stats in cpu["non_copies_by_kind"].items():
        old = before["non_copies_by_kind"].get(kind, {}) if before else None
        lines.append(f"| non-copies: {kind} | {_ms(stats)} |" + (f" {_ms(old)} |" if before else ""))
    exits = mix["exits"]
    total = sum(exits.values()) or 1
    near = (f" ({mix['near_lists_only']} of them, {mix['near_lists_only'] / total:.0%} of all, after searching "
            "only their descriptors' nearest lists)" if "near_lists_only" in mix else "")
    lines += ["", "Exits of the non-copies: " + ", ".join(f"{k} {v} ({v / total:.0%})" + (near if k == "screen" else "")
                                                          for k, v in sorted(exits.items()))
              + ". Mean CPU per stage of a non-copy (ms): "
              + ", ".join(f"{k} {v:.1f}" for k, v in mix["stage_cpu_ms_mean"].items() if v >= 0.05) + ".",
              f"False matches among the non-copies: {len(mix['false_matches'])}"
              + (f" ({'; '.join(mix['false_matches'])})" if mix["false_matches"] else "")
              + f"; pairs kept for review: {mix['reviews']}."]
    speed = part.get("throughput")
    if speed:
        lines.append(f"Throughput on {speed['workers_1']['images']} mix images (1% copies): "
                     f"{speed['workers_1']['images_per_s']:.2f} images/s with 1 worker, "
                     f"{speed['workers_2']['images_per_s']:.2f} with 2 ({speed['speedup']:.2f}x; wall time)"
                     + (f"; {speed['workers_1_one_thread']['images_per_s']:.2f} with 1 worker on one thread of "
                        f"OpenCV, FAISS and BLAS, which 2 workers beat {speed['speedup_per_core']:.2f}x."
                        if "workers_1_one_thread" in speed else "."))
        if "cpu_ms_per_image" in speed["workers_1"]:
            lines.append("CPU per image of those runs in one process: "
                         f"{speed['workers_1']['cpu_ms_per_image']:.1f} ms on both cores' threads, "
                         f"{speed['workers_1_one_thread']['cpu_ms_per_image']:.1f} on one.")
    quality_part = part["quality"]
    recall = quality_part["family_recall"]
    old_recall = baseline["quality"]["family_recall"] if baseline else {}
    lines += ["", "| family | recall at match" + (" | before |" if baseline else " |"), "|---|---|" + ("---|" if baseline else "")]
    for family, value in sorted(recall.items()):
        old = old_recall.get(family)
        lines.append(f"| {family} | {value:.3f} |" + ("" if not baseline else " - |" if old is None else f" {old:.3f} |"))
    lines += ["", f"Negative queries matched: {quality_part['negatives_hit']} of {quality_part['negative_queries']}.", ""]
    return lines


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mix", type=int, default=5000, help="Non-copy images in the crawl mix.")
    parser.add_argument("--works", type=int, default=1000, help="Registered works in the quality set.")
    parser.add_argument("--per-family", type=int, default=4, help="Transforms per family per photo work.")
    parser.add_argument("--small-works", type=int, default=SMALL_WORKS,
                        help="Photo works registered at most 320 px on the short side (the small_work family).")
    parser.add_argument("--throughput", type=int, default=400, help="Mix images timed with 1 and 2 workers (0: none).")
    parser.add_argument("--catalogue", type=int, default=CATALOGUE,
                        help="Works the shortlist index holds: the registered ones, then distractor works as in the "
                             "scale part (0: the registered works alone). Built once per workdir (15-40 minutes "
                             "at 100k works on 2 cores), then reused.")
    parser.add_argument("--photos", default=None)
    parser.add_argument("--debs", default=str(DEFAULT_DEBS), help="Folder whose root/ holds the unpacked .debs.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default="/tmp/crawl-mix", help="Kept: a second run reuses the set and works.")
    parser.add_argument("--out", default="benchmarks/CRAWL_MIX.json")
    parser.add_argument("--render", nargs="+", metavar="JSON",
                        help="Measure nothing: print the RESULTS.md section of a saved run (and of a baseline run "
                             "on the same set, given second).")
    args = parser.parse_args(argv)
    if args.render:
        part, *baseline = (json.loads(Path(f).read_text(encoding="utf-8")) for f in args.render)
        print("\n".join(render(part, baseline[0] if baseline else None)))
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    partial = Path(args.out).with_suffix(".partial.json")
    kept: dict = {}

    def checkpoint(part: str, data: dict) -> None:
        kept[part] = data
        partial.write_text(json.dumps(kept, default=float), encoding="utf-8")

    result = run(photos_dir(args.photos), workdir, Path(args.debs), args.mix, args.works, args.per_family,
                 args.throughput, args.seed, checkpoint, args.small_works, args.catalogue)
    result["command"] = "python -m benchmarks.crawl_mix " + " ".join(sys.argv[1:] if argv is None else argv)
    result["commit"] = _git_commit()
    Path(args.out).write_text(json.dumps(result, indent=1, default=float), encoding="utf-8")
    summary = {k: result[k] for k in ("works", "cpu_ms", "throughput")} | {"exits": result["mix"]["exits"]}
    print(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
