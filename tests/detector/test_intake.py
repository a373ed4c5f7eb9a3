"""Safe intake: every refusal with its reason code and message, every accepted kind of image.

Every file here is made in the test with Pillow or numpy from the bundled demo photos.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps, PngImagePlugin

import detector
from detector.config import IntakeSettings
from detector.errors import ImageRefused
from detector.intake import DecodedImage, decode_file, decode_image
from detector.rights import RightsMetadata
from detector.sniff import IMAGE_FORMATS, sniff

WORKS = Path(detector.__file__).parent / "demo_assets" / "works"
SETTINGS = IntakeSettings()
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def photo(name: str = "astronaut.jpg") -> Image.Image:
    with Image.open(WORKS / name) as im:
        return im.convert("RGB")


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def refusal(data: bytes, name: str = "upload.bin", settings: IntakeSettings = SETTINGS) -> ImageRefused:
    with pytest.raises(ImageRefused) as caught:
        decode_image(data, name, settings)
    return caught.value


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def pixel(decoded: DecodedImage, x: int, y: int) -> tuple[int, int, int]:
    return decoded.image.getpixel((x, y))


def close(actual, expected, tolerance: int = 3) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header declares width x height (pixel data is absent)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def with_iptc(jpeg: bytes, records: dict[tuple[int, int], bytes]) -> bytes:
    """`jpeg` with a Photoshop APP13 segment carrying IPTC-IIM records (Pillow cannot write IPTC)."""
    iim = b"".join(b"\x1c" + bytes(key) + struct.pack(">H", len(value)) + value for key, value in records.items())
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", len(iim)) + iim + b"\0" * (len(iim) % 2)
    payload = b"Photoshop 3.0\0" + resource
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


# --- sniffing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, pillow_format", [
    ("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("gif", "GIF"), ("bmp", "BMP"), ("tiff", "TIFF"),
])
def test_sniff_recognises_each_format_by_its_bytes(fmt, pillow_format):
    assert sniff(encode(photo().resize((64, 64)), pillow_format)) == fmt
    assert fmt in IMAGE_FORMATS


@pytest.mark.parametrize("text", [
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    b'\xef\xbb\xbf  \n<?xml version="1.0" encoding="UTF-8"?>\n<!-- drawn by hand -->\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd"><svg/>',
])
def test_sniff_recognises_svg_after_bom_whitespace_and_prolog(text):
    assert sniff(text) == "svg"
    assert "svg" not in IMAGE_FORMATS


@pytest.mark.parametrize("data", [b"", b"BMW is a car maker", b"<html><body>hi</body></html>", b"%PDF-1.7\n", b"\0" * 32])
def test_sniff_returns_none_for_what_is_not_an_image(data):
    assert sniff(data) is None


def test_format_comes_from_the_bytes_never_from_the_name():
    png = encode(photo().resize((64, 48)), "PNG")
    jpeg = encode(photo().resize((64, 48)), "JPEG")
    assert decode_image(png, "holiday.jpg", SETTINGS).format == "png"
    assert decode_image(jpeg, "holiday.png", SETTINGS).format == "jpeg"
    assert refusal(b"<!DOCTYPE html><html></html>", "holiday.png").reason == "not_image"


def test_sniff_module_does_not_import_pillow():
    # The crawler imports sniff to filter responses; it must not drag the decoder in.
    code = "import sys, detector.sniff; print(sorted(m for m in sys.modules if m.split('.')[0] in ('PIL', 'numpy')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- refusals ---------------------------------------------------------------------------------


def test_empty_file_is_refused():
    error = refusal(b"", "blank.jpg")
    assert error.reason == "empty"
    assert str(error).startswith("blank.jpg: ")
    assert "0 bytes" in error.detail and "JPEG, PNG" in error.detail


def test_html_named_jpg_is_refused_as_not_image_and_called_html():
    page = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>gone</body></html>"
    error = refusal(page, "photo.jpg")
    assert error.reason == "not_image"
    assert "photo.jpg" in str(error)
    assert "HTML page" in error.detail
    assert "JPEG, PNG, WebP, GIF, BMP or TIFF" in error.detail
    assert "not by file name" in error.detail


def test_plain_text_is_described_as_text():
    error = refusal(b"hello, this is a note\n", "note.png")
    assert error.reason == "not_image" and "plain text" in error.detail


def test_svg_is_refused_with_advice_to_export_a_raster():
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><rect/></svg>'
    error = refusal(svg, "logo.svg")
    assert error.reason == "svg_unsupported"
    assert "vector" in error.detail and "raster PNG or JPEG" in error.detail


@pytest.mark.parametrize("pillow_format", ["JPEG", "PNG"])
def test_truncated_files_are_refused_not_padded(pillow_format):
    data = encode(photo(), pillow_format)
    error = refusal(data[: len(data) // 2], f"cut.{pillow_format.lower()}")
    assert error.reason == "corrupt"
    assert f"starts like a {pillow_format} file" in error.detail
    assert "truncated" in error.detail


def test_truncated_large_jpeg_is_refused_even_when_decoded_in_draft_mode():
    data = encode(photo().resize((3000, 2000)), "JPEG")
    assert refusal(data[: int(len(data) * 0.8)]).reason == "corrupt"


def test_header_size_over_max_pixels_is_refused_before_decoding():
    # 8000x8000 = 64M pixels with no real pixel data: decoding would fail as "corrupt", so a
    # "decompression_bomb" refusal shows the header was checked first.
    error = refusal(png_claiming(8000, 8000), "huge.png")
    assert error.reason == "decompression_bomb"
    assert "8000x8000 = 64,000,000 pixels" in error.detail
    assert "40,000,000-pixel limit" in error.detail and "intake.max_pixels" in error.detail


def test_pillow_bomb_error_becomes_a_refusal():
    error = refusal(png_claiming(100_000, 100_000), "bomb.png")
    assert error.reason == "decompression_bomb"


def test_pillow_bomb_warning_becomes_a_refusal_without_touching_its_global_limit():
    limit = Image.MAX_IMAGE_PIXELS
    generous = IntakeSettings(max_pixels=10**9)
    # 100M pixels: above Pillow's warning threshold, below its error threshold and our limit.
    error = refusal(png_claiming(10_000, 10_000), "big.png", generous)
    assert error.reason == "decompression_bomb"
    assert "Pillow" in error.detail
    assert Image.MAX_IMAGE_PIXELS == limit


def test_real_image_over_a_small_max_pixels_is_refused():
    error = refusal(encode(photo(), "JPEG"), "astronaut.jpg", IntakeSettings(max_pixels=100_000))
    assert error.reason == "decompression_bomb"
    assert "512x512 = 262,144 pixels" in error.detail


def test_tiny_image_is_refused_as_too_small():
    error = refusal(encode(photo().resize((20, 20)), "PNG"), "icon.png")
    assert error.reason == "too_small"
    assert "20x20" in error.detail and "at least 32 pixels" in error.detail


def test_oversize_bytes_are_refused():
    data = encode(photo(), "JPEG")
    error = refusal(data, "big.jpg", IntakeSettings(max_bytes=1000))
    assert error.reason == "too_large"
    assert f"{len(data):,} bytes" in error.detail and "1,000-byte limit" in error.detail


def test_decode_file_refuses_an_oversize_file_naming_its_real_size(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(encode(photo(), "PNG"))
    with pytest.raises(ImageRefused) as caught:
        decode_file(path, IntakeSettings(max_bytes=5000))
    assert caught.value.reason == "too_large"
    assert str(path) in str(caught.value)
    assert f"{path.stat().st_size:,} bytes" in caught.value.detail


def test_decode_file_returns_the_bytes_and_the_image(tmp_path):
    path = tmp_path / "coffee.jpg"
    path.write_bytes((WORKS / "coffee.jpg").read_bytes())
    data, decoded = decode_file(path, SETTINGS)
    assert data == path.read_bytes()
    assert (decoded.width, decoded.height, decoded.format, decoded.frames) == (600, 400, "jpeg", 1)
    assert decoded.image.mode == "RGB" and decoded.image.size == (600, 400)


# --- accepted kinds ---------------------------------------------------------------------------


@pytest.mark.parametrize("pillow_format, fmt, options, tolerance", [
    ("WEBP", "webp", {"quality": 95}, 6),
    ("BMP", "bmp", {}, 0),
    ("TIFF", "tiff", {}, 0),
    ("PNG", "png", {}, 0),
])
def test_other_raster_formats_decode_to_the_same_picture(pillow_format, fmt, options, tolerance):
    original = photo("chelsea.jpg")
    decoded = decode_image(encode(original, pillow_format, **options), "cat", SETTINGS)
    assert (decoded.format, decoded.width, decoded.height, decoded.frames) == (fmt, 451, 300, 1)
    assert decoded.image.mode == "RGB"
    assert mean_difference(decoded.image, original) <= tolerance


def test_palette_transparency_is_composited_on_white():
    image = Image.new("P", (64, 64), 0)
    image.putpalette(list(RED + BLUE) + [0] * (256 * 3 - 6))
    image.paste(1, (32, 0, 64, 64))  # right half: palette entry 1, declared transparent
    for pillow_format in ("PNG", "GIF"):
        decoded = decode_image(encode(image, pillow_format, transparency=1), "p", SETTINGS)
        assert pixel(decoded, 10, 10) == RED
        assert pixel(decoded, 50, 10) == WHITE


def test_rgba_transparent_pixels_become_white_and_partial_alpha_blends():
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    image.paste((255, 0, 0, 128), (32, 0, 64, 64))
    decoded = decode_image(encode(image, "PNG"), "rgba.png", SETTINGS)
    assert pixel(decoded, 10, 10) == WHITE
    assert close(pixel(decoded, 50, 10), (255, 127, 127), tolerance=2)


def test_grayscale_with_alpha_is_composited_on_white():
    image = Image.new("LA", (40, 40), (0, 0))
    image.paste((0, 255), (20, 0, 40, 40))
    decoded = decode_image(encode(image, "PNG"), "la.png", SETTINGS)
    assert pixel(decoded, 5, 5) == WHITE and pixel(decoded, 30, 5) == (0, 0, 0)


def test_cmyk_jpeg_with_inverted_adobe_data_keeps_its_colours():
    original = photo("fruits.jpg")
    data = encode(original.convert("CMYK"), "JPEG", quality=95)
    assert "adobe" in Image.open(io.BytesIO(data)).info  # libjpeg wrote Adobe's inverted CMYK
    decoded = decode_image(data, "print.jpg", SETTINGS)
    assert decoded.image.mode == "RGB"
    assert mean_difference(decoded.image, original) < 6  # inverted wrongly it would be a negative


def test_16_bit_png_is_scaled_not_clipped():
    levels = np.zeros((40, 60), np.uint16)
    levels[:, 20:40] = 32768
    levels[:, 40:] = 65535
    image = Image.fromarray(levels)
    assert image.mode == "I;16"
    decoded = decode_image(encode(image, "PNG"), "deep.png", SETTINGS)
    assert close(pixel(decoded, 5, 5), (0, 0, 0), 1)
    assert close(pixel(decoded, 30, 5), (128, 128, 128), 1)
    assert close(pixel(decoded, 50, 5), WHITE, 1)


def test_float_tiff_in_unit_range_is_scaled():
    values = np.full((40, 40), 0.25, np.float32)
    values[:, 20:] = 1.0
    decoded = decode_image(encode(Image.fromarray(values), "TIFF"), "float.tif", SETTINGS)
    assert close(pixel(decoded, 5, 5), (64, 64, 64), 1) and close(pixel(decoded, 30, 5), WHITE, 1)


def test_32_bit_integer_tiff_is_stretched_to_its_range():
    values = np.full((40, 40), 1_000_000, np.int32)
    values[:, 20:] = 3_000_000
    values[0, 0] = 0
    decoded = decode_image(encode(Image.fromarray(values), "TIFF"), "int.tif", SETTINGS)
    assert close(pixel(decoded, 5, 5), (85, 85, 85), 1) and close(pixel(decoded, 30, 5), WHITE, 1)


@pytest.mark.parametrize("mode, pillow_format", [("L", "PNG"), ("1", "BMP")])
def test_grayscale_and_bilevel_become_rgb(mode, pillow_format):
    original = photo().convert(mode)
    decoded = decode_image(encode(original, pillow_format), "gray", SETTINGS)
    rgb = np.asarray(decoded.image)
    assert decoded.image.mode == "RGB"
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert (rgb[..., 0] == np.asarray(original.convert("L"))).all()


def marked_picture() -> Image.Image:
    """60x40: left half red, right half blue, a green square in the top-left corner."""
    image = Image.new("RGB", (60, 40), BLUE)
    image.paste(RED, (0, 0, 30, 40))
    image.paste(GREEN, (0, 0, 10, 10))
    return image


def test_exif_orientation_6_swaps_size_and_turns_the_picture_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees anticlockwise: show it turned clockwise
    decoded = decode_image(encode(marked_picture(), "JPEG", exif=exif, quality=95), "phone.jpg", SETTINGS)
    assert (decoded.width, decoded.height) == (40, 60)
    assert decoded.image.size == (40, 60)
    assert close(pixel(decoded, 35, 4), GREEN, 40)  # the stored top-left corner is now top-right
    assert close(pixel(decoded, 5, 15), RED, 40)  # the stored left half is now the top half
    assert close(pixel(decoded, 20, 50), BLUE, 40)
    assert decoded.image.getexif().get(0x0112) is None  # nobody downstream can rotate it twice


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_exif_transpose(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(marked_picture(), "PNG", exif=exif)
    decoded = decode_image(data, "oriented.png", SETTINGS)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    assert (decoded.width, decoded.height) == expected.size
    assert np.array_equal(np.asarray(decoded.image), np.asarray(expected))


def test_animated_gif_counts_frames_and_uses_the_first():
    frames = [Image.new("RGB", (64, 64), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode_image(data, "anim.gif", SETTINGS)
    assert (decoded.format, decoded.frames) == ("gif", 3)
    assert pixel(decoded, 32, 32) == RED


def test_animated_webp_and_multipage_tiff_count_frames():
    pages = [photo().resize((64, 64)), photo("coffee.jpg").resize((64, 64))]
    webp = decode_image(encode(pages[0], "WEBP", save_all=True, append_images=pages[1:], lossless=True), "a.webp", SETTINGS)
    tiff = decode_image(encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]), "a.tif", SETTINGS)
    assert (webp.format, webp.frames) == ("webp", 2)
    assert (tiff.format, tiff.frames) == ("tiff", 2)
    assert mean_difference(tiff.image, pages[0]) == 0


def test_large_jpeg_is_decoded_reduced_but_reports_its_full_size():
    big = photo().resize((4000, 3000), Image.Resampling.BILINEAR)
    decoded = decode_image(encode(big, "JPEG", quality=85), "big.jpg", SETTINGS)
    assert (decoded.width, decoded.height) == (4000, 3000)
    assert max(decoded.image.size) <= SETTINGS.work_side
    assert decoded.image.size == (1024, 768)
    assert mean_difference(decoded.image, big.resize((1024, 768))) < 6


def test_large_png_is_reduced_to_the_working_size():
    decoded = decode_image(encode(photo().resize((2100, 1400)), "PNG"), "big.png", IntakeSettings(work_side=500))
    assert (decoded.width, decoded.height) == (2100, 1400)
    assert decoded.image.size == (500, 333)


def test_large_rgba_is_shrunk_without_dark_fringes_and_composited_on_white():
    image = photo().resize((2100, 1400)).convert("RGBA")
    image.paste((0, 0, 0, 0), (0, 0, 1050, 1400))  # left half: transparent black
    decoded = decode_image(encode(image, "PNG"), "big.png", IntakeSettings(work_side=500))
    assert decoded.image.size == (500, 333)
    # Near the edge of the transparent half: premultiplied resampling keeps it white, not grey.
    assert pixel(decoded, 247, 100) == WHITE


# --- rights metadata --------------------------------------------------------------------------

XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmpRights:WebStatement="{url}"
    photoshop:Credit="Example Agency">
   <dc:creator><rdf:Seq><rdf:li>Jana Nováková</rdf:li></rdf:Seq></dc:creator>
   <dc:rights><rdf:Alt>
     <rdf:li xml:lang="cs">© 2024 Jana Nováková, všechna práva vyhrazena</rdf:li>
     <rdf:li xml:lang="x-default">© 2024 Jana Nováková</rdf:li>
   </rdf:Alt></dc:rights>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def xmp(url: str = "https://example.org/licence") -> bytes:
    return XMP.replace("{url}", url).encode("utf-8")


def test_exif_and_xmp_rights_read_back_with_exif_first():
    # exiv2 reads EXIF Copyright's photographer part (before the NUL), as the EXIF standard lays it out.
    exif = Image.Exif()
    exif[0x013B] = "Ann Example"
    exif[0x8298] = "(c) 2024 Ann Example\0Edited by Bob"
    data = encode(photo().resize((64, 64)), "JPEG", exif=exif, xmp=xmp())
    rights = decode_image(data, "r.jpg", SETTINGS).rights
    assert rights == RightsMetadata(
        creator="Ann Example",
        copyright="(c) 2024 Ann Example",
        rights_url="https://example.org/licence",
        credit="Example Agency",
    )


def test_xmp_in_png_gives_unicode_creator_and_default_language_rights():
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp().decode("utf-8"))
    rights = decode_image(encode(photo().resize((64, 64)), "PNG", pnginfo=info), "r.png", SETTINGS).rights
    assert rights.creator == "Jana Nováková"
    assert rights.copyright == "© 2024 Jana Nováková"
    assert rights.as_dict() == {
        "creator": "Jana Nováková",
        "copyright": "© 2024 Jana Nováková",
        "rights_url": "https://example.org/licence",
        "credit": "Example Agency",
    }


def test_iptc_rights_read_back_with_latin1_fallback():
    jpeg = encode(photo().resize((64, 64)), "JPEG")
    data = with_iptc(jpeg, {(2, 80): "Zoë Author".encode("latin-1"), (2, 110): b"Wire Service", (2, 116): b"(c) Wire"})
    rights = decode_image(data, "iptc.jpg", SETTINGS).rights
    assert rights.as_dict() == {"creator": "Zoë Author", "copyright": "(c) Wire", "credit": "Wire Service"}


def test_image_without_metadata_has_empty_rights():
    rights = decode_image((WORKS / "castle.jpg").read_bytes(), "castle.jpg", SETTINGS).rights
    assert rights == RightsMetadata() and rights.as_dict() == {}


def test_xmp_with_entities_is_ignored_and_never_expanded():
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "EVIL"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>&b;</dc:creator>'
        b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    decoded = decode_image(encode(photo().resize((64, 64)), "JPEG", xmp=hostile), "x.jpg", SETTINGS)
    assert decoded.rights.creator is None
    assert decoded.image.size == (64, 64)


def test_rights_url_must_be_a_web_link():
    data = encode(photo().resize((64, 64)), "JPEG", xmp=xmp("javascript:alert(1)"))
    rights = decode_image(data, "x.jpg", SETTINGS).rights
    assert rights.rights_url is None and rights.creator == "Jana Nováková"


def test_malformed_xmp_is_skipped_and_the_image_still_decodes():
    data = encode(photo().resize((64, 64)), "JPEG", xmp=b"<x:xmpmeta><unclosed>")
    decoded = decode_image(data, "x.jpg", SETTINGS)
    assert decoded.rights == RightsMetadata() and decoded.format == "jpeg"


# --- still WebP (decoded by OpenCV) ------------------------------------------------------------


def test_large_still_webp_is_reduced_to_the_working_size_and_reports_its_full_size():
    big = photo().resize((2100, 1400), Image.Resampling.BILINEAR)
    decoded = decode_image(encode(big, "WEBP", quality=95), "big.webp", IntakeSettings(work_side=500))
    assert (decoded.width, decoded.height, decoded.format, decoded.frames) == (2100, 1400, "webp", 1)
    assert decoded.image.mode == "RGB" and decoded.image.size == (500, 333)
    assert mean_difference(decoded.image, big.resize((500, 333))) < 3


def test_still_webp_with_alpha_is_composited_on_white():
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (32, 0, 64, 64))
    decoded = decode_image(encode(image, "WEBP", lossless=True), "alpha.webp", SETTINGS)
    assert pixel(decoded, 10, 10) == WHITE
    assert pixel(decoded, 50, 10) == RED


def test_truncated_still_webp_is_refused():
    data = encode(photo(), "WEBP", quality=90)
    error = refusal(data[: len(data) // 2], "cut.webp")
    assert error.reason == "corrupt"
    assert "starts like a WebP file" in error.detail and "truncated" in error.detail
