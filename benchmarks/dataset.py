"""The copy-detection set: registered works, transformed copies in named families, and negatives.

From the real photos (default ../shared/photos from the repo root; `--photos` or COPYHOUND_PHOTOS
to change it), with a seeded split:
- works: photos registered with copyhound; the other photos are unregistered (negatives);
- `basketball-court1-a` is always a work and `basketball-court1-b` (the same court, another
  shot) always a negative: the classic "same scene, different photo" trap;
- every photo is on the `tune` or `holdout` side (half each, by seed). Thresholds are chosen on
  `tune` queries only and confirmed on `holdout` ones; collages and page layouts take their
  filler photos from negatives of the same side;
- queries: each work through a seeded sample of the transforms of every family; each negative as-is and re-encoded twice (JPEG 60, half size).
Everything is written under `out` with `manifest.json` listing each query and its truth.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from benchmarks.transforms import FAMILIES

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "photos"
SAME_SCENE = ("scratch__basketball-court1-a", "scratch__basketball-court1-b")
MAX_SIDE = 800


@dataclass(frozen=True)
class Query:
    name: str  # file name of the query image
    family: str  # mild, medium, hard, or negative
    transform: str
    work: str | None  # the work it copies; None for negatives
    split: str  # tune or holdout


@dataclass
class Dataset:
    root: Path
    seed: int
    works: dict[str, str]  # work stem -> split
    negatives: dict[str, str]  # unregistered photo stem -> split
    queries: list[Query]

    @property
    def works_dir(self) -> Path:
        return self.root / "works"

    @property
    def queries_dir(self) -> Path:
        return self.root / "queries"

    def save(self) -> None:
        data = {"seed": self.seed, "works": self.works, "negatives": self.negatives,
                "queries": [asdict(q) for q in self.queries]}
        (self.root / "manifest.json").write_text(json.dumps(data, indent=1), encoding="utf-8")


def photos_dir(given: str | None) -> Path:
    """The photo folder: `given`, else $COPYHOUND_PHOTOS, else ../shared/photos; a clear error if absent."""
    path = Path(given or os.environ.get("COPYHOUND_PHOTOS") or DEFAULT_PHOTOS).expanduser()
    photos = sorted(p for p in path.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")) if path.is_dir() else []
    if len(photos) < 20:
        raise SystemExit(
            f"benchmarks: the photo folder {path} holds {len(photos)} photos; at least 20 are needed. "
            "Point --photos (or COPYHOUND_PHOTOS) at a folder of real photos, e.g. the project's "
            "shared/photos (87 photos, see its README.md)."
        )
    return path


def _load(path: Path) -> Image.Image:
    im = Image.open(path).convert("RGB")
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
    return im


def build(photos: Path, out: Path, seed: int, quick: bool, per_family: int, works_fraction: float = 0.7) -> Dataset:
    """Write the dataset under `out` (works/, queries/, manifest.json) and return it.

    Each work goes through `per_family` transforms of each family, drawn by the seed; `quick`
    also uses only 24 photos (plus the same-scene pair).
    """
    rng = random.Random(seed)
    paths = {p.stem: p for p in sorted(photos.glob("*")) if p.suffix.lower() in (".jpg", ".jpeg", ".png")}
    stems = sorted(set(paths) - set(SAME_SCENE))
    rng.shuffle(stems)
    if quick:
        stems = stems[:24]
    cut = round(len(stems) * works_fraction)
    work_stems = [SAME_SCENE[0]] * (SAME_SCENE[0] in paths) + stems[:cut]
    negative_stems = [SAME_SCENE[1]] * (SAME_SCENE[1] in paths) + stems[cut:]
    # Alternate sides within each group so both sides get works and negatives of every source.
    works = {stem: ("tune", "holdout")[i % 2] for i, stem in enumerate(work_stems)}
    negatives = {stem: ("tune", "holdout")[i % 2] for i, stem in enumerate(negative_stems)}

    out.mkdir(parents=True, exist_ok=True)
    for sub in ("works", "queries"):
        (out / sub).mkdir(exist_ok=True)
    images = {stem: _load(paths[stem]) for stem in work_stems + negative_stems}
    for stem in work_stems:
        images[stem].save(out / "works" / f"{stem}.jpg", quality=92)
    fillers = {side: [images[s] for s, sd in negatives.items() if sd == side] for side in ("tune", "holdout")}

    queries: list[Query] = []
    for stem in work_stems:
        side = works[stem]
        for family, transforms in FAMILIES.items():
            chosen = sorted(rng.sample(sorted(transforms), min(per_family, len(transforms))))
            for name in chosen:
                local = random.Random(f"{seed}:{stem}:{name}")
                pool = fillers[side][:]
                local.shuffle(pool)
                copy = transforms[name](images[stem], local, pool)
                file = f"{family}__{name}__{stem}.jpg"
                copy.save(out / "queries" / file, quality=88)
                queries.append(Query(file, family, name, stem, side))
    for stem in negative_stems:
        side = negatives[stem]
        im = images[stem]
        variants = {"as_is": (im, 90), "jpeg60": (im, 60),
                    "half_size": (im.resize((max(32, im.width // 2), max(32, im.height // 2)), Image.LANCZOS), 85)}
        for name, (variant, quality) in variants.items():
            file = f"negative__{name}__{stem}.jpg"
            variant.save(out / "queries" / file, quality=quality)
            queries.append(Query(file, "negative", name, None, side))
    dataset = Dataset(out, seed, works, negatives, queries)
    dataset.save()
    return dataset


def write_site(dataset: Dataset, per_page: int = 12) -> Path:
    """An HTML site over the queries (index page linking pages of `per_page` images); returns its root."""
    root = dataset.root / "site"
    root.mkdir(exist_ok=True)
    (root / "img").mkdir(exist_ok=True)
    links = []
    for page_no, start in enumerate(range(0, len(dataset.queries), per_page)):
        figures = []
        for q in dataset.queries[start:start + per_page]:
            target = root / "img" / q.name
            if not target.exists():
                target.hardlink_to(dataset.queries_dir / q.name)
            figures.append(f"<figure><img src='img/{q.name}' alt='picture'><figcaption>post</figcaption></figure>")
        (root / f"page{page_no}.html").write_text(
            f"<!doctype html><html><head><title>Page {page_no}</title></head><body>{''.join(figures)}"
            "<p><a href='index.html'>home</a></p></body></html>", encoding="utf-8")
        links.append(f"<li><a href='page{page_no}.html'>page {page_no}</a></li>")
    (root / "index.html").write_text(
        f"<!doctype html><html><head><title>Benchmark site</title></head><body><ul>{''.join(links)}</ul>"
        "</body></html>", encoding="utf-8")
    return root
