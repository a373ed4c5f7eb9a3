"""Issue 23's crawl mix at the issue's size: the kinds' shares when some kinds run out of files, the one thread a
candidate is measured on, and the catalogue's distractor works seen under asset ids above the registered works'."""

import cv2
import faiss
import numpy as np
from threadpoolctl import threadpool_info

from benchmarks.crawl_mix import MIX_SHARES, as_a_worker, shares
from benchmarks.detection_scale import AssetIds
from index.local import LocalFeatureIndex

# What Debian and the shared photos hold (the run: 5,000 images).
AVAILABLE = {"photo": 27, "icon": 4867, "clipart": 8122, "logo": 10, "wallpaper": 36, "figure": 32,
             "thumbnail": None, "banner": None}


def test_a_kind_short_of_files_takes_them_all_and_the_others_share_the_rest_by_their_shares():
    wanted = shares(5000, AVAILABLE)
    assert sum(wanted.values()) == 5000
    assert {k: wanted[k] for k in ("photo", "logo", "wallpaper", "figure")} == {
        "photo": 27, "logo": 10, "wallpaper": 36, "figure": 32}
    # The rest keep their shares' proportions: icons 25 to clip art's 20, thumbnails 13 to charts' 6.
    assert abs(wanted["icon"] / wanted["clipart"] - 25 / 20) < 0.01
    assert abs(wanted["thumbnail"] / wanted["chart"] - 13 / 6) < 0.01
    assert wanted["icon"] > round(MIX_SHARES["icon"] * 5000)


def test_a_small_mix_takes_every_kind_at_its_share():
    wanted = shares(200, AVAILABLE)
    assert wanted == {kind: round(share * 200) for kind, share in MIX_SHARES.items()}


def test_candidates_are_measured_on_one_thread_as_a_scan_worker_runs_and_the_threads_come_back_after():
    def threads():
        return (cv2.getNumThreads(), faiss.omp_get_max_threads(),
                max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"))

    before = threads()
    with as_a_worker():
        assert threads() == (1, 1, 1)
    assert threads() == before


def test_distractor_works_answer_under_ids_above_every_registered_work():
    rng = np.random.default_rng(1)
    works = rng.random((4, 20, 128), dtype=np.float32)  # three registered works, then one distractor
    index = LocalFeatureIndex(128)
    for work, descriptors in enumerate(works):
        index.add(work, descriptors)
    seen = AssetIds(index, [11, 5, 42])
    votes = seen.votes(works[1])
    assert max(votes, key=votes.get) == 5
    votes = seen.votes(works[3])
    assert max(votes, key=votes.get) > 42  # above asset 42, the highest registered


def test_the_kept_catalogue_takes_a_registered_works_new_descriptors(registered, others_dir, tmp_path):
    """Registered again with a newer extractor, a work's descriptors are replaced in the kept 100k-style catalogue
    (the distractors are kept), and its new descriptors vote for it; nothing is replaced when nothing changed."""
    from PIL import Image

    from benchmarks.crawl_mix import catalogue_index
    from detector.features import extract

    _, store = registered
    cache = tmp_path / "catalogue"
    cache.mkdir()
    rng = np.random.default_rng(2)
    pool = np.abs(rng.standard_normal((4000, 128))).astype(np.float32)
    np.save(cache / "pool-7.npy", pool / np.linalg.norm(pool, axis=1, keepdims=True))
    ids = sorted(a["id"] for a in store.assets())
    size = len(ids) + 30
    _, about = catalogue_index(store, size, tmp_path / "no-debs", [], 7, cache)
    assert "refreshed_works" not in about and about["distractors"] == 30
    _, about = catalogue_index(store, size, tmp_path / "no-debs", [], 7, cache)
    assert "refreshed_works" not in about

    # The first work registered again, its keypoints now those of a photo nothing else holds.
    lake = extract(Image.open(others_dir / "lake.jpg").convert("RGB"))
    before = catalogue_index(store, size, tmp_path / "no-debs", [], 7, cache)[0].votes(lake.descriptors, 0.9)
    store.replace_features(ids[0], {"sift": lake.to_bytes(), "orb": store.asset_features(ids[0], "orb")})
    seen, about = catalogue_index(store, size, tmp_path / "no-debs", [], 7, cache)
    assert about["refreshed_works"] == 1
    votes = seen.votes(lake.descriptors, 0.9)
    assert max(votes, key=votes.get) == ids[0] and votes[ids[0]] >= 100 > before.get(ids[0], 0)
