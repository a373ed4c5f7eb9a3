"""Exact nearest neighbours as arrays: the same neighbours and distances as OpenCV's brute-force matcher,
on the descriptors of real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from detector.demo_site import OTHERS_DIR, WORKS_DIR
from detector.features import extract
from detector.nearest import ROWS, nearest


def _descriptors(path, kind: str) -> np.ndarray:
    return extract(Image.open(path).convert("RGB"), kind).descriptors


@pytest.mark.parametrize("kind", ["sift", "orb"])
def test_neighbours_and_distances_are_the_brute_force_matchers(kind):
    query = np.concatenate([_descriptors(WORKS_DIR / name, kind) for name in ("coffee.jpg", "astronaut.jpg")])
    train = _descriptors(OTHERS_DIR / "village.jpg", kind)
    assert len(query) > ROWS  # more than one block of query rows
    neighbours = nearest(query, train, binary=kind == "orb")
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING if kind == "orb" else cv2.NORM_L2)
    pairs = matcher.knnMatch(query, train, k=2)
    first = np.array([p[0].distance for p in pairs])
    second = np.array([p[1].distance for p in pairs])
    np.testing.assert_allclose(neighbours.first_distance, first, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(neighbours.second_distance, second, rtol=1e-4, atol=1e-3)
    # Where the nearest is not tied with the second (Hamming distances often are), it is the same descriptor.
    untied = first < second
    assert (neighbours.first[untied] == np.array([p[0].trainIdx for p in pairs])[untied]).all()
    backward = matcher.match(train, query)
    best = np.array([m.distance for m in backward])
    chosen = np.linalg.norm(train.astype(np.float64) - query[neighbours.best_query].astype(np.float64), axis=1) \
        if kind == "sift" else np.unpackbits(train ^ query[neighbours.best_query], axis=1).sum(axis=1)
    np.testing.assert_allclose(chosen, best, rtol=1e-4, atol=1e-3)


def test_the_ratio_test_and_the_mutual_check_keep_a_copys_matches_and_drop_a_strangers():
    work = _descriptors(WORKS_DIR / "coffee.jpg", "sift")
    copy = _descriptors(WORKS_DIR / "coffee.jpg", "sift")[::2]  # half the same descriptors
    stranger = _descriptors(OTHERS_DIR / "lake.jpg", "sift")
    own = nearest(copy, work, binary=False)
    kept = own.mutual(own.ratio_pass(0.8))
    assert len(kept) == len(copy) and (own.first[kept] == 2 * kept).all()
    strange = nearest(stranger, work, binary=False)
    assert len(strange.mutual(strange.ratio_pass(0.8))) < len(stranger) // 10


def test_one_train_descriptor_has_no_second_and_no_descriptors_is_refused():
    rng = np.random.default_rng(0)
    query, train = rng.random((5, 128), np.float32), rng.random((1, 128), np.float32)
    neighbours = nearest(query, train, binary=False)
    assert (neighbours.first == 0).all() and np.isinf(neighbours.second_distance).all()
    assert len(neighbours.ratio_pass(0.8)) == 5
    with pytest.raises(ValueError, match="both sides"):
        nearest(query[:0], train, binary=False)
