"""Issue 23's crawl mix at the issue's size: the kinds' shares when some kinds run out of files, and the
catalogue's distractor works seen under asset ids above the registered works'."""

import numpy as np

from benchmarks.crawl_mix import MIX_SHARES, shares
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
