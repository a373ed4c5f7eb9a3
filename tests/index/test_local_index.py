"""LocalFeatureIndex: votes per work, exact and trained, add/remove, files, refusals.

Descriptors are synthetic: each work's are random non-negative unit vectors (as RootSIFT's are),
a copy's are its work's plus noise; ORB-like codes are random bits with a few flipped.
"""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from index import local
from index.errors import IndexFileError, IndexInputError
from index.local import MIN_LISTS, LocalFeatureIndex, NearFirst, lists_for, training_size

WORKS, PER_WORK = 40, 300


def float_works(seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    works = {}
    for work_id in range(100, 100 + WORKS):
        d = np.abs(rng.standard_normal((PER_WORK, 128))).astype(np.float32)
        works[work_id] = d / np.linalg.norm(d, axis=1, keepdims=True)
    return works


def noisy_copy(descriptors: np.ndarray, rng, scale: float = 0.02) -> np.ndarray:
    d = np.abs(descriptors + scale * rng.standard_normal(descriptors.shape)).astype(np.float32)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def filled(index: LocalFeatureIndex, works: dict[int, np.ndarray]) -> LocalFeatureIndex:
    for work_id, descriptors in works.items():
        index.add(work_id, descriptors)
    return index


def trained_float_index(works) -> LocalFeatureIndex:
    index = LocalFeatureIndex(128, code_bytes=16, nprobe=4)
    index.train(np.concatenate(list(works.values())), MIN_LISTS)
    return filled(index, works)


@pytest.mark.parametrize("stage", ["exact", "trained"])
def test_a_copys_descriptors_vote_for_its_work_above_all_others(stage):
    works = float_works()
    index = filled(LocalFeatureIndex(128), works) if stage == "exact" else trained_float_index(works)
    rng = np.random.default_rng(1)
    for work_id in (100, 117, 139):
        query = noisy_copy(works[work_id][:150], rng)
        votes = index.votes(query)
        best = max(votes, key=votes.get)
        assert best == work_id
        assert votes[work_id] >= 0.8 * len(query)
        assert sum(v for w, v in votes.items() if w != work_id) <= 0.05 * len(query)


@pytest.mark.parametrize("stage", ["exact", "trained"])
def test_neighbours_name_the_works_that_hold_a_shared_element(stage):
    works = float_works()
    rng = np.random.default_rng(2)
    element = works[100][:40]  # an element of work 100 that two other works carry too
    for other in (120, 130):
        works[other] = np.concatenate([works[other][:260], noisy_copy(element, rng)])
    index = filled(LocalFeatureIndex(128), works) if stage == "exact" else trained_float_index(works)
    ids = index.neighbours(element, 3)
    assert ids.shape == (40, 3)
    assert (np.sort(ids, axis=1) == [100, 120, 130]).mean() >= 0.9
    assert (index.neighbours(works[101][:5], 3)[:, 0] == 101).all()


def test_neighbours_of_an_empty_index_are_none():
    assert (LocalFeatureIndex(128).neighbours(float_works()[100][:2], 4) == -1).all()


@pytest.mark.parametrize("stage", ["exact", "trained"])
def test_views_searched_together_get_each_views_own_votes(stage):
    works = float_works()
    index = filled(LocalFeatureIndex(128), works) if stage == "exact" else trained_float_index(works)
    rng = np.random.default_rng(4)
    views = [noisy_copy(works[103][:120], rng), np.zeros((0, 128), np.float32),
             noisy_copy(works[121][:40], rng), noisy_copy(float_works(9)[110][:60], rng)]
    together = index.votes_per_view(views)
    assert together == [index.votes(view) for view in views]
    assert max(together[0], key=together[0].get) == 103 and max(together[2], key=together[2].get) == 121
    assert together[1] == {}


def test_unrelated_descriptors_get_few_votes():
    index = filled(LocalFeatureIndex(128), float_works())
    unrelated = next(iter(float_works(seed=9).values()))
    assert sum(index.votes(unrelated).values()) <= 0.1 * len(unrelated)


def test_a_works_own_repeated_texture_does_not_cancel_its_votes():
    # A repeating pattern: each descriptor stored twice. A ratio test against the second nearest
    # descriptor overall would reject them all; against another work's, they pass.
    works = float_works()
    works[100] = np.concatenate([works[100][:150], works[100][:150]])
    index = filled(LocalFeatureIndex(128), works)
    votes = index.votes(noisy_copy(works[100][:150], np.random.default_rng(2)))
    assert votes[100] >= 0.8 * 150


def _votes_of_the_nearest(index_descriptors: dict[int, np.ndarray], query: np.ndarray, ratio: float = 0.8) -> dict:
    """The voting rule read off every query descriptor's sorted distances: the work of the nearest wins when it
    is within `ratio` of the nearest other work's descriptor among the 8 nearest, or when all 8 are its own."""
    held = np.concatenate(list(index_descriptors.values()))
    owner = np.concatenate([np.full(len(d), work) for work, d in index_descriptors.items()])
    votes: dict[int, int] = {}
    for row in query:
        distances = ((held - row) ** 2).sum(axis=1)
        nearest = np.argsort(distances, kind="stable")[:local.NEIGHBOURS]
        others = [i for i in nearest if owner[i] != owner[nearest[0]]]
        if not others or distances[nearest[0]] < ratio ** 2 * distances[others[0]]:
            votes[int(owner[nearest[0]])] = votes.get(int(owner[nearest[0]]), 0) + 1
    return votes


def test_the_exact_stage_votes_by_the_rule_of_the_eight_nearest_also_for_a_repeated_texture():
    # Work 100 holds each of its first 20 descriptors 9 times over (a repeated texture): queries near them
    # have 8 nearest all its own and vote for it although another work's descriptor fails the ratio test.
    works = {work: d[:60] for work, d in float_works().items() if work < 110}
    rng = np.random.default_rng(5)
    works[100] = np.concatenate([works[100][:40]] + [noisy_copy(works[100][:20], rng, 0.001)] * 8)
    works[101] = np.concatenate([works[101], noisy_copy(works[100][:20], rng, 0.01)])
    index = filled(LocalFeatureIndex(128), works)
    query = np.concatenate([noisy_copy(works[100][:20], rng), noisy_copy(works[104][:30], rng),
                            next(iter(float_works(seed=9).values()))[:30]])
    expected = _votes_of_the_nearest(works, query)
    assert index.votes(query) == expected
    assert expected[100] >= 15  # the repeated texture's queries won despite the near descriptors of work 101
    index.remove([104])
    assert index.votes(query) == _votes_of_the_nearest({w: d for w, d in works.items() if w != 104}, query)


@pytest.mark.parametrize("stage", ["exact", "trained"])
def test_add_adds_and_remove_forgets_a_work(stage):
    works = float_works()
    index = filled(LocalFeatureIndex(128), works) if stage == "exact" else trained_float_index(works)
    assert len(index) == WORKS * PER_WORK and index.work_ids().tolist() == sorted(works)
    index.add(100, works[100][:10])
    assert len(index) == WORKS * PER_WORK + 10
    assert index.remove([100]) == PER_WORK + 10
    index.add(100, works[100][:10])
    assert len(index) == (WORKS - 1) * PER_WORK + 10
    assert index.remove([117, 999]) == PER_WORK
    assert 117 not in index.work_ids().tolist() and 100 in index.work_ids().tolist()
    assert 117 not in index.votes(works[117])


def test_a_search_may_visit_fewer_lists_than_the_index_does():
    """The cascade's screen searches a trained index with fewer lists than the full stage: the votes are those
    of the same index searched at that `nprobe`, and its own setting is left as it was."""
    works = float_works()
    wide = trained_float_index(works)
    wide._ivf().nprobe = MIN_LISTS
    narrow = trained_float_index(works)
    narrow._ivf().nprobe = 1
    rng = np.random.default_rng(4)
    views = [noisy_copy(works[w][:100], rng, 0.06) for w in (100, 120, 139)]
    assert wide.votes_per_view(views, 0.9, nprobe=1) == narrow.votes_per_view(views, 0.9)
    assert wide.votes_per_view(views, 0.9) != narrow.votes_per_view(views, 0.9)
    assert wide._ivf().nprobe == MIN_LISTS


@pytest.mark.parametrize("paired", [False, True])
def test_a_search_near_first_goes_on_only_for_the_views_with_votes_in_their_nearest_lists(paired):
    """`NearFirst`: each descriptor's nearest lists first. A view that gives one work `votes` votes there gets the
    votes of one search of all its lists (the two steps' neighbours merged), a view that does not keeps the first
    step's, and a search in which no view went on says so. (Paired: the mirror view's lists are its original's.)"""
    works = float_works()
    index = LocalFeatureIndex(128, code_bytes=16, nprobe=16)
    index.train(np.concatenate(list(works.values())), MIN_LISTS, mirror=FLIP if paired else None)
    filled(index, works)
    rng = np.random.default_rng(8)
    copy = noisy_copy(works[107][:100], rng, 0.06)
    unrelated = noisy_copy(np.abs(rng.standard_normal((100, 128))), rng, 0.0)
    views, mirror_of = [copy, np.ascontiguousarray(copy[:, FLIP]), unrelated], [None, 0, None]
    near = NearFirst(lists=2, votes=4)
    per_view, went_on = index.votes_near_first(views, 0.9, 8, mirror_of, near)
    one_step = index.votes_per_view(views, 0.9, 8, mirror_of)
    first_step = index.votes_per_view(views, 0.9, 2, mirror_of)
    assert went_on and per_view[0] == one_step[0] and per_view[1:] == first_step[1:]
    assert max(max(votes.values(), default=0) for votes in per_view[1:]) < near.votes <= per_view[0][107]
    assert first_step[0] != one_step[0]  # the second step found more of the copy's neighbours
    assert index.votes_near_first(views[1:], 0.9, 8, mirror_of=[None, None], near=near) == (first_step[1:], False)
    assert index.votes_near_first(views, 0.9, 2, mirror_of, near) == (first_step, True)  # no second step to take
    with pytest.raises(IndexInputError, match="lists must be an int >= 1"):
        NearFirst(lists=0, votes=2)


@pytest.mark.parametrize("lists", [MIN_LISTS, 256])
def test_works_added_after_a_removal_are_held_as_well_as_the_others(lists):
    """A removal leaves codes in the vacated places of a fast-scan list's last block; an add after it must not
    mix them into its own (each work's descriptors then find that work first, as before any removal)."""
    rng = np.random.default_rng(5)
    works = {w: noisy_copy(np.abs(rng.standard_normal((PER_WORK, 128))), rng, 0.0) for w in range(lists * 4)}
    index = LocalFeatureIndex(128, code_bytes=16, nprobe=16)
    index.train(np.concatenate(list(works.values())), lists)
    early = dict(list(works.items())[: len(works) // 2])
    filled(index, early)
    index.remove(list(early)[: len(early) // 3])
    filled(index, {w: d for w, d in works.items() if w not in early})

    def found_first(work_ids) -> float:
        ids = list(work_ids)
        nearest = index.neighbours(np.concatenate([works[w][:20] for w in ids]), 1)[:, 0]
        return float(np.mean(nearest == np.repeat(ids, 20)))

    assert found_first(w for w in works if w not in early) >= 0.99
    assert found_first(list(early)[len(early) // 3:]) >= 0.99


#: A permutation of components that is its own inverse, as a SIFT descriptor's mirror image is.
FLIP = np.arange(128).reshape(16, 8)[::-1].ravel()


@pytest.mark.parametrize("lists, quantiser", [(MIN_LISTS, "Flat"), (64, "HNSW")])
def test_mirror_paired_lists_give_a_mirror_image_the_votes_a_search_of_its_own_gives(monkeypatch, tmp_path,
                                                                                       lists, quantiser):
    """Lists trained in mirror pairs: list i + lists/2 is list i's mirror image, so a view's mirror image, named as
    such, is scanned in the lists its original's search found, with the votes it gets searched on its own."""
    if quantiser == "HNSW":
        monkeypatch.setattr(local, "_HNSW_LISTS", 16)
    works = float_works()
    index = LocalFeatureIndex(128, code_bytes=16, nprobe=4)
    index.train(np.concatenate(list(works.values())), lists, mirror=FLIP)
    filled(index, works)
    ivf = index._ivf()
    centroids = ivf.quantizer.reconstruct_n(0, lists)
    assert quantiser in type(faiss.downcast_index(ivf.quantizer)).__name__
    np.testing.assert_array_equal(centroids[lists // 2:], centroids[: lists // 2][:, FLIP])
    rng = np.random.default_rng(6)
    direct = noisy_copy(works[111][:120], rng, 0.03)
    mirrored = noisy_copy(works[125][:120], rng, 0.03)[:, FLIP]  # a flipped copy of another work
    views = [direct, np.ascontiguousarray(direct[:, FLIP]), np.ascontiguousarray(mirrored),
             np.ascontiguousarray(mirrored[:, FLIP])]
    paired = index.votes_per_view(views, 0.8, mirror_of=[None, 0, None, 2])
    assert paired == index.votes_per_view(views, 0.8)
    assert max(paired[0], key=paired[0].get) == 111 and max(paired[3], key=paired[3].get) == 125
    assert paired[2].get(125, 0) < 0.1 * paired[3][125]  # the flipped copy is found through its mirror image
    far = [noisy_copy(works[w][:100], rng, 0.06) for w in (104, 133)]
    far_views = [far[0], np.ascontiguousarray(far[0][:, FLIP]), np.ascontiguousarray(far[1][:, FLIP]), far[1]]
    narrow = index.votes_per_view(far_views, 0.9, nprobe=1, mirror_of=[None, 0, None, 2])
    assert narrow == index.votes_per_view(far_views, 0.9, nprobe=1)  # a search may visit fewer lists, as always
    assert narrow != index.votes_per_view(far_views, 0.9, mirror_of=[None, 0, None, 2])
    index.save(tmp_path / "paired.faiss", {})
    loaded, manifest = LocalFeatureIndex.load(tmp_path / "paired.faiss", nprobe=4)
    assert loaded.mirror_paired and manifest["mirror_paired"]
    assert loaded.votes_per_view(views, 0.8, mirror_of=[None, 0, None, 2]) == paired


def test_an_index_trained_without_pairs_searches_a_named_mirror_image_as_any_view():
    works = float_works()
    index = trained_float_index(works)
    view = noisy_copy(works[130][:80], np.random.default_rng(7), 0.03)
    views = [view, np.ascontiguousarray(view[:, FLIP])]
    assert not index.mirror_paired
    assert index.votes_per_view(views, 0.8, mirror_of=[None, 0]) == index.votes_per_view(views, 0.8)


def test_binary_codes_vote_by_hamming_distance():
    rng = np.random.default_rng(3)
    works = {w: rng.integers(0, 256, (200, 32), dtype=np.uint8) for w in range(1, 31)}
    for index in (LocalFeatureIndex(256, binary=True), LocalFeatureIndex(256, binary=True, nprobe=4)):
        if index.nprobe == 4:
            index.train(np.concatenate(list(works.values())), MIN_LISTS)
        filled(index, works)
        bits = np.unpackbits(works[7][:100], axis=1)
        flips = rng.random(bits.shape) < 0.05
        votes = index.votes(np.packbits(bits ^ flips, axis=1))
        assert max(votes, key=votes.get) == 7 and votes[7] >= 80


def test_trained_index_is_smaller_than_exact_and_reports_what_it_was_trained_for():
    works = float_works()
    exact = filled(LocalFeatureIndex(128), works)
    trained = LocalFeatureIndex(128, code_bytes=16)
    trained.train(np.concatenate(list(works.values())), MIN_LISTS, trained_for=50_000)
    filled(trained, works)
    assert exact.lists == 0 and trained.lists == MIN_LISTS
    assert trained.trained_on == training_size(MIN_LISTS) and trained.trained_for == 50_000
    assert trained.trained_at is not None
    # 16-byte codes + 8-byte ids against 512-byte floats + ids; centroids and PQ tables on top.
    assert trained.memory_bytes() < 0.1 * exact.memory_bytes()
    assert trained.memory_bytes() < len(trained) * (16 + 8) + MIN_LISTS * 128 * 4 + 256 * 128 * 4 + 4096


@pytest.mark.parametrize("binary", [False, True])
def test_save_and_load_give_the_same_votes(tmp_path, binary):
    rng = np.random.default_rng(4)
    if binary:
        works = {w: rng.integers(0, 256, (200, 32), dtype=np.uint8) for w in range(1, 21)}
        index = LocalFeatureIndex(256, binary=True)
    else:
        works = float_works()
        index = LocalFeatureIndex(128)
    index.train(np.concatenate(list(works.values())), MIN_LISTS)
    filled(index, works)
    query = works[5 if binary else 105][:50]
    index.save(tmp_path / "local.faiss", {"feature_kind": "x"})
    loaded, manifest = LocalFeatureIndex.load(tmp_path / "local.faiss", expect={"feature_kind": "x"})
    assert loaded.votes(query) == index.votes(query)
    assert (loaded.lists, loaded.trained_for, loaded.binary) == (MIN_LISTS, index.trained_for, binary)
    assert manifest["count"] == len(index) and manifest["trained_at"] == index.trained_at
    with pytest.raises(IndexFileError, match="feature_kind"):
        LocalFeatureIndex.load(tmp_path / "local.faiss", expect={"feature_kind": "y"})
    (tmp_path / "local.faiss").write_bytes(b"not an index")
    with pytest.raises(IndexFileError) as refused:
        LocalFeatureIndex.load(tmp_path / "local.faiss")
    assert refused.value.reason in {"truncated", "checksum"}


@pytest.mark.parametrize("descriptors, lists", [
    (1, 16), (10_000, 16), (300_000, 256), (3_000_000, 4096), (30_000_000, 32_768), (10**12, 262_144),
])
def test_lists_grow_in_proportion_to_the_descriptors(descriptors, lists):
    assert lists_for(descriptors) == lists


@pytest.mark.parametrize("binary", [False, True])
def test_many_lists_are_trained_in_two_levels_under_an_hnsw_quantiser(monkeypatch, binary):
    # The threshold is lowered so that a few thousand descriptors take the path of a large catalogue.
    monkeypatch.setattr(local, "_HNSW_LISTS", 16)
    rng = np.random.default_rng(5)
    if binary:
        works = {w: rng.integers(0, 256, (200, 32), dtype=np.uint8) for w in range(1, 21)}
        index = LocalFeatureIndex(256, binary=True, nprobe=4)
    else:
        works, index = float_works(), LocalFeatureIndex(128, nprobe=4)
    index.train(np.concatenate(list(works.values())), 64)
    filled(index, works)
    quantiser = (faiss.downcast_IndexBinary if binary else faiss.downcast_index)(index._ivf().quantizer)
    assert "HNSW" in type(quantiser).__name__ and quantiser.ntotal == index.lists == 64
    first = next(iter(works))
    votes = index.votes(works[first][:100])
    assert max(votes, key=votes.get) == first and votes[first] >= 80


def test_an_index_of_an_earlier_code_layout_is_refused_for_rebuilding(tmp_path):
    works = float_works()
    earlier = faiss.index_factory(128, "IVF16,PQ16np")  # 8-bit codes, as copyhound wrote them before fast-scan
    # Trained on a tenth of the descriptors: what is refused is the code layout, not how well it was trained.
    earlier.train(np.concatenate(list(works.values()))[::10])
    index = LocalFeatureIndex(128)
    index._index = earlier
    filled(index, works).save(tmp_path / "local.faiss", {})
    with pytest.raises(IndexFileError) as refused:
        LocalFeatureIndex.load(tmp_path / "local.faiss")
    assert refused.value.reason == "format" and "fast-scan" in str(refused.value)


@pytest.mark.parametrize("make, call, message", [
    (lambda: LocalFeatureIndex(128), lambda i: i.add(1, np.zeros((3, 64), np.float32)), r"shape \[n, 128\]"),
    (lambda: LocalFeatureIndex(256, binary=True), lambda i: i.votes(np.zeros((3, 128), np.float32)),
     r"uint8 array of shape \[n, 32\]"),
    (lambda: LocalFeatureIndex(128), lambda i: i.train(np.zeros((100, 128), np.float32), 16),
     "needs at least 512 descriptors, got 100"),
    (lambda: LocalFeatureIndex(128), lambda i: i.add(-1, np.zeros((1, 128), np.float32)), "work_id"),
    (lambda: LocalFeatureIndex(128, code_bytes=10), lambda i: None, "code_bytes must divide dim 128"),
    (lambda: LocalFeatureIndex(128), lambda i: i.train(np.zeros((600, 128), np.float32), 16,
                                                       mirror=np.roll(np.arange(128), 1)), "its own inverse"),
    (lambda: LocalFeatureIndex(256, binary=True), lambda i: i.train(np.zeros((600, 32), np.uint8), 16,
                                                                    mirror=np.arange(256)), "float descriptors"),
    (lambda: LocalFeatureIndex(128), lambda i: i.votes_per_view([np.zeros((3, 128), np.float32)] * 2,
                                                                mirror_of=[None]), "one entry"),
])
def test_bad_input_is_refused_with_a_reason(make, call, message):
    with pytest.raises(IndexInputError, match=message):
        call(make())


def test_neighbours_merged_from_two_searches_keep_the_found_ones_before_the_places_left_empty():
    """A fast-scan search gives an empty place (id -1) the largest distance of its own scale, which may be less than
    the other search's real distances: the merge puts every found neighbour first."""
    first = (np.array([[0.1, 0.3, 0.4]], np.float32), np.array([[5, -1, -1]]))
    second = (np.array([[0.2, 0.9, 1.2]], np.float32), np.array([[6, 7, 8]]))
    distances, ids = local._nearest_of(first, second, 3)
    assert ids.tolist() == [[5, 6, 7]] and distances[0].tolist() == pytest.approx([0.1, 0.2, 0.9])
