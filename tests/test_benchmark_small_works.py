"""Issue 23's small_work family of the benchmark set: works registered small, copied through their own
transforms, while the other photo works keep their families."""

from PIL import Image, ImageOps

from benchmarks.dataset import SMALL_SIDE, build
from benchmarks.transforms import SMALL_WORK


def test_small_works_are_registered_small_with_their_copies(tmp_path, works_dir, others_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    # The bundled photos and their mirror images: enough for a quick set (collages need three fillers a side).
    for path in sorted(works_dir.glob("*.jpg")) + sorted(others_dir.glob("*.jpg")):
        with Image.open(path) as photo:
            photo.save(photos / path.name)
            ImageOps.mirror(photo).save(photos / f"mirrored-{path.name}")
    dataset = build(photos, tmp_path / "set", seed=7, quick=True, per_family=1, small_works=2)

    small = {q.work for q in dataset.queries if q.family == "small_work"}
    assert len(small) == 2
    for stem in small:
        with Image.open(dataset.works_dir / f"{stem}.jpg") as work:
            assert SMALL_SIDE[0] <= min(work.size) <= SMALL_SIDE[1]
        copies = {q.transform for q in dataset.queries if q.work == stem}
        assert copies == set(SMALL_WORK)  # every small-work transform, and none of the large works' families
    large = {q.work for q in dataset.queries if q.work and q.family != "small_work"}
    assert large and not large & small
    for stem in large:  # registered at the size they were loaded at
        with Image.open(dataset.works_dir / f"{stem}.jpg") as work, Image.open(photos / f"{stem}.jpg") as photo:
            assert work.size == photo.size
