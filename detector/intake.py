"""Safe image intake: untrusted bytes in, one RGB working image and its rights metadata out.

Both a rights holder's files (`register`) and hostile bytes from the web (crawled candidates)
pass through `decode_image`. It trusts nothing it is given: the format comes from magic bytes,
the pixel count is checked from the header before any pixel is decoded, and truncated files are
refused rather than padded (rights metadata is read by `detector.rights`).
Every refusal is an `ImageRefused` with a stable reason code (stored with the refusal):
empty, too_large, not_image, svg_unsupported, corrupt, decompression_bomb, too_small,
unsupported_mode.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, TiffImagePlugin, WebPImagePlugin  # noqa: F401 (registered on import: see below)

from detector.config import IntakeSettings
from detector.errors import ImageRefused
from detector.rights import RightsMetadata, read_rights
from detector.sniff import IMAGE_FORMATS, describe, sniff

ACCEPTED = "JPEG, PNG, WebP, GIF, BMP or TIFF"

# Pillow is only allowed to try the plugin of the sniffed format, never to guess among all of them.
_PILLOW_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF", "bmp": "BMP", "tiff": "TIFF"}
_DISPLAY_NAME = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "gif": "GIF", "bmp": "BMP", "tiff": "TIFF"}
assert set(_PILLOW_FORMAT) == set(_DISPLAY_NAME) == IMAGE_FORMATS

# Pillow imports its decoders on the first open: the common ones then, the rest (TIFF, WebP) when one is asked
# for. Loaded with this module, they are in place before detection forks its workers, which otherwise imported them
# anew in every worker of every scan (and of every watched batch).
Image.preinit()

# Formats whose extra frames mean animation or pages (a JPEG's extra MPF pictures are previews).
_MULTI_FRAME_FORMATS = frozenset({"gif", "webp", "tiff", "png"})

# EXIF orientation -> the transpose that shows the picture upright (ImageOps.exif_transpose's table).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIDEWAYS = frozenset({5, 6, 7, 8})

# Modes Pillow resamples correctly as they are (alpha is premultiplied while resampling), so big
# images are shrunk before conversion. Palette, bilevel, CMYK and deep modes are converted first.
_RESAMPLES_SAFELY = frozenset({"RGB", "L", "RGBA", "LA"})

_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class DecodedImage:
    """An accepted image, ready for fingerprinting.

    `image` is RGB, upright (EXIF orientation applied), alpha composited on white and reduced so
    its long side is at most `work_side`; it carries no metadata. `width`/`height` are the full
    resolution of the upright picture. `frames` counts animation frames or pages (the first is used).
    """

    image: Image.Image
    width: int
    height: int
    format: str
    frames: int
    rights: RightsMetadata


def decode_file(path: Path, settings: IntakeSettings) -> tuple[bytes, DecodedImage]:
    """Read and decode the image at `path`; returns its bytes too (for hashing and storage).

    Reads at most max_bytes + 1 bytes, so a huge file is refused without being read whole.
    A missing or unreadable file raises the usual OSError.
    """
    data = read_file(path, settings)
    return data, decode_image(data, str(path), settings)


def read_file(path: Path, settings: IntakeSettings) -> bytes:
    """The bytes of `path`, or ImageRefused when it holds more than max_bytes (never read whole)."""
    with path.open("rb") as f:
        data = f.read(settings.max_bytes + 1)
        if len(data) > settings.max_bytes:
            raise _too_large(str(path), os.fstat(f.fileno()).st_size, settings)
    return data


def decode_image(data: bytes, name: str, settings: IntakeSettings) -> DecodedImage:
    """Decode untrusted image `data` into a `DecodedImage`, or raise `ImageRefused`.

    `name` (a path, URL or upload name) appears in messages only; the format comes from the bytes.
    Truncated files are refused because Pillow's `ImageFile.LOAD_TRUNCATED_IMAGES` keeps its
    default (False); code that sets it globally would let padded, half-decoded images through.
    """
    fmt = _accepted_format(data, name, settings)
    try:
        # Pillow warns (DecompressionBombWarning) for big images and raises beyond twice that;
        # both become our refusal. Its global MAX_IMAGE_PIXELS is left alone for other code.
        # (Before Python 3.14 warning filters are process-wide, so a concurrent thread may briefly
        # miss this filter; the max_pixels header check below still stands.)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Pillow's UserWarnings ("Corrupt EXIF data", "Tag data larger than file") are routine
            # for files from the web and say nothing the result does not; keep them out of the logs.
            warnings.simplefilter("ignore", UserWarning)
            with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT[fmt]]) as source:
                return _decode_opened(source, name, fmt, settings, data)
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageRefused(
            name,
            "decompression_bomb",
            f"declares more pixels than Pillow will decode safely ({e}). Images up to "
            f"{min(settings.max_pixels, Image.MAX_IMAGE_PIXELS):,} pixels are accepted; downscale it.",
        ) from e
    except MemoryError:
        raise
    except Exception as e:
        # Pillow's plugins raise many exception types on malformed input (OSError for truncation,
        # SyntaxError, ValueError, struct.error, EOFError...); each means these bytes do not decode.
        raise ImageRefused(
            name,
            "corrupt",
            f"starts like a {_DISPLAY_NAME[fmt]} file but cannot be decoded ({type(e).__name__}: {e}). "
            "It is probably truncated or damaged; download or export it again.",
        ) from e


def _accepted_format(data: bytes, name: str, settings: IntakeSettings) -> str:
    """The sniffed format of `data`, after the checks that need no decoder."""
    if not data:
        raise ImageRefused(
            name, "empty", f"is empty (0 bytes). Expected a {ACCEPTED} image; check the file was "
            "saved or downloaded completely."
        )
    if len(data) > settings.max_bytes:
        raise _too_large(name, len(data), settings)
    fmt = sniff(data)
    if fmt == "svg":
        raise ImageRefused(
            name, "svg_unsupported", f"is an SVG (vector) image, which cannot be fingerprinted. "
            f"Accepted: {ACCEPTED}. Export it as a raster PNG or JPEG (at least "
            f"{settings.min_side} pixels per side) and use that instead."
        )
    if fmt is None:
        raise ImageRefused(
            name, "not_image", f"is not an image: its content looks like {describe(data)}. "
            f"Accepted: {ACCEPTED}, recognised by content, not by file name. If it came from a URL, "
            "the server sent something other than the image; provide the image file itself."
        )
    return fmt


def _too_large(name: str, size: int, settings: IntakeSettings) -> ImageRefused:
    return ImageRefused(
        name, "too_large", f"is {size:,} bytes, over the {settings.max_bytes:,}-byte limit "
        "(intake.max_bytes). Re-export it smaller (e.g. as JPEG) or raise intake.max_bytes in config.toml."
    )


def _decode_opened(source: Image.Image, name: str, fmt: str, settings: IntakeSettings, data: bytes) -> DecodedImage:
    stored_width, stored_height = source.size
    # The header's size, before any pixel is decoded: a few KB can declare gigapixels.
    if stored_width * stored_height > settings.max_pixels:
        raise ImageRefused(
            name, "decompression_bomb", f"is {stored_width}x{stored_height} = "
            f"{stored_width * stored_height:,} pixels, over the {settings.max_pixels:,}-pixel limit "
            "(intake.max_pixels); images this large are refused as possible decompression bombs. "
            "Downscale it, or raise intake.max_pixels in config.toml if it is genuine."
        )
    orientation = _orientation(source)
    width, height = (stored_height, stored_width) if orientation in _SIDEWAYS else (stored_width, stored_height)
    if min(width, height) < settings.min_side:
        raise ImageRefused(
            name, "too_small", f"is {width}x{height} pixels; both sides must be at least "
            f"{settings.min_side} pixels (intake.min_side) to be fingerprinted. Use a larger version."
        )
    if fmt == "jpeg":
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, never below the working size.
        source.draft("RGB", _draft_size(source.size, settings.work_side))
    frames = source.n_frames if fmt in _MULTI_FRAME_FORMATS else 1
    picture = _still_webp(data, source.size) if fmt == "webp" and frames == 1 else _loaded(source)
    rights = read_rights(data)
    if picture.mode in _RESAMPLES_SAFELY and "transparency" not in picture.info:
        image = _to_rgb(_shrink(picture, settings.work_side), name)  # convert fewer pixels
    else:
        image = _shrink(_to_rgb(picture, name), settings.work_side)
    if orientation in _UPRIGHT:
        image = image.transpose(_UPRIGHT[orientation])
    # Orientation is applied; dropping the metadata keeps anyone from applying it twice.
    image.info = {}
    return DecodedImage(image, width, height, fmt, frames, rights)


def _loaded(source: Image.Image) -> Image.Image:
    source.load()
    return source


def _still_webp(data: bytes, size: tuple[int, int]) -> Image.Image:
    """A still WebP's pixels, decoded by OpenCV (the header was checked by Pillow first).

    The same libwebp, but straight into one buffer, where Pillow goes through its animation decoder and copies
    the frame twice: 1.3-2.4x the CPU on 4096 px wallpapers. libwebp has no reduced-size decoding that saves
    work (its scaling only resamples the decoded rows; OpenCV's IMREAD_REDUCED_* decodes WebP whole, then
    resizes), so the cheapest full decode is what is on offer."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.shape[1::-1] != size:
        raise ValueError("libwebp could not decode it (the file is probably truncated)")
    if pixels.ndim == 2:
        return Image.fromarray(pixels, "L")
    mode, raw = ("RGBA", "BGRA") if pixels.shape[2] == 4 else ("RGB", "BGR")
    return Image.frombuffer(mode, size, pixels, "raw", raw, 0, 1)


def _draft_size(size: tuple[int, int], work_side: int) -> tuple[int, int]:
    ratio = min(1.0, work_side / max(size))
    return max(1, math.ceil(size[0] * ratio)), max(1, math.ceil(size[1] * ratio))


def _shrink(image: Image.Image, work_side: int) -> Image.Image:
    """`image` with its long side at most `work_side`: a cheap box reduce, then bicubic for the rest.

    Not a box (or Hamming) filter for the rest, though it costs half the CPU: on a 2560x1440 page JPEG (drafted
    to 1280x720, then shrunk by 1.25) its aliased edges gave one unrelated registered photo 200 votes from
    the whole page instead of 20-30; bilinear lost a third of a small embedded copy's region votes."""
    factor = max(image.size) // work_side
    if factor >= 2:
        image = image.reduce(factor)
    if max(image.size) > work_side:
        scale = work_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC)
    return image


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 (Pillow raises many kinds on hostile EXIF)
        return 1  # a malformed EXIF block must not cost the image; show it as stored
    return value if isinstance(value, int) else 1


def _to_rgb(image: Image.Image, name: str) -> Image.Image:
    """8-bit RGB of `image` (a new image), transparency composited on white, deep modes scaled."""
    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or ("transparency" in image.info and mode in ("1", "L", "P", "RGB")):
        return _on_white(image.convert("RGBA"))
    if mode in ("I", "F") or mode.startswith("I;16"):
        return Image.fromarray(_deep_to_8bit(image)).convert("RGB")
    try:
        # Covers RGB (copied), 1, L, P, CMYK (Pillow reads Adobe's inverted CMYK JPEGs as such), YCbCr.
        return image.convert("RGB")
    except ValueError as e:
        raise ImageRefused(
            name, "unsupported_mode", f"uses pixel mode {mode!r}, which cannot be converted to RGB ({e}). "
            "Re-export it as an 8-bit RGB PNG or JPEG."
        ) from e


def _on_white(rgba: Image.Image) -> Image.Image:
    canvas = Image.new("RGB", rgba.size, (255, 255, 255))
    canvas.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return canvas


def _deep_to_8bit(image: Image.Image) -> np.ndarray:
    """Scale 16-bit, 32-bit integer and float pixels into 0..255 (Pillow's own conversion clips)."""
    values = np.asarray(image).astype(np.float32)
    values[~np.isfinite(values)] = 0
    low, high = float(values.min()), float(values.max())
    if image.mode.startswith("I;16") and low >= 0:
        low, high = 0.0, 65535.0
    elif image.mode == "F" and low >= 0 and high <= 1:
        low, high = 0.0, 1.0  # the usual normalised float image
    elif image.mode == "I" and low >= 0 and high <= 255:
        low, high = 0.0, 255.0
    elif image.mode == "I" and low >= 0 and high <= 65535:
        low, high = 0.0, 65535.0  # 16-bit data widened to 32 bits
    # Otherwise stretch the image's own range: there is no conventional white point to use.
    span = high - low or 1.0
    return np.clip(np.rint((values - low) * (255.0 / span)), 0, 255).astype(np.uint8)
