"""The detection cascade: unrelated images stop at the cheap screen, copies go on and still match.

The works are the bundled photos, registered into a real workspace; the copies are made here with
Pillow (crop, recompression, a caption, a small copy inside a page), the unrelated images are photos
never registered and a flat logo.
"""

import io
from collections import Counter
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from detector import features
from detector.align import Aligner
from detector.cascade import Gates, confirm_nominations
from detector.config import IntakeSettings
from detector.detect import Detector
from detector.fingerprint import screen_candidate, with_coarse_features
from detector.hashing import HASHERS
from detector.intake import decode_image
from detector.shortlist import Nomination, view_votes
from detector.verify import affine_agreement
from detector.workspace.blobs import sha256_hex
from detector.workspace.store import utc_now
from index.local import LocalFeatureIndex


@pytest.fixture
def detector(registered):
    """A detector over a copy of the session's workspace with every bundled work registered (registering
    them again for each test was most of this module's time)."""
    ws, store = registered
    return Detector(ws, store, ws.settings(), None)


def encoded(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def examine(detector: Detector, data: bytes):
    seconds: Counter = Counter()
    decoded = decode_image(data, "candidate.jpg", detector.settings.intake)
    findings, passage = detector.examine(sha256_hex(data), decoded, seconds)
    return findings, passage, seconds


def logo() -> Image.Image:
    """A flat logo: a disc and a bar on a plain ground, as sites put beside their name."""
    image = Image.new("RGB", (480, 240), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((30, 30, 210, 210), fill=(20, 110, 190))
    draw.rectangle((240, 100, 450, 140), fill=(240, 150, 20))
    return image


def page_with(work: Image.Image) -> Image.Image:
    """A forum page: header, lines of text, and the work at a third of its size."""
    page = Image.new("RGB", (1280, 900), (246, 246, 248))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, 1280, 70), fill=(40, 70, 120))
    small = work.resize((work.width // 3, work.height // 3), Image.LANCZOS)
    page.paste(small, (60, 120))
    for y in range(120, 860, 28):
        draw.text((480, y), "Posted by a reader: we saw this picture somewhere last week and liked it.", fill=(30, 30, 30))
    return page


def test_unrelated_images_stop_at_the_screen_without_full_features(detector, others_dir):
    unrelated = [encoded(Image.open(others_dir / "lake.jpg")), encoded(Image.open(others_dir / "village.jpg")),
                 encoded(logo())]
    for data in unrelated:
        findings, passage, seconds = examine(detector, data)
        assert findings == []
        assert passage.exit == "screen" and passage.nominated == 0
        assert passage.best_coarse_votes < Gates().min_coarse_votes
        assert "features" not in seconds and "verify" not in seconds  # the full stage never ran


def test_another_photo_of_a_registered_scene_gets_some_votes_but_stops_at_the_screen(detector, others_dir):
    """The other photo of the registered basketball court shares real structure with it, so its coarse
    features vote for it, but far fewer than a copy's (tens, see below): it stops at the screen."""
    findings, passage, _ = examine(detector, encoded(Image.open(others_dir / "basketball-court1-b.jpg")))
    assert findings == []
    assert passage.exit == "screen"
    assert 0 < passage.best_coarse_votes < Gates().min_coarse_votes


@pytest.mark.parametrize("copy", ["crop", "recompress", "caption", "small_in_page"])
def test_real_copies_go_through_every_stage_and_match(detector, works_dir, copy):
    work = Image.open(works_dir / "castle.jpg").convert("RGB")
    width, height = work.size
    if copy == "crop":
        image = work.crop((width // 5, height // 6, width * 3 // 5, height * 2 // 3))
    elif copy == "recompress":
        image = Image.open(io.BytesIO(encoded(work.resize((width // 2, height // 2)), quality=30)))
    elif copy == "caption":
        image = work.copy()
        ImageDraw.Draw(image).rectangle((0, height * 3 // 4, width, height), fill=(0, 0, 0))
        ImageDraw.Draw(image).text((20, height * 3 // 4 + 10), "Best castle in the world", fill=(255, 255, 255))
    else:
        image = page_with(work)
    findings, passage, seconds = examine(detector, encoded(image))
    castle = next(a["id"] for a in detector.assets.values() if Path(a["filename"]).name == "castle.jpg")
    matched = {f.asset_id: f for f in findings if f.decision.decision == "match"}
    assert set(matched) == {castle}
    assert passage.exit == "full" and passage.nominated >= 1 and seconds["features"] > 0
    assert matched[castle].signals["cascade"] == passage.as_dict()


def test_a_scan_counts_its_exits_and_records_where_a_match_stopped(detector, works_dir, others_dir):
    store, blobs = detector.store, detector.blobs
    copy = encoded(Image.open(works_dir / "coffee.jpg").convert("RGB").rotate(8, expand=True), quality=60)
    scan_id = store.start_scan({})
    for name, data in (("copy.jpg", copy), ("lake.jpg", encoded(Image.open(others_dir / "lake.jpg"))),
                       ("logo.jpg", encoded(logo()))):
        store.add_candidate({"scan_id": scan_id, "target": "test", "page_url": f"https://blog.example/{name}.html",
                             "image_url": f"https://blog.example/img/{name}", "discovered_at": utc_now(),
                             "sha256": blobs.put(data), "byte_size": len(data)})
    summary = detector.run()
    assert summary.exits == Counter({"screen": 2, "full": 1})
    assert summary.as_dict()["cascade_exits"] == {"screen": 2, "full": 1}
    (match,) = store.matches()
    assert match["image_url"].endswith("copy.jpg") and match["decision"] == "match"
    assert match["signals"]["cascade"]["exit"] == "full"


def test_a_work_the_screen_confirmed_is_verified_even_when_the_full_stage_votes_fall_short(detector, works_dir):
    """In a large index the full stage's strict ratio test can leave a heavy crop's work under its vote threshold;
    here no full-resolution vote count can reach it, and the crop still matches through the screen's confirmed
    nomination."""
    detector.settings = replace(detector.settings, match=replace(detector.settings.match, min_feature_votes=10**6))
    work = Image.open(works_dir / "castle.jpg").convert("RGB")
    crop = work.crop((work.width // 5, work.height // 6, work.width * 3 // 5, work.height * 2 // 3))
    findings, passage, _ = examine(detector, encoded(crop))
    castle = next(a["id"] for a in detector.assets.values() if Path(a["filename"]).name == "castle.jpg")
    assert passage.exit == "full" and passage.best_inliers >= Gates().confirm_inliers
    (finding,) = [f for f in findings if f.decision.decision == "match"]
    assert finding.asset_id == castle and finding.signals["shortlisted_by"] == ["features"]


def mosaic(work: Image.Image, tiles: int = 6) -> Image.Image:
    """`work` cut into tiles x tiles pieces, put back in a shuffled order: every piece's local features
    are the work's, but no one transform places more than a piece of them."""
    width, height = work.width // tiles * tiles, work.height // tiles * tiles
    side_w, side_h = width // tiles, height // tiles
    boxes = [(x * side_w, y * side_h, (x + 1) * side_w, (y + 1) * side_h) for y in range(tiles) for x in range(tiles)]
    order = np.random.default_rng(3).permutation(len(boxes))
    out = Image.new("RGB", (width, height))
    for box, source in zip(boxes, order):
        out.paste(work.crop(boxes[source]), box[:2])
    return out


def test_a_shuffled_mosaic_of_a_work_gets_its_votes_but_no_transform_and_stops_at_confirm(detector, works_dir):
    """The screen nominates the castle (its pieces vote for it), the confirm stage finds no affine transform
    that most of the matches agree on, and the full stage never runs. The same check lets a crop through."""
    work = Image.open(works_dir / "castle.jpg").convert("RGB")
    findings, passage, seconds = examine(detector, encoded(mosaic(work)))
    assert passage.nominated >= 1 and passage.best_coarse_votes >= Gates().min_coarse_votes
    assert passage.exit == "confirm" and findings == []
    assert seconds["confirm"] > 0 and "features" not in seconds and "verify" not in seconds

    castle = next(a["id"] for a in detector.assets.values() if Path(a["filename"]).name == "castle.jpg")
    stored = detector.work_features(castle)
    gates = Gates()
    screens = [screen_candidate("x", decode_image(encoded(image), "c.jpg", detector.settings.intake), "sift", None,
                                coarse=(gates.confirm_side, gates.coarse_features))
               for image in (mosaic(work), work.crop((work.width // 5, work.height // 6, work.width * 3 // 5,
                                                      work.height * 2 // 3)))]
    shuffled, cropped = (affine_agreement(s.features, stored, 0.8, 8.0) for s in screens)
    assert shuffled.good >= 20 and shuffled.ratio < gates.confirm_inlier_ratio <= cropped.ratio
    assert cropped.inliers >= 20 and gates.agrees(cropped) and not gates.agrees(shuffled)


def test_the_confirm_stage_sees_the_whole_image_again_only_for_a_nomination_it_must_check(detector, works_dir):
    """The sharper pass (`Gates.confirm_side`) is made once for a candidate whose whole image agrees with a nominated
    work at the screen's resolution, and never for one whose works the hashes decide (or that nothing nominated,
    most of a crawl)."""
    data = encoded(Image.open(works_dir / "castle.jpg").convert("RGB").crop((80, 60, 420, 300)))
    decoded = decode_image(data, "c.jpg", detector.settings.intake)
    gates = detector.gates
    screen = screen_candidate("x", decoded, "sift", None, coarse=(gates.coarse_side, gates.coarse_features))
    castle = next(a["id"] for a in detector.assets.values() if Path(a["filename"]).name == "castle.jpg")
    made = []

    def sharper():
        made.append(with_coarse_features(screen, decoded, (gates.confirm_side, gates.coarse_features)))
        return made[-1]

    by_hashes = {castle: Nomination(castle, {"phash", "pdq"})}
    kept, _ = confirm_nominations(by_hashes, screen, sharper, detector.work_features, gates, detector.aligner, 0.8)
    assert kept == by_hashes
    assert made == []
    by_votes = {castle: Nomination(castle, {"features"}), castle + 1000: Nomination(castle + 1000, {"features"})}
    kept, inliers = confirm_nominations(by_votes, screen, sharper, detector.work_features, gates, detector.aligner, 0.8)
    assert list(kept) == [castle] and inliers >= gates.confirm_inliers and len(made) == 1
    # the same crop seen again, at twice the screen's resolution: other keypoints, in the same coordinates
    assert (made[0].features.width, made[0].features.height) == (screen.features.width, screen.features.height)
    assert not np.array_equal(made[0].features.points, screen.features.points)


@pytest.mark.parametrize("jitter, agrees", [(1.0, True), (4.0, False)])
def test_an_orb_confirm_counts_its_pixels_at_the_resolution_orb_found_its_keypoints(works_dir, jitter, agrees):
    """ORB's passes run at twice the sides SIFT's do (`fingerprint.coarse_pass_side`), and the confirm stage's
    tolerance is `_CONFIRM_PIXELS` pixels at the resolution a pass found its keypoints: the sharper pass's keypoints
    a pixel off there (at 1,024 px) still fit one transform, four pixels off do not. (Scaled by the 512 px of
    the sharper pass SIFT would make, four pixels were two and fitted.)"""
    small = Image.open(works_dir / "castle.jpg").convert("RGB")
    work_image = small.resize((small.width * 3, small.height * 3), Image.BICUBIC)  # longer than ORB's passes
    work = features.extract(work_image, "orb", max_features=400)
    gates = Gates()
    long_side = max(work.width, work.height)

    def off_by(pixels: float, side: int) -> features.LocalFeatures:
        """The work's keypoints moved `pixels` pixels of a pass at long side `side`, each in its own direction."""
        angles = np.random.default_rng(5).uniform(0, 2 * np.pi, len(work))
        offsets = pixels * long_side / side * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        return replace(work, points=(work.points + offsets).astype(np.float32))

    decoded = decode_image(encoded(work_image), "c.jpg", IntakeSettings())
    plain = screen_candidate("x", decoded, "orb", None, max_regions=0)
    screen = replace(plain, features=off_by(1.0, 2 * gates.coarse_side),
                     mirror_features=off_by(1.0, 2 * gates.coarse_side))
    sharp = replace(plain, features=off_by(jitter, 2 * gates.confirm_side),
                    mirror_features=off_by(jitter, 2 * gates.confirm_side))
    kept, _ = confirm_nominations({7: Nomination(7, {"features"})}, screen, lambda: sharp, lambda _: work,
                                  gates, Aligner(), 0.8)
    assert (kept != {}) is agrees


def test_gates_refuse_nonsense():
    with pytest.raises(ValueError, match="min_coarse_votes >= 1"):
        Gates(min_coarse_votes=0)
    with pytest.raises(ValueError, match="confirm_side >= 64"):
        Gates(confirm_side=32)
    with pytest.raises(ValueError, match="large_ratio"):
        Gates(large_ratio=1.5)
    with pytest.raises(ValueError, match="every diluted step"):
        Gates(diluted=((100_000, 0),))
    with pytest.raises(ValueError, match="confirm_inliers >= 3"):
        Gates(confirm_inliers=2)
    with pytest.raises(ValueError, match="confirm_inlier_ratio"):
        Gates(confirm_inlier_ratio=1.2)
    with pytest.raises(ValueError, match="screen_nprobe >= 1"):
        Gates(screen_nprobe=0)
    with pytest.raises(ValueError, match="screen_near_votes from 1 to the fewest votes of a gate"):
        Gates(screen_near_votes=5)  # the last diluted step lets 4 votes through
    with pytest.raises(ValueError, match="screen_near_lists >= 1"):
        Gates(screen_near_lists=0)
    assert Gates().screen_gate(70_000) == (0.8, 8) and Gates().screen_gate(2_000_000) == (0.9, 4)


def diluted(detector: Detector, others_dir: Path, distractor_works: int = 1000) -> LocalFeatureIndex:
    """The detector's shortlist index as a large catalogue would hold it: the registered works' descriptors,
    then `distractor_works` works of 300 descriptors each, drawn (with a little noise, as RootSIFT is stored)
    from the real photos that are not registered, trained as an inverted file as a workspace of that size is."""
    pool = np.concatenate([features.extract(Image.open(path).convert("RGB")).descriptors
                           for path in sorted(others_dir.iterdir())])
    rng = np.random.default_rng(0)
    rows = pool[rng.integers(0, len(pool), distractor_works * 300)]
    rows = np.abs(rows + 0.02 * rng.standard_normal(rows.shape, dtype=np.float32))
    rows = (np.rint(rows / np.linalg.norm(rows, axis=1, keepdims=True) * 255) / 255).astype(np.float32)
    held = detector.indexes.features
    works = {asset_id: held_rows for asset_id, held_rows in _held_rows(held).items()}
    index = LocalFeatureIndex(128)
    index.train(np.concatenate([*works.values(), rows]))
    for asset_id, descriptors in works.items():
        index.add(asset_id, descriptors)
    offset = max(works) + 1
    for work, descriptors in enumerate(rows.reshape(distractor_works, 300, -1)):
        index.add(offset + work, descriptors)
    return index


def _held_rows(index: LocalFeatureIndex) -> dict[int, np.ndarray]:
    """The descriptors an exact index holds, per work."""
    ids = faiss.vector_to_array(index._index.id_map)
    vectors = index._index.index.reconstruct_n(0, len(index))
    return {int(asset_id): vectors[ids == asset_id] for asset_id in np.unique(ids)}


@pytest.mark.slow
def test_a_small_copy_diluted_by_a_large_catalogue_still_passes_the_screen_and_non_copies_still_stop(
        detector, works_dir, others_dir):
    """In a catalogue of 1,000 more works, a copy at a sixth of its size in a page keeps fewer votes at the
    full stage's ratio test (0.8) than the former gate's 8 (more of its descriptors find a near tie in another
    work), but enough at the screen's looser one: it goes on and matches. Unrelated images still stop, a logo and
    a photo after searching only their descriptors' nearest lists."""
    detector.indexes.features = index = diluted(detector, others_dir)
    gates = Gates()
    assert gates.screen_gate(len(index)) == (0.9, 7)  # 1,010 works: the first diluted step
    work = Image.open(works_dir / "fruits.jpg").convert("RGB")
    page = page_with(work.resize((work.width // 2, work.height // 2)))  # the page shows it at a sixth
    data = encoded(page)
    findings, passage, _ = examine(detector, data)
    fruits = next(a["id"] for a in detector.assets.values() if Path(a["filename"]).name == "fruits.jpg")
    screen = screen_candidate("x", decode_image(data, "c.jpg", detector.settings.intake), "sift", None,
                              coarse=(gates.coarse_side, gates.coarse_features))
    assert view_votes(index, screen)[fruits] < 8 <= passage.best_coarse_votes
    assert passage.exit == "full"
    assert {f.asset_id for f in findings if f.decision.decision == "match"} == {fruits}
    assert not passage.near_lists_only  # the copy gave fruits votes in its descriptors' nearest lists
    near_lists_only = []
    for other in ("lake.jpg", "village.jpg", "baboon.jpg"):
        findings, passage, _ = examine(detector, encoded(Image.open(others_dir / other)))
        assert passage.exit == "screen" and findings == []
        near_lists_only.append(passage.near_lists_only)
        assert passage.best_coarse_votes < gates.screen_near_votes or not passage.near_lists_only
    _, passage, _ = examine(detector, encoded(logo()))
    assert passage.exit == "screen" and passage.near_lists_only
    assert any(near_lists_only)  # the village's descriptors found no work twice in their 3 nearest lists



def test_a_mirrored_crop_passes_the_screen_on_its_mirror_features_and_matches_mirrored(detector, works_dir):
    """No hash sees a crop, and the crop's own features do not match a mirror image: only the screen's
    mirror-image features (the image's, permuted) can let it through. (The mural is not symmetric: the
    crop's own coarse features give it 4 votes, its mirror features about 90.)"""
    work = Image.open(works_dir / "berkeley-mural.jpg").convert("RGB")
    width, height = work.size
    image = ImageOps.mirror(work.crop((width // 4, height // 5, width * 4 // 5, height * 3 // 4)))
    findings, passage, _ = examine(detector, encoded(image))
    mural = next(a["id"] for a in detector.assets.values() if Path(a["filename"]).name == "berkeley-mural.jpg")
    assert passage.exit == "full" and passage.best_coarse_votes >= Gates().min_coarse_votes
    (finding,) = [f for f in findings if f.decision.decision == "match"]
    assert finding.asset_id == mural and finding.signals["verification"]["mirrored"] is True
    assert finding.signals["phash_distance"] is None and finding.signals["pdq_distance"] is None


def test_a_mirror_image_is_hashed_with_pdq_only_when_its_phash_finds_a_work(detector, works_dir, others_dir,
                                                                            monkeypatch):
    """PDQ of the mirror image reads every pixel again; it is computed when the mirror image's pHash finds a work,
    so a whole mirrored copy still has both hashes (and the hash tier), and an unrelated photo does not pay it."""
    pdq = type(HASHERS["pdq"])
    hashed = []
    hash_pixels = pdq.hash_pixels
    monkeypatch.setattr(pdq, "hash_pixels", lambda self, pixels: hashed.append(pixels.shape) or hash_pixels(self, pixels))
    work = Image.open(works_dir / "berkeley-mural.jpg").convert("RGB")
    mural = next(a["id"] for a in detector.assets.values() if Path(a["filename"]).name == "berkeley-mural.jpg")
    findings, _, _ = examine(detector, encoded(ImageOps.mirror(work)))
    (finding,) = [f for f in findings if f.decision.decision == "match"]
    assert finding.asset_id == mural and finding.signals["hash_mirrored"] is True
    assert finding.signals["phash_distance"] <= 2 and finding.signals["pdq_distance"] <= 8
    assert len(hashed) == 2  # the image's and its mirror image's
    hashed.clear()
    examine(detector, encoded(Image.open(others_dir / "lake.jpg")))
    assert len(hashed) == 1  # the image's alone
