"""Contract test every Hasher passes."""

import io

import pytest
from PIL import Image, ImageOps

from detector.hashing import HASHERS


def _open(path):
    return Image.open(path).convert("RGB")


def _reencoded(im, quality=40):
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


@pytest.fixture(params=sorted(HASHERS))
def hasher(request):
    return HASHERS[request.param]


def test_hash_has_declared_length_and_zero_self_distance(hasher, works_dir):
    digest = hasher.hash(_open(works_dir / "astronaut.jpg"))
    assert len(digest) == hasher.bits // 4
    assert hasher.distance(digest, digest) == 0


def test_reencoded_copy_is_closer_than_any_other_work(hasher, works_dir):
    works = sorted(works_dir.glob("*.jpg"))
    for path in works:
        original = _open(path)
        own = hasher.distance(hasher.hash(original), hasher.hash(_reencoded(original)))
        others = [hasher.distance(hasher.hash(original), hasher.hash(_open(p))) for p in works if p != path]
        assert own < min(others), f"{hasher.name}: {path.name} re-encoded at {own}, nearest other {min(others)}"
        assert own <= hasher.bits // 8


def test_mirror_image_is_far_for_phash_and_dhash(works_dir):
    """Why detection also hashes the mirrored candidate: these hashes do not see mirrors."""
    im = _open(works_dir / "motorcycle_left.jpg")
    for name in ("phash", "dhash"):
        h = HASHERS[name]
        assert h.distance(h.hash(im), h.hash(ImageOps.mirror(im))) > h.bits // 4


def test_pdq_reports_low_quality_for_a_flat_image():
    flat = Image.new("RGB", (200, 200), (120, 120, 120))
    _, quality = HASHERS["pdq"].hash_with_quality(flat)
    assert quality < 50


def test_a_candidate_and_its_mirror_image_hash_in_one_go_to_the_same_bits(works_dir, others_dir):
    """The screen reduces a candidate once for pHash and flips the small copy; the bits must be those of hashing
    the mirror image itself, or a mirrored copy's hash distance would drift. The mirror image's PDQ is computed
    only when asked for, given its pHash, and a candidate's dHash never (nothing compares it)."""
    from detector.fingerprint import candidate_hashes, hashes

    paths = sorted(works_dir.glob("*.jpg"))[:5] + sorted(others_dir.glob("*.jpg"))
    for path, side in zip(paths, range(301, 1024, 83)):  # odd sizes, as the web has them
        image = _open(path)
        image.thumbnail((side, side))
        asked: list[str] = []
        direct, mirrored = candidate_hashes(image, lambda phash, asked=asked: asked.append(phash) or True)
        own, flipped = hashes(image), hashes(ImageOps.mirror(image))
        assert (direct.phash, direct.pdq, direct.pdq_quality, direct.dhash) == (own.phash, own.pdq, own.pdq_quality,
                                                                             None), path.name
        assert (mirrored.phash, mirrored.pdq, mirrored.pdq_quality) == (flipped.phash, flipped.pdq,
                                                                       flipped.pdq_quality), path.name
        assert asked == [flipped.phash]
        unasked = candidate_hashes(image, lambda phash: False)[1]
        assert (unasked.phash, unasked.pdq, unasked.pdq_quality) == (flipped.phash, None, None), path.name
