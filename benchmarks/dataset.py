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
- a catalogue of `catalogue` registered works in all: the photo works, a few low-texture
  wallpapers, and generated works that are not photos (benchmarks.distractors: drawings, charts,
  text screenshots, posters, flags, logos, icons), some sharing a common element;
- issue 12's families: `low_texture` (the wallpapers through a mild recolour, a blur and a meme),
  `shared_element` (works carrying a common element, copied mildly: they must still match) and
  negatives carrying a common element (`negative/canton`: a new flag with a registered canton;
  `negative/studio_logo`: an unregistered photo with the studio logo);
- issue 23's `small_work` family: `small_works` of the photo works are registered small (short side
  drawn from 200-320 px, as thumbnails and avatars are) and copied through every `transforms.SMALL_WORK`
  transform (crops, watermark, caption, colour shift, blur) instead of the large works' families.
Everything is written under `out` with `manifest.json` listing each query and its truth.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from benchmarks import distractors
from benchmarks.transforms import FAMILIES, FLIPPED_PAGE, LOW_TEXTURE, SHARED_ELEMENT, SMALL_WORK

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "photos"
SAME_SCENE = ("scratch__basketball-court1-a", "scratch__basketball-court1-b")
MAX_SIDE = 800
#: Low-texture works (dark, soft wallpapers) in every catalogue.
WALLPAPERS = 3
#: The short side of a small work (issue 23) is drawn from this range, in pixels.
SMALL_SIDE = (200, 320)


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
    works: dict[str, str]  # work stem -> split (photos, wallpapers and generated works)
    negatives: dict[str, str]  # unregistered photo stem -> split
    queries: list[Query]
    generated: dict[str, int] = field(default_factory=dict)  # kind of generated work -> how many registered

    @property
    def works_dir(self) -> Path:
        return self.root / "works"

    @property
    def queries_dir(self) -> Path:
        return self.root / "queries"

    def save(self) -> None:
        data = {"seed": self.seed, "works": self.works, "negatives": self.negatives,
                "queries": [asdict(q) for q in self.queries], "generated": self.generated}
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


def build(photos: Path, out: Path, seed: int, quick: bool, per_family: int, works_fraction: float = 0.7,
          catalogue: int = 0, common: int = 6, small_works: int = 0) -> Dataset:
    """Write the dataset under `out` (works/, queries/, manifest.json) and return it.

    Each photo work goes through `per_family` transforms of each family, drawn by the seed; `quick`
    also uses only 24 photos (plus the same-scene pair). Generated works fill the catalogue up to
    `catalogue` registered works; `common` works with a common element are copied, and as many
    unregistered pictures carrying one are negatives. `small_works` of the photo works (the last
    drawn) are registered small and copied through `SMALL_WORK` only (the `small_work` family).
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
    small = set(work_stems[len(work_stems) - min(small_works, len(work_stems) - 1):]) if small_works else set()
    for stem in sorted(small):
        images[stem] = _small(images[stem], random.Random(f"{seed}:{stem}:small"))
    for stem in work_stems:
        images[stem].save(out / "works" / f"{stem}.jpg", quality=92)
    fillers = {side: [images[s] for s, sd in negatives.items() if sd == side] for side in ("tune", "holdout")}

    queries: list[Query] = []
    for stem in work_stems:
        side = works[stem]
        families = {"small_work": SMALL_WORK} if stem in small else {**FAMILIES, "flipped_page": FLIPPED_PAGE}
        for family, transforms in families.items():
            # A small work goes through every transform of its family, and every large one through the flipped page;
            # neither draws from `rng`, so the other families' draws are those of the sets built before them.
            chosen = sorted(transforms) if stem in small or family == "flipped_page" else sorted(
                rng.sample(sorted(transforms), min(per_family, len(transforms))))
            for name in chosen:
                local = random.Random(f"{seed}:{stem}:{name}")
                pool = fillers[side][:]
                local.shuffle(pool)
                copy = transforms[name](images[stem], local, pool)
                file = f"{family}__{name}__{stem}.jpg"
                copy.save(out / "queries" / file, quality=88)
                queries.append(Query(file, family, name, stem, side))
    generated = _generated_works(out, seed, catalogue - len(works), common, negatives, images, queries, rng)
    works.update(generated.pop("works"))
    for stem in negative_stems:
        side = negatives[stem]
        im = images[stem]
        variants = {"as_is": (im, 90), "jpeg60": (im, 60),
                    "half_size": (im.resize((max(32, im.width // 2), max(32, im.height // 2)), Image.LANCZOS), 85)}
        for name, (variant, quality) in variants.items():
            file = f"negative__{name}__{stem}.jpg"
            variant.save(out / "queries" / file, quality=quality)
            queries.append(Query(file, "negative", name, None, side))
    dataset = Dataset(out, seed, works, negatives, queries, generated)
    dataset.save()
    return dataset


def _small(image: Image.Image, rng: random.Random) -> Image.Image:
    """`image` reduced so that its short side is drawn from `SMALL_SIDE`."""
    scale = min(1.0, rng.randint(*SMALL_SIDE) / min(image.size))
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)


def _generated_works(out: Path, seed: int, count: int, common: int, negatives: dict[str, str],
                     images: dict[str, Image.Image], queries: list[Query], rng: random.Random) -> dict:
    """Register `count` generated works (wallpapers first), add their queries and the common-element
    negatives to `queries`; returns {"works": stem -> split, kind: how many}."""
    made = distractors.wallpapers(min(WALLPAPERS, max(0, count)), seed)
    made.update(distractors.generated(max(0, count - len(made)), seed))
    sides = {stem: ("tune", "holdout")[i % 2] for i, stem in enumerate(made)}
    for stem, im in made.items():
        im.save(out / "works" / f"{stem}.jpg", quality=92)

    def copy(stem: str, family: str, transforms: dict) -> None:
        for name, transform in transforms.items():
            file = f"{family}__{name}__{stem}.jpg"
            transform(made[stem], random.Random(f"{seed}:{stem}:{name}"), []).save(out / "queries" / file, quality=88)
            queries.append(Query(file, family, name, stem, sides[stem]))

    for stem in (s for s in made if s.startswith("gen-wallpaper")):
        copy(stem, "low_texture", LOW_TEXTURE)
    flags = [s for s in made if s.startswith("gen-flag")]
    stamped = [s for s in made if "-logo-" in s[len("gen-"):]]  # gen-poster-logo-0003, not gen-logo-0005
    for stem in rng.sample(flags, min(len(flags), common // 2)) + rng.sample(stamped, min(len(stamped), common // 2)):
        transforms = sorted(SHARED_ELEMENT)
        name = random.Random(f"{seed}:{stem}:shared").choice(transforms)
        copy(stem, "shared_element", {name: SHARED_ELEMENT[name]})
    photos = sorted(negatives)
    for i in range(common if made else 0):
        photo = photos[i % len(photos)]
        element, im = distractors.common_negative(i, seed, images[photo])
        file = f"negative__{element}__{i:02d}" + (f"-{photo}.jpg" if element == "studio_logo" else ".jpg")
        im.save(out / "queries" / file, quality=88)
        queries.append(Query(file, "negative", element, None, negatives[photo]))
    kinds: dict = {}
    for stem in made:
        kind = stem.split("-")[1]
        kinds[kind] = kinds.get(kind, 0) + 1
    return {"works": sides, **kinds}


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
