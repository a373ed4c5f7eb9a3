"""Local features (SIFT or ORB keypoints and descriptors) of one image, for geometric verification.

A work's features are extracted once at registration and cached as bytes (`LocalFeatures.to_bytes`);
a candidate's are extracted once per image. Keypoint coordinates are always expressed in the
ORIGINAL image's pixels (pixel centres at integer coordinates, as OpenCV places them), whatever
size the image was analysed at, so that a fitted transform can be drawn on the original files.
"""

from __future__ import annotations

import encodings.cp437  # noqa: F401 (zipfile decodes the cached blob's member names with it: loaded before workers fork)
import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

KINDS = ("sift", "orb")
DEFAULT_ANALYSE_SIDE = 1024
#: A region of a candidate (`extract_region`) is seen at about this long side: a smaller one is enlarged, at most
#: `REGION_MAX_ENLARGE` times (a work pasted at a third of its size then offers keypoints at the finer scales its
#: registered features have), a larger one is reduced. A region that large holds a copy at least that large, which
#: keeps its keypoints at 512 px; seen at up to 1024 px, the photo of a web banner cost 17 ms.
REGION_SIDE = 512
#: Beyond twice, enlarging invents no detail (SIFT already doubles internally) and costs time.
REGION_MAX_ENLARGE = 2.0
#: Keypoints kept of a region, as many as the screen keeps of the whole image (`cascade.Gates.coarse_features`):
#: a small copy given a region of its own fills most of it, and a quarter of them is verification's 15 inliers
#: many times over. At 1,500, a gradient in clip art or the photo of a banner was described 3,000 times.
REGION_FEATURES = 500

_FORMAT_VERSION = 1
# RootSIFT components lie in [0, 1]; 8 bits per component keep matching unchanged and make the
# cached blob four times smaller than float32. Descriptors are quantised in memory too, so a
# round trip through bytes gives back exactly the same values.
_SIFT_LEVELS = 255.0
# Keypoints are spread over a GRID x GRID partition of the image (see `_strongest_spread`).
_GRID = 4
# A one-pass extraction (`extract(one_pass=True)`) describes this many times the keypoints it keeps.
_ONE_PASS_CHOICE = 2
#: SIFT keypoints under which an image analysed at its own size (a small picture, not a reduced large one) is
#: looked at again with `_LOW_CONTRAST` (OpenCV's default is 0.04): a quarter of 100 keypoints still gives a crop of
#: a quarter of the image verification's 15 inliers (`verify.Verifier.min_inliers`) at a typical share of 60%. A
#: photo 300 px wide, smooth as an apple on a plain ground, has too few strong extrema for that, and its fainter
#: ones survive a crop as well. A reduced image is left alone: most unrelated images a crawl brings (clip art,
#: banners, charts) have few keypoints at the screen's 256 px, and looking again would cost them a second pass.
_FEW_KEYPOINTS = 100
_LOW_CONTRAST = 0.02
# OpenCV's default contrast threshold and layers per octave: a keypoint of a pass at `_LOW_CONTRAST` is one a
# default pass finds too when its response times the layers reaches the default threshold (compared in float, as
# OpenCV does), so a small image, which nearly always needs the second look, is detected once at the lower threshold
# and its fainter keypoints dropped when the strong ones suffice (`_sift`, `_without_faint`).
_CONTRAST = 0.04
_OCTAVE_LAYERS = 3
#: Long side up to which an image seen at its own size is detected at `_LOW_CONTRAST` first (`_sift`).
_FAINT_FIRST_SIDE = 256
_DESCRIPTOR_SHAPE = {"sift": (128, np.float32), "orb": (32, np.uint8)}
# SIFT orientation bin k of an image is bin -k (mod 8) of its mirror image (see `mirror_of`).
_MIRRORED_ORIENTATION = (-np.arange(8)) % 8
#: Component i of a SIFT descriptor of the mirror image is component MIRROR_PERMUTATION[i] of the image's (see
#: `mirror_of`); the shortlist index trains its lists in mirror pairs with it (`index.local`).
MIRROR_PERMUTATION = np.arange(128).reshape(4, 4, 8)[::-1, :, _MIRRORED_ORIENTATION].ravel()


@dataclass(frozen=True, eq=False)  # eq=False: comparing numpy arrays with == has no single truth value
class LocalFeatures:
    """Keypoints and descriptors of one image.

    kind: "sift" (RootSIFT descriptors, float32[n, 128], quantised to 8 bits) or "orb" (uint8[n, 32]).
    points: float32[n, 2], x, y of each keypoint in original image pixels.
    width, height: the original image size in pixels.
    """

    kind: str
    points: np.ndarray
    descriptors: np.ndarray
    width: int
    height: int

    def __len__(self) -> int:
        return len(self.points)

    def to_bytes(self) -> bytes:
        """A compact, versioned blob (an .npz archive without pickles) for caching in the store."""
        stored = self.descriptors
        if self.kind == "sift":
            stored = np.rint(self.descriptors * _SIFT_LEVELS).astype(np.uint8)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            version=np.array(_FORMAT_VERSION),
            kind=np.array(self.kind),
            size=np.array([self.width, self.height], dtype=np.int64),
            points=self.points.astype(np.float32),
            descriptors=stored,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LocalFeatures:
        """Read a blob written by `to_bytes`; refuses anything else with a ValueError saying why."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except Exception as e:
            raise ValueError(
                f"local features blob ({len(data)} bytes) is not an archive written by "
                f"LocalFeatures.to_bytes ({e}); re-extract the image's features."
            ) from e
        missing = {"version", "kind", "size", "points", "descriptors"} - set(arrays)
        if missing:
            raise ValueError(
                f"local features blob lacks {', '.join(sorted(missing))}; "
                "it was not written by LocalFeatures.to_bytes; re-extract the image's features."
            )
        version = int(arrays["version"])
        if version != _FORMAT_VERSION:
            raise ValueError(
                f"local features blob has format version {version}; this copyhound reads version "
                f"{_FORMAT_VERSION}; re-extract the image's features (e.g. register the work again)."
            )
        kind = str(arrays["kind"])
        descriptors = arrays["descriptors"]
        if kind == "sift":
            descriptors = descriptors.astype(np.float32) / np.float32(_SIFT_LEVELS)
        width, height = (int(v) for v in arrays["size"])
        return cls(kind, arrays["points"], descriptors, width, height)


def empty(kind: str, original_size: tuple[int, int]) -> LocalFeatures:
    """No keypoints, for an image of `original_size` (width, height)."""
    dim, dtype = _DESCRIPTOR_SHAPE[kind]
    return LocalFeatures(kind, np.zeros((0, 2), np.float32), np.zeros((0, dim), dtype), *original_size)


def extract(
    image: Image.Image,
    kind: str = "sift",
    max_features: int = 1500,
    analyse_side: int = DEFAULT_ANALYSE_SIDE,
    original_size: tuple[int, int] | None = None,
    one_pass: bool = False,
) -> LocalFeatures:
    """Detect keypoints and describe them.

    `image` may already be a reduced copy of the original (as intake decodes it); `original_size`
    is the full-resolution (width, height) it stands for, and defaults to the image's own size.
    The image is analysed in grayscale with its long side brought down to `analyse_side` (never
    enlarged: SIFT upsamples internally). At most `max_features` keypoints are kept: the strongest,
    but spread over the image so that one busy corner cannot crowd out the rest of it.
    A flat or tiny image yields zero keypoints rather than an error.

    `one_pass` (SIFT): detect and describe in one pass, spreading the keypoints chosen among the
    `_ONE_PASS_CHOICE` x `max_features` strongest rather than among all: about a fifth cheaper, what the
    cascade's screen uses, for the whole image and its regions (`extract_region`). Registered works and the full
    stage use two passes.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(repr(k) for k in KINDS)}; got {kind!r}.")
    if max_features < 1:
        raise ValueError(f"max_features must be at least 1; got {max_features}.")
    width, height = original_size or image.size
    gray = np.asarray(image.convert("L"))
    # SIFT doubles the image internally; ORB does not, and its 31 px patches find little in a
    # thumbnail, so small images are enlarged to half the analysis side for ORB.
    smallest_side = 0 if kind == "sift" else analyse_side // 2
    scale = min(1.0, analyse_side / max(gray.shape)) if max(gray.shape) >= smallest_side else smallest_side / max(gray.shape)
    if scale != 1.0:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)

    if kind == "sift":
        keypoints, descriptors, detector = _sift(gray, scale >= 1, max_features, one_pass)
    else:
        # ORB's own cap ranks by Harris score per pyramid level; ask for more than needed so the
        # spreading below still has a choice.
        detector = cv2.ORB_create(nfeatures=max_features * 3, scoreType=cv2.ORB_HARRIS_SCORE)
        keypoints, descriptors = detector.detect(gray, None), None
    chosen = _strongest_spread(keypoints, gray.shape[1], gray.shape[0], max_features)
    keypoints = [keypoints[i] for i in chosen]
    if descriptors is not None:  # described in one pass, among the strongest: keep the chosen ones' descriptors
        descriptors = descriptors[chosen] if chosen else None
    elif keypoints:
        # compute() may drop keypoints (ORB near the border), so keep the ones it returns.
        keypoints, descriptors = detector.compute(gray, keypoints)
    if descriptors is None or not keypoints:
        return empty(kind, (width, height))

    if kind == "sift":
        descriptors = _root_sift(descriptors)
    analysed = cv2.KeyPoint_convert(keypoints).astype(np.float64)
    # Pixel centres sit at integer coordinates, so scale about the pixel edge (x + 0.5).
    factor = np.array([width / gray.shape[1], height / gray.shape[0]])
    points = ((analysed + 0.5) * factor - 0.5).astype(np.float32)
    return LocalFeatures(kind, points, descriptors.astype(_DESCRIPTOR_SHAPE[kind][1]), width, height)


def mirror_of(feats: LocalFeatures) -> LocalFeatures:
    """The SIFT features of the mirror image (flipped left to right) of the image `feats` describe, without
    extracting them again: what the screen uses for the mirror image, at no cost.

    SIFT finds the same keypoints in a mirror image (mirrored), and their descriptors are the same
    histograms permuted: in the keypoint's own frame, a left-right flip keeps the axis along the keypoint's
    orientation and reverses the one across it, so OpenCV's 4x4 spatial bins (rows across, columns along)
    swap rows, and each gradient's angle to the orientation changes sign, so orientation bin k becomes
    bin -k (mod 8). RootSIFT acts on each component alone, so it permutes the same way.
    """
    if feats.kind != "sift":
        raise ValueError(f"only SIFT descriptors can be mirrored by permutation; {feats.kind} ones must be extracted "
                         "from the mirror image.")
    points = feats.points.copy()
    points[:, 0] = feats.width - 1 - points[:, 0]
    return LocalFeatures(feats.kind, points, np.ascontiguousarray(feats.descriptors[:, MIRROR_PERMUTATION]),
                         feats.width, feats.height)


def extract_region(image: Image.Image, box: tuple[int, int, int, int], kind: str = "sift",
                   original_size: tuple[int, int] | None = None) -> LocalFeatures:
    """Local features of the part of `image` inside `box` (left, top, right, bottom in `image` pixels),
    seen at a long side of about `REGION_SIDE` (`REGION_FEATURES` keypoints at most), with keypoints in the whole
    ORIGINAL image's pixels.

    The result stands for the whole image (its width and height are the original's), so a
    transform fitted to it maps a work into the candidate exactly as one fitted to the whole
    image's features does.
    """
    left, top, right, bottom = box
    if not (0 <= left < right <= image.width and 0 <= top < bottom <= image.height):
        raise ValueError(f"box {box} is not inside the {image.width}x{image.height} image; "
                         "give (left, top, right, bottom) with left < right <= width and top < bottom <= height.")
    crop = image.crop(box)
    enlarge = min(REGION_MAX_ENLARGE, max(1.0, REGION_SIDE / max(crop.size)))
    size = (round(crop.width * enlarge), round(crop.height * enlarge))
    seen = crop.resize(size, Image.Resampling.BICUBIC) if enlarge > 1 else crop
    side = REGION_SIDE if kind == "sift" else 2 * REGION_SIDE  # ORB does not double its input as SIFT does
    local = extract(seen, kind=kind, max_features=REGION_FEATURES, analyse_side=side, one_pass=True)
    width, height = original_size or image.size
    # Pixel centres at integer coordinates: scale about pixel edges, from the enlarged crop to the
    # crop, shift to the image, then scale to the original.
    to_crop = np.array([crop.width / seen.width, crop.height / seen.height])
    to_original = np.array([width / image.width, height / image.height])
    in_image = (local.points + 0.5) * to_crop + np.array([left, top])
    points = (in_image * to_original - 0.5).astype(np.float32)
    return LocalFeatures(kind, points, local.descriptors, width, height)


def _sift(gray: np.ndarray, own_size: bool, max_features: int, one_pass: bool):
    """SIFT keypoints of `gray`, their descriptors when found in one pass (else None), and the detector that found
    them. An image seen at its own size is looked at again at `_LOW_CONTRAST` when the default contrast finds fewer
    than `_FEW_KEYPOINTS` in it. A small one nearly always is (301 of the 342 images SIFT sees at their own size of
    at most 256 px among 800 of the crawl mix), so it is detected once at the lower contrast and its fainter
    keypoints dropped where the default contrast's suffice (`_without_faint`): the same keypoints for one pass
    instead of two. A larger one, a region seen at about 512 px, rarely needs the second look, and a pass at the
    lower contrast would describe its fainter keypoints in vain (a region of the quality set: 41.6 ms against 38.8)."""
    def detect(contrast: float):
        sift = cv2.SIFT_create(nfeatures=_ONE_PASS_CHOICE * max_features if one_pass else 0, contrastThreshold=contrast)
        keypoints, descriptors = sift.detectAndCompute(gray, None) if one_pass else (sift.detect(gray, None), None)
        return keypoints, descriptors, sift

    if own_size and max(gray.shape) <= _FAINT_FIRST_SIDE:
        keypoints, descriptors, sift = detect(_LOW_CONTRAST)
        return (*_without_faint(keypoints, descriptors, max_features), sift)
    keypoints, descriptors, sift = detect(_CONTRAST)
    if own_size and len(keypoints) < min(_FEW_KEYPOINTS, max_features):
        keypoints, descriptors, sift = detect(_LOW_CONTRAST)
    return keypoints, descriptors, sift


def _without_faint(keypoints, descriptors, max_features: int):
    """SIFT keypoints found at `_LOW_CONTRAST` (and their descriptors, if any) as a pass at OpenCV's default
    threshold would have them, unless it would have found fewer than `_FEW_KEYPOINTS` (or `max_features`): then all
    of them, the second look at the fainter extrema."""
    responses = np.fromiter((keypoint.response for keypoint in keypoints), np.float32, len(keypoints))
    strong = np.flatnonzero(responses * np.float32(_OCTAVE_LAYERS) >= np.float32(_CONTRAST))
    if len(strong) < min(_FEW_KEYPOINTS, max_features):
        return keypoints, descriptors
    return [keypoints[i] for i in strong], (descriptors[strong] if descriptors is not None else None)


def _root_sift(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT (Arandjelovic & Zisserman 2012): L1-normalise, then square-root.

    Euclidean distance between RootSIFT vectors is the Hellinger distance between the original
    histograms, which matches better than SIFT's plain Euclidean distance at no extra cost.
    """
    descriptors = descriptors.astype(np.float32)
    sums = descriptors.sum(axis=1, keepdims=True)
    root = np.sqrt(descriptors / np.maximum(sums, 1e-7))
    return (np.rint(root * _SIFT_LEVELS) / _SIFT_LEVELS).astype(np.float32)


def _strongest_spread(keypoints, width: int, height: int, limit: int) -> list[int]:
    """The indices of the `limit` strongest `keypoints`, at most an equal share from each grid cell first.

    Every cell first takes its strongest keypoints up to limit / cells; whatever budget the empty
    or sparse cells leave goes to the strongest of the rest, wherever they are.
    """
    if len(keypoints) <= limit:
        return list(range(len(keypoints)))
    responses = np.fromiter((keypoint.response for keypoint in keypoints), np.float64, len(keypoints))
    angles = np.fromiter((keypoint.angle for keypoint in keypoints), np.float64, len(keypoints))
    points = cv2.KeyPoint_convert(keypoints)
    # Strongest first; ties (a keypoint described at two orientations) by place and angle, not by the order
    # OpenCV returned them in, which its own choice of the strongest shuffles.
    ranked = np.lexsort((angles, points[:, 1], points[:, 0], -responses))
    points = points[ranked]
    cells = (np.minimum((points[:, 0] * _GRID / width).astype(np.int64), _GRID - 1) * _GRID
             + np.minimum((points[:, 1] * _GRID / height).astype(np.int64), _GRID - 1))
    # Each keypoint's rank among the stronger ones of its own cell.
    by_cell = np.argsort(cells, kind="stable")
    starts = np.searchsorted(cells[by_cell], cells[by_cell])
    rank_in_cell = np.empty(len(cells), np.int64)
    rank_in_cell[by_cell] = np.arange(len(cells)) - starts
    quota = -(-limit // (_GRID * _GRID))
    within = rank_in_cell < quota
    chosen = ranked[within][:limit]
    return chosen.tolist() + ranked[~within][: limit - len(chosen)].tolist()


def spread_sample(feats: LocalFeatures, limit: int, grid: int = _GRID) -> np.ndarray:
    """Indices of up to `limit` keypoints, an equal share per grid cell, strongest (first) first.

    What a work keeps in the shortlist index: spread over its area so that a crop of any part
    of it still finds voters.
    """
    if len(feats) <= limit:
        return np.arange(len(feats))
    cells = (np.minimum((feats.points[:, 0] * grid / feats.width).astype(int), grid - 1) * grid
             + np.minimum((feats.points[:, 1] * grid / feats.height).astype(int), grid - 1))
    rank_in_cell = np.zeros(len(feats), dtype=int)
    seen: dict[int, int] = {}
    for i, cell in enumerate(cells):
        rank_in_cell[i] = seen.get(int(cell), 0)
        seen[int(cell)] = rank_in_cell[i] + 1
    # Round-robin over cells: every cell's best, then every cell's second best, and so on.
    order = np.lexsort((np.arange(len(feats)), rank_in_cell))
    return np.sort(order[:limit])
