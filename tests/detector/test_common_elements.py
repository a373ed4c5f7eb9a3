"""Works that share a common element (a canton, a logo): the element alone makes a review, never a match,
while copies of each work keep matching. Real drawn flags and real photos stamped with a drawn logo."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from detector.demo_site import OTHERS_DIR, WORKS_DIR
from detector.detect import Detector
from detector.evidence.explain import why_sentences
from detector.register import WorkInfo, image_paths, register_files
from detector.workspace.blobs import BlobStore
from detector.workspace.store import utc_now


def _star(draw: ImageDraw.ImageDraw, x: float, y: float, radius: float) -> None:
    points = [(x + r * math.cos(a), y + r * math.sin(a))
              for i in range(10) for a, r in [(-math.pi / 2 + i * math.pi / 5, radius if i % 2 == 0 else radius * 0.4)]]
    draw.polygon(points, fill=(250, 250, 250))


def canton() -> Image.Image:
    """The shared element: a blue canton with an irregular constellation of stars and a word."""
    im = Image.new("RGB", (300, 220), (20, 40, 120))
    draw = ImageDraw.Draw(im)
    rng = random.Random(7)
    for _ in range(24):
        _star(draw, rng.uniform(18, 282), rng.uniform(18, 202), rng.uniform(8, 18))
    draw.text((20, 180), "UNION", fill=(250, 210, 40), font=ImageFont.load_default(size=26))
    return im


def flag(seed: int) -> Image.Image:
    """Stripes of the seed's colours with the seed's own emblems drawn over them, and the shared canton."""
    rng = random.Random(seed)
    im = Image.new("RGB", (900, 560))
    draw = ImageDraw.Draw(im)
    colours = [tuple(rng.randrange(256) for _ in range(3)) for _ in range(2)]
    for i in range(7):
        draw.rectangle((0, i * 80, 900, (i + 1) * 80), fill=colours[i % 2])
    for _ in range(14):
        x, y, r = rng.uniform(340, 860), rng.uniform(40, 520), rng.uniform(14, 40)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour, outline=(0, 0, 0), width=3)
        else:
            draw.polygon([(x + r * math.cos(a), y + r * math.sin(a)) for a in
                          sorted(rng.uniform(0, 2 * math.pi) for _ in range(5))], fill=colour)
    draw.text((40, 300), f"REPUBLIC {seed}", fill=(0, 0, 0), font=ImageFont.load_default(size=40))
    im.paste(canton(), (0, 0))
    return im


def logo() -> Image.Image:
    im = Image.new("RGB", (200, 90), (250, 250, 245))
    draw = ImageDraw.Draw(im)
    draw.rectangle((2, 2, 197, 87), outline=(10, 10, 10), width=3)
    draw.polygon([(12, 70), (40, 14), (68, 70)], fill=(200, 30, 30))
    draw.ellipse((46, 30, 80, 64), fill=(20, 60, 160))
    font = ImageFont.load_default(size=22)
    draw.text((90, 16), "FOTO", fill=(10, 10, 10), font=font)
    draw.text((90, 46), "CORP", fill=(200, 30, 30), font=font)
    return im


def stamped(path: Path) -> Image.Image:
    """A real photo with the logo in its bottom-right corner."""
    im = Image.open(path).convert("RGB")
    im.paste(logo(), (im.width - 212, im.height - 102))
    return im


def _detect(workspace, tmp_path, works: dict[str, Image.Image], candidates: dict[str, Image.Image]) -> dict:
    """Register `works`, detect on `candidates`; (candidate name, work file) -> the match row."""
    ws, store = workspace
    for folder, images in (("works", works), ("candidates", candidates)):
        (tmp_path / folder).mkdir()
        for name, im in images.items():
            im.save(tmp_path / folder / name, quality=90)
    register_files(ws, store, ws.settings(), None, image_paths([tmp_path / "works"], False), WorkInfo("alice"))
    blobs, scan_id = BlobStore(ws.blobs_dir), store.start_scan({})
    for path in sorted((tmp_path / "candidates").iterdir()):
        data = path.read_bytes()
        store.add_candidate({"scan_id": scan_id, "target": "test", "page_url": f"https://blog.example/{path.stem}",
                             "image_url": f"https://blog.example/img/{path.name}", "discovered_at": utc_now(),
                             "sha256": blobs.put(data), "byte_size": len(data)})
    Detector(ws, store, ws.settings(), None).run()
    return {(Path(m["image_url"]).name, m["asset_filename"]): m for m in store.matches()}


def test_flags_sharing_a_canton_match_only_their_own_copies(workspace, tmp_path):
    b = flag(2)
    found = _detect(workspace, tmp_path, {"flag-a.jpg": flag(1), "flag-b.jpg": b}, {
        "b-recoloured-mirrored.jpg": ImageOps.mirror(ImageEnhance.Color(b).enhance(0.4)).resize((720, 448)),
        "b-captioned.jpg": _captioned(b),
        "c-another-flag.jpg": flag(3),
    })
    matches = {pair for pair, m in found.items() if m["decision"] == "match"}
    assert matches == {("b-recoloured-mirrored.jpg", "flag-b.jpg"), ("b-captioned.jpg", "flag-b.jpg")}
    for copy in ("b-recoloured-mirrored.jpg", "b-captioned.jpg"):
        shared = found[(copy, "flag-b.jpg")]["signals"]["common_elements"]
        assert shared["share"] < 0.5 and shared["shared_with"] == [1]  # the canton is seen, and outweighed
    # Another flag with the same canton verifies against both works on the canton alone: review, not match.
    for work in ("flag-a.jpg", "flag-b.jpg"):
        other = found[("c-another-flag.jpg", work)]
        assert other["decision"] == "review" and other["signals"]["tier"] == "common"
        assert other["signals"]["verification"]["verified"] is True
        assert other["signals"]["common_elements"]["share"] > 0.5
        shared = other["signals"]["common_elements"]["share"]
        assert (f"{shared:.0%} of the matched area shows an element that another registered work also contains"
                in " ".join(why_sentences(other["signals"], None)))
        assert "put up for review rather than decided a copy" in " ".join(why_sentences(other["signals"], None))


def test_a_version_of_the_same_picture_makes_nothing_common(workspace, tmp_path):
    b = flag(2)
    found = _detect(workspace, tmp_path, {"flag-b.jpg": b, "flag-b-pale.jpg": ImageEnhance.Color(b).enhance(0.3)},
                    {"b-copy.jpg": b.resize((800, 498))})
    assert {w for (_, w), m in found.items() if m["decision"] == "match"} == {"flag-b.jpg", "flag-b-pale.jpg"}
    for m in found.values():
        shared = m["signals"]["common_elements"]
        assert shared["share"] == 0 and shared["shared_with"] == [] and len(shared["versions"]) == 1


def _captioned(im: Image.Image) -> Image.Image:
    im = im.copy()
    draw = ImageDraw.Draw(im)
    draw.rectangle((320, 480, 900, 560), fill=(0, 0, 0))
    draw.text((340, 495), "seen on a forum", fill=(255, 255, 255), font=ImageFont.load_default(size=36))
    return im


@pytest.fixture
def logo_case(workspace, tmp_path):
    works = {f"{name}.jpg": stamped(WORKS_DIR / f"{name}.jpg") for name in ("chelsea", "coffee", "rocket", "castle")}
    coffee = works["coffee.jpg"]
    return _detect(workspace, tmp_path, works, {
        "coffee-copy.jpg": coffee.resize((coffee.width * 3 // 4, coffee.height * 3 // 4)),
        "village-with-logo.jpg": stamped(OTHERS_DIR / "village.jpg"),
    })


def test_a_logo_on_many_works_does_not_make_a_match(logo_case):
    copy = logo_case[("coffee-copy.jpg", "coffee.jpg")]
    assert copy["decision"] == "match"
    shared = copy["signals"]["common_elements"]
    assert 0 < shared["common"] and shared["share"] < 0.5 and len(shared["shared_with"]) >= 2
    why = " ".join(why_sentences(copy["signals"], None))
    # The logo did not decide this match, so its explanation leaves it out (it would undercut a notice).
    assert "other registered works also contain" not in why and "put up for review" not in why
    assert {w for (q, w), m in logo_case.items() if q == "coffee-copy.jpg" and m["decision"] == "match"} == {"coffee.jpg"}
    unrelated = [m for (q, _), m in logo_case.items() if q == "village-with-logo.jpg"]
    assert unrelated, "the logo should bring the stamped works up for review"
    for m in unrelated:
        assert m["decision"] == "review"
        assert m["signals"]["common_elements"]["share"] > 0.5
