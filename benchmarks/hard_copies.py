"""Small embedded copies and low-texture works (issue 12): recall and cost before and after.

Built by code, beside the quality set (it does not use benchmarks/transforms.py):
- works: every other real photo (by sorted name) and six generated night-sky wallpapers (smooth
  gradients with faint clouds, dark; SIFT finds no keypoints in them);
- small embedded copies: each photo work scaled into a page screenshot (header, text lines, a
  side picture from an unregistered photo, JPEG 75) so that it fills about 8% of the page, at two
  page sizes (1280x900 and a 1920x1080 full-HD screenshot, which intake decodes at 1024 px);
- low-texture copies: each wallpaper recompressed, recoloured, blurred, as a meme (text bands),
  under a caption with stickers, and cropped;
- negatives: other wallpapers (recoloured), a flat colour, a plain gradient, the unregistered
  photos themselves, pages with a small unregistered photo, and the second photo of a scene
  whose first photo is registered.

Everything runs in one process on one workspace (embedder 'none'), so both pipelines see the same
registered works and indexes: "before" is the cascade as it was (whole-image features, no regions,
no alignment), "after" is `Detector.analyse`. CPU time is this process's (time.process_time) per
candidate, decode excluded. Nothing here asserts anything.
"""

from __future__ import annotations

import io
import random
import statistics
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from detector.config import Settings
from detector.decide import decide
from detector.detect import Detector, gray
from detector.fingerprint import fingerprint_candidate
from detector.intake import decode_image
from detector.register import WorkInfo, register_files
from detector.shortlist import nominate
from detector.workspace.blobs import sha256_hex
from detector.workspace.home import create_workspace
from detector.workspace.store import open_store

PAGE_SIZES = ((1280, 900), (1920, 1080))
#: Share of the page's area the work fills in a small embedded copy.
PAGE_SHARE = 0.08
SKIES = 6
SAME_SCENE = (("scratch__basketball-court1-a", "scratch__basketball-court1-b"),
              ("scratch__city-with-water", "scratch__city-with-water2"),
              ("scratch__train-tracks1", "scratch__train-tracks2"))


def wallpaper(seed: int, size=(960, 640), amplitude: float = 8.0) -> Image.Image:
    """A dark sky: a vertical gradient between two seeded dark colours plus faint soft clouds."""
    rng = np.random.default_rng(seed)
    width, height = size
    top, bottom = rng.integers(0, 40, 3), rng.integers(20, 90, 3)
    t = np.linspace(0, 1, height)[:, None, None]
    image = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).astype(np.float64)
    clouds = np.zeros((height, width))
    for cells, weight in ((3, 1.0), (6, 0.6), (12, 0.35), (24, 0.2)):  # a few octaves of smooth noise
        coarse = rng.standard_normal((cells, round(cells * width / height)))
        clouds += weight * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    clouds = cv2.GaussianBlur(clouds, (0, 0), 3)
    if amplitude:
        image = image + amplitude * (clouds / clouds.std())[..., None] * np.array([0.8, 0.9, 1.0])
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def page_screenshot(work: Image.Image, side_picture: Image.Image, size: tuple[int, int], rng: random.Random,
                    share: float = PAGE_SHARE) -> Image.Image:
    """A web page with the work scaled to fill `share` of it, text lines, a side picture; JPEG 75."""
    width, height = size
    page = Image.new("RGB", size, (248, 248, 250))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, width, height // 13), fill=(40, 40, 60))
    draw.text((30, height // 60), "Daily News - Local", fill="white", font=ImageFont.load_default(size=height // 30))
    scale = (share * width * height / (work.width * work.height)) ** 0.5
    pasted = work.resize((round(work.width * scale), round(work.height * scale)), Image.LANCZOS)
    left, top = rng.randint(20, width // 2 - pasted.width // 2), height // 13 + 30
    page.paste(pasted, (left, top))
    for line in range(top + pasted.height + 20, height - 20, 28):
        draw.rectangle((40, line, rng.randint(width // 3, width * 2 // 3), line + 12), fill=(180, 180, 185))
    column = width * 3 // 4
    page.paste(side_picture.resize((width // 5, width * 3 // 20), Image.LANCZOS), (column, top))
    font = ImageFont.load_default(size=16)
    for line in range(top + width * 3 // 20 + 20, height - 20, 22):
        draw.text((column, line), "lorem ipsum dolor sit amet, consectetur", fill=(30, 30, 30), font=font)
    return jpeg(page, 75)


def _meme(image):
    band = image.height // 5
    out = Image.new("RGB", (image.width, image.height + 2 * band), "black")
    out.paste(image, (0, band))
    draw, font = ImageDraw.Draw(out), ImageFont.load_default(size=band * 2 // 3)
    draw.text((12, 4), "WHEN THE SKY", fill="white", font=font)
    draw.text((12, image.height + band + 4), "IS JUST RIGHT", fill="white", font=font)
    return out


def _captioned(image):
    out = image.copy()
    draw = ImageDraw.Draw(out)
    draw.text((40, out.height - 90), "good night everyone", fill="white", font=ImageFont.load_default(size=48))
    for x in range(3):  # stickers
        draw.ellipse((100 + 250 * x, 100, 180 + 250 * x, 180), fill=(250, 210, 40))
    return out


def _cropped(image):
    w, h = image.size
    return image.crop((int(w * 0.12), int(h * 0.1), int(w * 0.92), int(h * 0.95)))


LOW_TEXTURE_COPIES = {
    "jpeg40": lambda im: jpeg(im, 40),
    "recolour": lambda im: ImageEnhance.Color(ImageEnhance.Brightness(im).enhance(1.3)).enhance(0.6),
    "blur": lambda im: im.filter(ImageFilter.GaussianBlur(3)),
    "meme": _meme,
    "caption_stickers": _captioned,
    "crop": _cropped,
}


def build(photos: Path, out: Path, seed: int) -> tuple[Path, list[dict]]:
    """Write the works to out/works and the candidates to out/candidates; returns the works folder and
    the candidates (name, family, the work it copies or None)."""
    works_dir, candidates_dir = out / "works", out / "candidates"
    works_dir.mkdir(parents=True, exist_ok=True)
    candidates_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    names = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    registered = {a for a, _ in SAME_SCENE}
    unregistered = {b for _, b in SAME_SCENE}
    works = [p for i, p in enumerate(names) if (i % 2 == 0 or p.stem in registered) and p.stem not in unregistered]
    others = [p for p in names if p not in works]
    candidates: list[dict] = []

    def add(image: Image.Image, name: str, family: str, work: str | None, kind: str) -> None:
        image.save(candidates_dir / f"{name}.png")
        candidates.append({"name": f"{name}.png", "family": family, "work": work, "kind": kind})

    for path in works:
        Image.open(path).convert("RGB").save(works_dir / f"{path.stem}.png")
    for path in works:
        work = Image.open(path).convert("RGB")
        for size in PAGE_SIZES:
            side = Image.open(rng.choice(others)).convert("RGB")
            add(page_screenshot(work, side, size, rng), f"{path.stem}-page{size[0]}", "small_embedded", path.stem,
                f"page {size[0]}x{size[1]}")
    for index in range(SKIES):
        sky = wallpaper(seed * 100 + index)
        sky.save(works_dir / f"sky-{index}.png")
        for kind, make in LOW_TEXTURE_COPIES.items():
            add(jpeg(make(sky), 75), f"sky-{index}-{kind}", "low_texture", f"sky-{index}", kind)
    for index in range(SKIES):  # negatives
        other = LOW_TEXTURE_COPIES["recolour"](wallpaper(seed * 100 + 50 + index))
        add(jpeg(other, 75), f"other-sky-{index}", "negative", None, "another sky")
    add(Image.new("RGB", (960, 640), (20, 26, 60)), "flat-colour", "negative", None, "flat colour")
    add(wallpaper(seed * 100, amplitude=0), "plain-gradient", "negative", None, "a registered sky's gradient alone")
    for path in others:
        other = Image.open(path).convert("RGB")
        add(other, f"photo-{path.stem}", "negative", None, "unregistered photo")
        add(page_screenshot(other, Image.open(rng.choice(others)).convert("RGB"), PAGE_SIZES[1], rng),
            f"page-with-{path.stem}", "negative", None, "page with an unregistered photo")
    return works_dir, candidates


def _before(detector: Detector, sha256: str, decoded, seconds: Counter) -> set[int]:
    """The cascade as it was: whole-image features only, keypoint verification only."""
    candidate = fingerprint_candidate(sha256, decoded, detector.kind, None, seconds, max_regions=0)
    nominations = nominate(candidate, detector.assets_by_sha.get(sha256, []), detector.indexes, detector.settings.match)
    candidate_gray = gray(decoded.image)
    matched = set()
    for asset_id, nomination in nominations.items():
        work = detector.work_features(asset_id)
        verdict = None if work is None else detector.verifier.verify(
            candidate.features, work, candidate_gray, detector.work_gray(asset_id),
            candidate_mirror=candidate.mirror_features)
        if decide(nomination, verdict, candidate.hashes.pdq_quality, detector.settings.match).decision == "match":
            matched.add(asset_id)
    return matched


def _after(detector: Detector, sha256: str, decoded, seconds: Counter) -> tuple[set[int], list[str]]:
    findings = detector.analyse(sha256, decoded, seconds)
    matched = [f for f in findings if f.decision.decision == "match"]
    return {f.asset_id for f in matched}, [f.signals["verification"]["method"] for f in matched
                                           if f.signals.get("verification")]


def run(photos: Path, workdir: Path, seed: int = 7) -> dict:
    works_dir, candidates = build(photos, workdir / "hard", seed)
    settings = Settings().with_embedder("none")
    ws, _ = create_workspace(workdir / "hard-home", settings)
    store = open_store(ws)
    try:
        register_files(ws, store, ws.settings(), None, sorted(works_dir.iterdir()), WorkInfo("bench"))
        detector = Detector(ws, store, ws.settings(), None)
        by_stem = {Path(a["filename"]).stem: a["id"] for a in store.assets()}
        families: dict[str, Counter] = {}
        kinds: dict[str, Counter] = {}
        cpu = {"before": [], "after": []}
        methods: Counter = Counter()
        for case in candidates:
            data = (workdir / "hard" / "candidates" / case["name"]).read_bytes()
            decoded = decode_image(data, case["name"], ws.settings().intake)
            sha256 = sha256_hex(data)
            truth = by_stem.get(case["work"]) if case["work"] else None
            rows = (families.setdefault(case["family"], Counter()),
                    kinds.setdefault(f"{case['family']}: {case['kind']}", Counter()))
            for row in rows:
                row["candidates"] += 1
            for name in ("before", "after"):
                clock = time.process_time()
                if name == "before":
                    matched, used = _before(detector, sha256, decoded, Counter()), []
                else:
                    matched, used = _after(detector, sha256, decoded, Counter())
                cpu[name].append(time.process_time() - clock)
                for row in rows:
                    row[f"{name}_found"] += truth in matched
                    row[f"{name}_false"] += len(matched - {truth})
                if name == "after":
                    methods.update(used)
    finally:
        store.close()
    return {
        "seed": seed, "works": len(by_stem), "page_sizes": [list(s) for s in PAGE_SIZES], "page_share": PAGE_SHARE,
        "families": {name: dict(row) for name, row in families.items()},
        "kinds": {name: dict(row) for name, row in kinds.items()},
        "cpu_ms": {name: {"median": 1000 * statistics.median(times), "mean": 1000 * statistics.fmean(times)}
                   for name, times in cpu.items()},
        "methods_after": dict(methods),
    }


def render(part: dict) -> list[str]:
    """The part's section of RESULTS.md."""
    lines = ["## Small embedded copies and low-texture works", "",
             (f"{part['works']} registered works (real photos and generated night skies), embedder 'none'; "
             f"pages {', '.join(f'{w}x{h}' for w, h in part['page_sizes'])} with the work filling "
             f"{part['page_share']:.0%}; `benchmarks/hard_copies.py`, seed {part['seed']}."), "",
             "| family | candidates | found before | found after | false matches before | after |",
             "|---|---|---|---|---|---|"]
    for name, row in [*part["families"].items(), *part.get("kinds", {}).items()]:
        n = row["candidates"]
        found = (f"{row.get('before_found', 0)} ({row.get('before_found', 0) / n:.2f})",
                 f"{row.get('after_found', 0)} ({row.get('after_found', 0) / n:.2f})")
        if name.startswith("negative"):
            found = ("-", "-")
        lines.append(f"| {name} | {n} | {found[0]} | {found[1]} | {row.get('before_false', 0)} | {row.get('after_false', 0)} |")
    cpu = part["cpu_ms"]
    lines += ["", f"CPU per candidate (decode excluded): before {cpu['before']['median']:.0f} ms median "
                  f"({cpu['before']['mean']:.0f} mean), after {cpu['after']['median']:.0f} ms median "
                  f"({cpu['after']['mean']:.0f} mean). Methods that verified the matches after: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(part["methods_after"].items())) + ".", ""]
    return lines
