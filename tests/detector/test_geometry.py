"""The shared geometry and correlation of the two verifiers, on small arrays and the bundled photos.

Where OpenCV computes the same thing (projecting points, intersecting convex polygons, resizing),
its answer is the reference.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from detector.correlation import ncc, tiled_ncc
from detector.geometry import area, box, clip_convex, degeneracy, project, resize_map, shift

WORKS = Path(__file__).resolve().parents[2] / "detector" / "demo_assets" / "works"


def gray(name: str, size=(240, 180)) -> np.ndarray:
    return np.asarray(Image.open(WORKS / name).convert("L").resize(size, Image.Resampling.LANCZOS))


def test_box_runs_along_the_pixel_edges_and_its_area_is_the_pixel_count():
    outline = box(4, 3)
    assert outline.tolist() == [[-0.5, -0.5], [3.5, -0.5], [3.5, 2.5], [-0.5, 2.5]]
    assert area(outline) == 12.0
    assert area(outline[:2]) == 0.0  # a segment has no area


def test_project_agrees_with_opencv_on_a_perspective_transform():
    homography = np.array([[0.8, 0.1, 12.0], [-0.05, 1.1, 4.0], [0.0004, -0.0002, 1.0]])
    points = np.array([[0.0, 0.0], [100.0, 20.0], [37.5, 250.0], [-3.0, 7.0]])
    expected = cv2.perspectiveTransform(points.reshape(-1, 1, 2), homography).reshape(-1, 2)
    np.testing.assert_allclose(project(homography, points), expected, atol=1e-9)
    np.testing.assert_allclose(project(shift(5, -2), points), points + [5, -2])


@pytest.mark.parametrize(
    "polygon",
    [
        [[-20, 10], [30, -15], [60, 40], [5, 70]],  # straddles two edges
        [[10, 10], [50, 12], [45, 40], [12, 35]],  # wholly inside
        [[80, 10], [95, 20], [85, 40]],  # wholly outside
        [[-100, -100], [200, -100], [200, 200], [-100, 200]],  # covers the box
    ],
)
def test_clip_convex_keeps_what_opencv_finds_inside(polygon):
    polygon = np.array(polygon, float)
    outline = box(64, 48)
    expected, _ = cv2.intersectConvexConvex(polygon.astype(np.float32), outline.astype(np.float32))
    clipped = clip_convex(polygon, outline)
    assert area(clipped) == pytest.approx(expected, abs=1e-3)
    assert clipped.shape[1] == 2
    if len(clipped):
        assert np.all(clipped >= outline[0] - 1e-9) and np.all(clipped <= outline[2] + 1e-9)


def test_resize_map_follows_a_real_resize_of_a_bright_spot():
    image = np.zeros((100, 200), np.float32)
    cv2.circle(image, (61, 37), 6, 255, -1)
    for to_size in ((300, 150), (80, 40)):
        resized = cv2.resize(image, to_size, interpolation=cv2.INTER_LINEAR if to_size[0] > 200 else cv2.INTER_AREA)
        moments = cv2.moments(resized)
        centroid = np.array([moments["m10"], moments["m01"]]) / moments["m00"]
        (mapped,) = project(resize_map((200, 100), to_size), np.array([[61.0, 37.0]]))
        np.testing.assert_allclose(mapped, centroid, atol=0.1)
    # Edges map onto edges, and the map there and back is the identity.
    np.testing.assert_allclose(project(resize_map((200, 100), (50, 25)), box(200, 100)), box(50, 25))
    np.testing.assert_allclose(resize_map((200, 100), (50, 25)) @ resize_map((50, 25), (200, 100)), np.eye(3))


@pytest.mark.parametrize(
    "matrix, reason",
    [
        ([[0.5, 0.1, 20], [-0.1, 0.5, 30], [0.0001, 0.0002, 1]], ""),
        ([[-1, 0, 479], [0, 1, 0], [0, 0, 1]], "the work's outline is mirrored"),
        ([[1, 0, 0], [0, 1, 0], [-0.004, 0, 1]], "the work's outline crosses the horizon"),
        ([[1, 0, 0], [0, 0.05, 0], [0, 0, 1]], "stretched 20.0x more one way than the other (> 4)"),
        ([[1, 0, 0], [0, 0, 0], [0, 0, 1]], "the work's outline collapses to a line"),
    ],
)
def test_implausible_transforms_are_named(matrix, reason):
    assert degeneracy(np.array(matrix, float), box(480, 360), max_anisotropy=4) == reason


def test_ncc_is_one_for_a_brightened_copy_and_zero_for_a_flat_image():
    castle = gray("castle.jpg").astype(np.float64)
    assert ncc(castle, 0.5 * castle + 40) == pytest.approx(1.0)
    assert ncc(castle, -castle) == pytest.approx(-1.0)
    assert ncc(castle, np.full_like(castle, 128.0)) == 0.0


def test_tiled_ncc_sees_a_copy_through_a_caption_that_spoils_the_whole_footprint_comparison():
    work = gray("castle.jpg")
    captioned = Image.fromarray(work.copy())
    ImageDraw.Draw(captioned).rectangle((0, 0, 110, 80), fill=255)  # a solid box over a quarter
    captioned = np.asarray(captioned)
    mask = np.ones(work.shape, bool)
    a, b = work.astype(np.float64), captioned.astype(np.float64)
    assert ncc(a, b) < 0.9
    assert tiled_ncc(a, b, mask) > 0.99
    unrelated = gray("coffee.jpg").astype(np.float64)
    assert abs(tiled_ncc(a, unrelated, mask)) < 0.5


def test_tiled_ncc_leaves_out_tiles_without_structure():
    work = gray("castle.jpg").astype(np.float64)
    other = work.copy()
    other[:, :120] = np.random.default_rng(0).normal(128, 40, (180, 120))  # the left half unrelated
    mask = np.ones(work.shape, bool)
    assert tiled_ncc(work, other, mask) > 0.99  # the better half: the right half's tiles
    # Where the structure map is flat (the right half), tiles carry no evidence: only the left counts.
    structure = work.copy()
    structure[:, 120:] = 0
    assert abs(tiled_ncc(work, other, mask, structure=structure, min_structure=1.0)) < 0.2
    # With fewer than four tiles left, the whole mask is compared at once.
    structure[45:, :] = 0  # one tile of structure left, at the top left
    structure[:, 60:] = 0
    assert tiled_ncc(work, other, mask, structure=structure, min_structure=1.0) == pytest.approx(ncc(work, other))
