"""Local features and geometric verification on the bundled photos and copies made from them.

Every copy is made here with Pillow, together with the transform that made it (work pixels ->
copy pixels, pixel centres at integer coordinates), so the fitted homography can be checked
against the truth, not only the verdict.
"""

import hashlib
import io
import itertools
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from detector.features import LocalFeatures, extract
from detector.verify import Verifier

ASSETS = Path(__file__).resolve().parents[2] / "detector" / "demo_assets"
PHOTOS = sorted(ASSETS.glob("works/*.jpg")) + sorted(ASSETS.glob("others/*.jpg"))


def load(name: str) -> Image.Image:
    (path,) = [p for p in PHOTOS if p.name == name]
    return Image.open(path).convert("RGB")


def shift(dx, dy):
    return np.array([[1.0, 0, dx], [0, 1, dy], [0, 0, 1]])


def rescale(sx, sy):
    """Resizing by (sx, sy) about pixel edges, in pixel-centre coordinates."""
    return shift(-0.5, -0.5) @ np.diag([sx, sy, 1.0]) @ shift(0.5, 0.5)


def jpeg(image, quality):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


# Each copy maker returns (copy, transform from work pixels to copy pixels).
def copy_jpeg25(work):
    return jpeg(work, 25), np.eye(3)


def copy_half(work):
    w, h = work.size
    return work.resize((w // 2, h // 2), Image.LANCZOS), rescale((w // 2) / w, (h // 2) / h)


def copy_crop40(work):
    # Keeps 0.63 x 0.63 of each side, about 40% of the area, off-centre.
    w, h = work.size
    left, top = w // 5, h // 6
    box = (left, top, left + int(w * 0.63), top + int(h * 0.63))
    return work.crop(box), shift(-left, -top)


def copy_rotated10(work):
    w, h = work.size
    rotated = work.rotate(10, expand=True, resample=Image.BICUBIC, fillcolor=(255, 255, 255))
    c, s = np.cos(np.radians(10)), np.sin(np.radians(10))
    about_centre = shift(rotated.width / 2, rotated.height / 2) @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]]) @ shift(-w / 2, -h / 2)
    return rotated, shift(-0.5, -0.5) @ about_centre @ shift(0.5, 0.5)


def copy_captioned(work):
    w, h = work.size
    page = Image.new("RGB", (w, h + 90), "white")
    page.paste(work, (0, 0))
    ImageDraw.Draw(page).text((12, h + 30), "Photo: uploaded by a reader, all rights reserved", fill="black")
    return page, np.eye(3)


def copy_in_web_page(work):
    """A screenshot-like page: header bar, a column of text, another photo, and the work at 80%."""
    page = Image.new("RGB", (1600, 1000), (246, 246, 246))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, 1600, 80), fill=(30, 60, 120))
    draw.text((40, 30), "Daily Snaps - the best pictures of the week", fill="white")
    for line in range(18):
        draw.text((900, 150 + 28 * line), f"Paragraph {line}: lorem ipsum dolor sit amet, consectetur", fill="black")
    page.paste(load("lake.jpg").resize((320, 240)), (1180, 700))
    w, h = work.size
    small = (round(w * 0.8), round(h * 0.8))
    page.paste(work.resize(small, Image.LANCZOS), (200, 200))
    return page, shift(200, 200) @ rescale(small[0] / w, small[1] / h)


def copy_mirrored(work):
    return ImageOps.mirror(work), np.array([[-1.0, 0, work.width - 1], [0, 1, 0], [0, 0, 1]])


def copy_grayscale(work):
    return work.convert("L").convert("RGB"), np.eye(3)


def copy_perspective(work, steep=False):
    w, h = work.size
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    shifts = [[0.3, 0.3], [-0.02, 0], [0, 0], [0.15, -0.3]] if steep else [[0.08, 0.05], [-0.05, 0], [0, 0], [0.02, -0.1]]
    moved = corners + np.array(shifts) * [w, h]
    forward = homography_from(corners, moved)  # in pixel-edge coordinates, as Pillow samples
    inverse = np.linalg.inv(forward)
    coefficients = (inverse / inverse[2, 2]).flatten()[:8]
    copy = work.transform((w, h), Image.PERSPECTIVE, tuple(coefficients), Image.BICUBIC)
    return copy, shift(-0.5, -0.5) @ forward @ shift(0.5, 0.5)


def homography_from(src, dst):
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return np.append(np.linalg.solve(np.array(rows), np.array(rhs)), 1.0).reshape(3, 3)


COPIES = {
    "jpeg25": copy_jpeg25,
    "half": copy_half,
    "crop40": copy_crop40,
    "rotated10": copy_rotated10,
    "captioned": copy_captioned,
    "web_page": copy_in_web_page,
    "mirrored": copy_mirrored,
    "grayscale": copy_grayscale,
    "perspective": copy_perspective,
    "steep_perspective": lambda work: copy_perspective(work, steep=True),
}


def gray(image):
    return np.asarray(image.convert("L"))


DEFAULT_VERIFIER = Verifier()


_WORK_FEATURES: dict = {}


def work_features(work: Image.Image, kind: str) -> LocalFeatures:
    """`extract(work, kind)`, once per module for the same pixels: most tests verify copies of the same few works."""
    key = (work.size, hashlib.sha256(work.tobytes()).digest(), kind)
    if key not in _WORK_FEATURES:
        _WORK_FEATURES[key] = extract(work, kind)
    return _WORK_FEATURES[key]


def verify(candidate, work, kind="sift", verifier=DEFAULT_VERIFIER, with_mirror=True):
    mirror = extract(ImageOps.mirror(candidate), kind) if with_mirror else None
    return verifier.verify(extract(candidate, kind), work_features(work, kind), gray(candidate), gray(work), mirror)


def corners_of(size):
    w, h = size
    return np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)


def project(matrix, points):
    mapped = np.c_[points, np.ones(len(points))] @ np.asarray(matrix).T
    return mapped[:, :2] / mapped[:, 2:]


def corner_error(verdict, truth, work_size):
    corners = corners_of(work_size)
    return np.abs(project(verdict.transform, corners) - project(truth, corners)).max()


@pytest.mark.parametrize("name", ["motorcycle_left.jpg", "castle.jpg"])
@pytest.mark.parametrize("copy_kind", list(COPIES))
def test_sift_verifies_each_kind_of_copy_and_finds_where_it_is(copy_kind, name):
    work = load(name)
    copy, truth = COPIES[copy_kind](work)
    verdict = verify(copy, work)
    assert verdict.verified, verdict
    assert verdict.reason == "ok"
    assert verdict.method == "sift"
    assert verdict.mirrored == (copy_kind == "mirrored")
    assert verdict.inliers >= 15 and verdict.inlier_ratio >= 0.8
    assert verdict.ncc > 0.9
    assert corner_error(verdict, truth, work.size) < 3.0
    if copy_kind == "crop40":
        assert 0.3 < verdict.asset_coverage < 0.6
        assert verdict.candidate_coverage > 0.95
    else:
        assert verdict.asset_coverage > 0.95
    if copy_kind == "web_page":
        assert verdict.candidate_coverage < 0.15
    if copy_kind in ("jpeg25", "half", "grayscale", "mirrored"):
        assert verdict.candidate_coverage > 0.95


@pytest.mark.parametrize("copy_kind", ["jpeg25", "half", "crop40", "rotated10", "captioned", "mirrored", "grayscale", "perspective"])
def test_orb_verifies_the_easier_copies(copy_kind):
    work = load("building.jpg")
    copy, truth = COPIES[copy_kind](work)
    verdict = verify(copy, work, kind="orb")
    assert verdict.verified, verdict
    assert verdict.method == "orb"
    assert verdict.mirrored == (copy_kind == "mirrored")
    assert corner_error(verdict, truth, work.size) < 3.0


@pytest.fixture(scope="module")
def sift_of_photos():
    images = {p.name: Image.open(p).convert("RGB") for p in PHOTOS}
    return {name: (extract(image), gray(image)) for name, image in images.items()}


@pytest.mark.slow
def test_no_two_distinct_bundled_photos_verify(sift_of_photos):
    assert len(sift_of_photos) == 14
    verifier = Verifier()
    passed = []
    for a, b in itertools.permutations(sift_of_photos, 2):
        (fa, ga), (fb, gb) = sift_of_photos[a], sift_of_photos[b]
        verdict = verifier.verify(fa, fb, ga, gb)
        if verdict.verified:
            passed.append((a, b, verdict))
    assert passed == []


@pytest.mark.parametrize("kind", ["sift", "orb"])
def test_two_photos_of_the_same_court_do_not_verify_even_mirrored(kind):
    court_a, court_b = load("basketball-court1-a.jpg"), load("basketball-court1-b.jpg")
    for candidate, work in ((court_b, court_a), (court_a, court_b)):
        verdict = verify(candidate, work, kind=kind)
        assert not verdict.verified
        assert verdict.reason != "ok"


def test_failing_gates_are_named_and_the_measurements_are_still_reported():
    work = load("coffee.jpg")
    copy, _ = copy_crop40(work)
    strict = Verifier(min_asset_coverage=0.9, min_footprint_side=5000)
    verdict = verify(copy, work, verifier=strict, with_mirror=False)
    assert not verdict.verified
    side, visible = verdict.reason.split("; ")
    assert re.fullmatch(r"footprint too small: \d+ px side < 5000", side)
    assert visible == f"too little of the work visible: {verdict.asset_coverage:.2f} < 0.90"
    assert 0.3 < verdict.asset_coverage < 0.6
    assert verdict.inliers > 100 and verdict.ncc > 0.9 and verdict.transform is not None


def test_a_flat_image_is_refused_with_a_reason_not_an_exception():
    flat = Image.new("RGB", (400, 300), (90, 140, 200))
    assert len(extract(flat)) == 0
    verdict = verify(flat, load("castle.jpg"))
    assert not verdict.verified
    assert verdict.reason == "too few keypoints: candidate has 0 < 15 (a flat, blurred or tiny image)"
    assert verdict.transform is None and verdict.inliers == 0


def test_verdict_as_dict_is_plain_json():
    work = load("chelsea.jpg")
    verdict = verify(copy_half(work)[0], work)
    data = json.loads(json.dumps(verdict.as_dict()))
    assert data["verified"] is True and data["method"] == "sift"
    assert len(data["transform"]) == 3 and all(len(row) == 3 for row in data["transform"])
    assert set(data) == {
        "verified", "method", "good_matches", "inliers", "inlier_ratio", "asset_coverage",
        "candidate_coverage", "ncc", "mirrored", "transform", "reason",
    }


def test_features_of_a_reduced_image_are_in_original_pixels():
    work = load("rocket.jpg")
    reduced = work.resize((work.width // 2, work.height // 2), Image.LANCZOS)
    features = extract(reduced, original_size=work.size)
    assert (features.width, features.height) == work.size
    assert features.points[:, 0].max() > work.width * 0.8
    verdict = Verifier().verify(features, extract(work), gray(reduced), gray(work))
    assert verdict.verified, verdict
    assert corner_error(verdict, np.eye(3), work.size) < 3.0


def test_extract_keeps_at_most_max_features_spread_over_the_image():
    work = load("fruits.jpg")
    features = extract(work, max_features=200)
    assert len(features) == 200
    right, bottom = features.points[:, 0] > work.width / 2, features.points[:, 1] > work.height / 2
    for quadrant in (~right & ~bottom, right & ~bottom, ~right & bottom, right & bottom):
        assert quadrant.sum() >= 25


@pytest.mark.parametrize("kind, dim, dtype", [("sift", 128, np.float32), ("orb", 32, np.uint8)])
def test_local_features_round_trip_through_bytes_exactly(kind, dim, dtype):
    features = extract(load("astronaut.jpg"), kind, original_size=(1024, 1024))
    assert features.descriptors.shape == (len(features), dim) and features.descriptors.dtype == dtype
    assert features.points.dtype == np.float32
    again = LocalFeatures.from_bytes(features.to_bytes())
    assert again.kind == kind and (again.width, again.height) == (1024, 1024)
    assert again.descriptors.dtype == dtype and np.array_equal(again.descriptors, features.descriptors)
    assert np.array_equal(again.points, features.points)


def test_empty_features_round_trip():
    features = extract(Image.new("RGB", (64, 64), "white"), "orb")
    again = LocalFeatures.from_bytes(features.to_bytes())
    assert len(again) == 0 and again.descriptors.shape == (0, 32)


def test_from_bytes_refuses_other_data_and_other_versions():
    with pytest.raises(ValueError, match=r"^local features blob \(5 bytes\) is not an archive written by LocalFeatures.to_bytes"):
        LocalFeatures.from_bytes(b"hello")
    buffer = io.BytesIO()
    np.savez(buffer, version=np.array(99), kind=np.array("sift"), size=np.array([1, 1]),
             points=np.zeros((0, 2), np.float32), descriptors=np.zeros((0, 128), np.uint8))
    with pytest.raises(ValueError) as refused:
        LocalFeatures.from_bytes(buffer.getvalue())
    assert str(refused.value) == (
        "local features blob has format version 99; this copyhound reads version 1; "
        "re-extract the image's features (e.g. register the work again)."
    )


def test_unknown_feature_kind_lists_the_valid_ones():
    with pytest.raises(ValueError) as refused:
        extract(load("castle.jpg"), "surf")
    assert str(refused.value) == "kind must be one of 'sift', 'orb'; got 'surf'."


def test_bad_verify_inputs_are_refused_with_the_fix():
    work = load("castle.jpg")
    sift, orb = extract(work), extract(work, "orb")
    with pytest.raises(ValueError) as refused:
        Verifier().verify(orb, sift, gray(work), gray(work))
    assert str(refused.value) == (
        "candidate features are 'orb' but work features are 'sift'; "
        "extract both images' features with the same kind."
    )
    with pytest.raises(ValueError) as refused:
        Verifier().verify(sift, sift, np.asarray(work), gray(work))
    assert str(refused.value) == (
        "candidate_gray must be a 2-D uint8 grayscale array; got uint8[360, 480, 3]. "
        "Pass np.asarray(image.convert('L'))."
    )
    with pytest.raises(ValueError) as refused:
        Verifier(min_ncc=2)
    assert str(refused.value) == "Verifier min_ncc must be a number in [-1, 1]; got 2."


def test_a_mirror_of_another_size_is_refused():
    work = load("castle.jpg")
    other = extract(load("chelsea.jpg"))
    flat = Image.new("RGB", (480, 360), "gray")
    with pytest.raises(ValueError, match=r"^candidate_mirror is 451x300 but the candidate is 480x360"):
        Verifier().verify(extract(flat), extract(work), gray(flat), gray(work), candidate_mirror=other)


def copy_cropped_rotated_captioned(work):
    """The hard combination: crop to ~60% of the area, rotate 10 degrees, add a caption band, JPEG 40.

    The work's footprint then runs past the copy's edges into the white rotation corners and the
    caption, so the photometric check must judge the part of the footprint that shows the work.
    """
    w, h = work.size
    left, top = w // 8, h // 10
    cropped = work.crop((left, top, left + int(w * 0.78), top + int(h * 0.78)))
    rotated, rotation = copy_rotated10(cropped)
    captioned, _ = copy_captioned(rotated)
    return jpeg(captioned, 40), rotation @ shift(-left, -top)


@pytest.mark.parametrize("name", ["motorcycle_left.jpg", "castle.jpg", "fruits.jpg", "rocket.jpg"])
def test_a_cropped_rotated_captioned_recompressed_copy_verifies(name):
    work = load(name)
    copy, truth = copy_cropped_rotated_captioned(work)
    verdict = verify(copy, work)
    assert verdict.verified, verdict
    assert corner_error(verdict, truth, work.size) < 4.0
    assert 0.45 < verdict.asset_coverage < 0.9  # the white corners lie inside the copy too


@pytest.mark.parametrize("box", [(170, 10, 560, 225), (200, 0, 500, 200)])
def test_a_crop_that_is_mostly_sky_verifies(box):
    """A crop of the rocket's top: most of it is flat sky in the work as in the copy, which says nothing either way,
    and the rocket and towers correlate. (Judged against the footprint, the copy's texture was too small a share.)"""
    work = load("rocket.jpg")
    verdict = verify(jpeg(work.crop(box), 80), work)
    assert verdict.verified, verdict
    assert verdict.ncc > 0.9
    # Where the copy is: the work's corners lie far outside it, where 15-25 inliers in the middle extrapolate,
    # and its own sky corners are a few pixels off with the fewest (15).
    seen = np.array([[box[0], box[1]], [box[2] - 1, box[1]], [box[2] - 1, box[3] - 1], [box[0], box[3] - 1]], float)
    assert np.abs(project(verdict.transform, seen) - project(shift(-box[0], -box[1]), seen)).max() < 5.0


@pytest.mark.parametrize("name", ["castle.jpg", "motorcycle_left.jpg", "fruits.jpg"])
def test_a_detail_of_a_work_on_flat_ground_is_not_judged_a_copy_of_the_work(name):
    """A sixteenth of a textured work in its place on a flat ground: the geometry fits and the footprint is the whole
    work, but the copy has texture in too little of where the work has it for the pixels to say it shows the work."""
    work = load(name)
    width, height = work.size
    canvas = Image.new("RGB", work.size, (128, 128, 128))
    box = (width * 3 // 8, height * 3 // 8, width * 5 // 8, height * 5 // 8)
    canvas.paste(work.crop(box), box[:2])
    verdict = verify(jpeg(canvas, 85), work)
    assert not verdict.verified and verdict.inliers >= 15
    assert "pixels do not correlate" in verdict.reason


@pytest.mark.parametrize("one_pass", [False, True])
def test_a_small_smooth_photo_is_looked_at_again_at_lower_contrast(one_pass):
    """A 300 px photo of a rocket in a soft sky holds fewer than 100 keypoints at SIFT's default contrast, too few
    for a crop of it to verify; both are looked at again at a lower contrast, and the crop verifies."""
    work = load("rocket.jpg")
    work.thumbnail((300, 300))
    work = work.filter(ImageFilter.GaussianBlur(1.0))
    width, height = work.size
    box = (width // 5, height // 4, width // 5 + int(width * 0.6), height // 4 + int(height * 0.6))
    copy = jpeg(work.crop(box), 85)
    default = cv2.SIFT_create().detect(np.asarray(copy.convert("L")), None)
    assert len(extract(copy, one_pass=one_pass)) > len(default) and len(default) < 100
    verdict = Verifier().verify(extract(copy), extract(work), gray(copy), gray(work))
    assert verdict.verified, verdict
