"""Recognise an image format from its first bytes, never from a file name or Content-Type.

Names and headers lie (a crawler meets HTML error pages served as `photo.jpg`), magic bytes
rarely do. This module is pure and imports nothing outside the standard library, because the
crawler uses it to decide what to keep without pulling in the decoder.
"""

from __future__ import annotations

IMAGE_FORMATS = frozenset({"jpeg", "png", "webp", "gif", "bmp", "tiff"})
"""The raster formats intake decodes. SVG is recognised (to refuse it clearly) but not accepted."""

# Sizes of the BMP info header that follows the 14-byte file header; "BM" alone is too weak a
# signature (plenty of text starts with "BM").
_BMP_INFO_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})

# How far into a text file an `<svg` root may start (after a prolog, comments or a doctype).
_SVG_WINDOW = 4096


def sniff(data: bytes) -> str | None:
    """The image format of `data`: "jpeg", "png", "webp", "gif", "bmp", "tiff", "svg" or None.

    Only the leading bytes are looked at, so this is cheap on any input. None means "not an
    image we recognise"; `describe` says what it looks like instead.
    """
    head = bytes(data[:16])
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM" and len(data) >= 18 and int.from_bytes(data[14:18], "little") in _BMP_INFO_HEADER_SIZES:
        return "bmp"
    # Classic TIFF ("*" = 42) and BigTIFF ("+" = 43), little- and big-endian.
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if _is_svg(data):
        return "svg"
    return None


def _leading_text(data: bytes) -> str:
    """The start of `data` as lower-case text with any BOM and leading whitespace removed."""
    window = bytes(data[:_SVG_WINDOW])
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if window.startswith(bom):
            return window[len(bom):].decode(encoding, errors="ignore").lstrip().lower()
    return window.decode("utf-8", errors="ignore").lstrip().lower()


def _is_svg(data: bytes) -> bool:
    text = _leading_text(data)
    if text.startswith("<svg"):
        return True
    # An XML prolog, comment or doctype may precede the root; then the root must be <svg.
    return text.startswith(("<?xml", "<!--", "<!doctype svg")) and "<svg" in text


def describe(data: bytes) -> str:
    """A few words on what non-image `data` looks like, for refusal messages ("an HTML page")."""
    if not data:
        return "nothing (zero bytes)"
    head = bytes(data[:64])
    text = _leading_text(data)
    if text.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in text[:512]:
        return "an HTML page"
    if head.startswith(b"%PDF-"):
        return "a PDF document"
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("ascii", errors="replace").strip()
        return f"an ISO media file (brand {brand!r}: AVIF/HEIC images and MP4 video are not accepted)"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    if text.startswith(("{", "[")):
        return "JSON text"
    if text.startswith("<"):
        return "XML or markup text"
    if _looks_like_text(head):
        return "plain text"
    return f"unrecognised binary data (first bytes {head[:8].hex(' ')})"


def _looks_like_text(head: bytes) -> bool:
    decoded = head.decode("utf-8", errors="ignore")
    # Allow a multi-byte character cut off at the end of the window, nothing else undecodable.
    if not decoded or len(decoded.encode("utf-8")) < len(head) - 3:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in decoded)
