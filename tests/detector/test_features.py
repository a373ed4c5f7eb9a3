"""Local features the cascade's screen takes shortcuts with: a mirror image's SIFT features by permutation,
and a one-pass extraction. Both are checked against the full extraction on real photos."""

import numpy as np
import pytest
from PIL import Image, ImageOps

from detector import features


def _photo(path, side: int = 400) -> Image.Image:
    image = Image.open(path).convert("RGB")
    image.thumbnail((side, side))
    return image


def _same(a: features.LocalFeatures, b: features.LocalFeatures, tolerance: float = 1.0) -> float:
    """Share of `a`'s keypoints that `b` has at (about) the same place with the same descriptor."""
    found = 0
    for point, descriptor in zip(a.points, a.descriptors):
        near = np.linalg.norm(b.points - point, axis=1) <= tolerance
        if near.any() and np.abs(b.descriptors[near] - descriptor).max(axis=1).min() <= 1.5 / 255:
            found += 1
    return found / len(a)


@pytest.mark.parametrize("name", ["castle.jpg", "fruits.jpg", "berkeley-mural.jpg"])
def test_mirror_of_gives_the_features_extracted_from_the_mirror_image(works_dir, name):
    image = _photo(works_dir / name)
    direct = features.extract(image, max_features=300)
    extracted = features.extract(ImageOps.mirror(image), max_features=300)
    permuted = features.mirror_of(direct)
    assert (permuted.width, permuted.height) == (extracted.width, extracted.height)
    # SIFT finds most of the same keypoints in the mirror image; where it does, the permuted
    # descriptor is the extracted one (a wrong permutation matches almost none).
    assert _same(permuted, extracted) >= 0.6
    assert _same(direct, extracted) < 0.2  # unpermuted descriptors do not describe the mirror image
    twice = features.mirror_of(permuted)
    assert np.array_equal(twice.descriptors, direct.descriptors) and np.allclose(twice.points, direct.points)


def test_orb_features_cannot_be_mirrored_by_permutation(works_dir):
    orb = features.extract(_photo(works_dir / "castle.jpg"), kind="orb", max_features=100)
    with pytest.raises(ValueError, match="extracted from the mirror image"):
        features.mirror_of(orb)


def test_one_pass_keeps_most_of_the_two_pass_keypoints_and_every_part_of_the_picture(works_dir):
    """The screen's budget (500 keypoints) on a mural whose lower half is weaker: one pass chooses among
    the 2 x 500 strongest, so it thins that half (to about a third of its two-pass keypoints) but keeps it."""
    image = _photo(works_dir / "berkeley-mural.jpg", 512)
    two = features.extract(image, max_features=500)
    one = features.extract(image, max_features=500, one_pass=True)
    assert len(one) == len(two) == 500
    # Most keypoints are the same, and those are described exactly as two passes describe them.
    kept = np.mean([(np.linalg.norm(one.points - point, axis=1) < 0.01).any() for point in two.points])
    assert kept >= 0.7
    assert _same(two, one, tolerance=0.01) >= 0.97 * kept

    def quarters(feats):
        right, low = feats.points[:, 0] >= feats.width / 2, feats.points[:, 1] >= feats.height / 2
        return [int(((right == r) & (low == b)).sum()) for r in (False, True) for b in (False, True)]

    assert all(o >= t / 4 for o, t in zip(quarters(one), quarters(two))), (quarters(one), quarters(two))


@pytest.mark.parametrize("one_pass", [False, True])
@pytest.mark.parametrize("name", ["castle.jpg", "fruits.jpg"])
def test_a_small_image_with_enough_strong_keypoints_keeps_only_those_of_the_default_contrast(works_dir, name, one_pass):
    """An image seen at its own size is detected once at the lower contrast; where the default contrast finds enough
    keypoints, the fainter ones are dropped again: the keypoints are those of a pass at the default contrast."""
    import cv2

    image = _photo(works_dir / name, side=240)
    gray = np.asarray(image.convert("L"))
    default = cv2.SIFT_create().detect(gray, None)
    faint = cv2.SIFT_create(contrastThreshold=0.02).detect(gray, None)
    assert 100 <= len(default) < len(faint) <= 1500
    found = features.extract(image, max_features=1500, one_pass=one_pass)
    strong = {(round(k.pt[0], 3), round(k.pt[1], 3), round(k.angle, 3)) for k in default}
    assert len(found) == len(default)
    assert {(round(x, 3), round(y, 3)) for x, y in found.points.tolist()} == {(x, y) for x, y, _ in strong}
