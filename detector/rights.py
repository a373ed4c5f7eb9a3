"""Who made and owns an image, as its embedded EXIF, IPTC and XMP metadata claims; and whether a page is a
use its owner declared licensed (`authorized`).

The metadata comes from hostile files too, so it is parsed with size caps and without XML entity
expansion, and every value is cut to a bounded length of clean text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from PIL import Image, IptcImagePlugin

_EXIF_ARTIST, _EXIF_COPYRIGHT = 0x013B, 0x8298
_IPTC_BYLINE, _IPTC_CREDIT, _IPTC_COPYRIGHT = (2, 80), (2, 110), (2, 116)

_NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_NS_DC = "http://purl.org/dc/elements/1.1/"
_NS_XMP_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"
_NS_PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
_NS_PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Real XMP packets are a few KB (tens with padding); anything far larger is not worth parsing.
_XMP_MAX_BYTES = 1_000_000
# Rights strings end up in reports and notices; a hostile file must not fill them with megabytes.
_FIELD_MAX_CHARS = 1000


@dataclass(frozen=True)
class RightsMetadata:
    """Who made and owns an image, as its embedded metadata claims (unverified, may be absent).

    Each field takes the first source that has it, in this order: EXIF, IPTC, XMP.
    """

    creator: str | None = None  # EXIF Artist, IPTC By-line, XMP dc:creator
    copyright: str | None = None  # EXIF Copyright, IPTC CopyrightNotice, XMP dc:rights
    rights_url: str | None = None  # XMP xmpRights:WebStatement, else PLUS LicensorURL (http/https only)
    credit: str | None = None  # IPTC Credit, XMP photoshop:Credit

    def as_dict(self) -> dict[str, str]:
        """Only the fields that are present."""
        return {key: value for key, value in asdict(self).items() if value}


def read_rights(image: Image.Image) -> RightsMetadata:
    """Rights metadata from an opened image's EXIF, IPTC and XMP; whatever is malformed is skipped."""
    sources = (_exif_rights(image), _iptc_rights(image), _xmp_rights(_xmp_packet(image)))

    def first(key: str) -> str | None:
        return next((found[key] for found in sources if found.get(key)), None)

    return RightsMetadata(
        creator=first("creator"), copyright=first("copyright"), rights_url=first("rights_url"), credit=first("credit")
    )


def _text(value) -> str | None:
    """Metadata value (str, bytes or a list of them) as clean text, or None when empty."""
    if isinstance(value, (list, tuple)):
        parts = [_text(v) for v in value]
        return _text("; ".join(p for p in parts if p))
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    # EXIF Copyright separates photographer and editor with NUL; other NULs are padding.
    parts = [part.strip() for part in value.split("\x00")]
    text = "; ".join(part for part in parts if part)
    return text[:_FIELD_MAX_CHARS] or None


def _exif_rights(image: Image.Image) -> dict[str, str | None]:
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 (Pillow raises many kinds on hostile metadata)
        return {}
    return {"creator": _text(exif.get(_EXIF_ARTIST)), "copyright": _text(exif.get(_EXIF_COPYRIGHT))}


def _iptc_rights(image: Image.Image) -> dict[str, str | None]:
    try:
        iptc = IptcImagePlugin.getiptcinfo(image) or {}
    except Exception:  # noqa: BLE001 (Pillow raises many kinds on hostile metadata)
        return {}
    return {
        "creator": _text(iptc.get(_IPTC_BYLINE)),
        "copyright": _text(iptc.get(_IPTC_COPYRIGHT)),
        "credit": _text(iptc.get(_IPTC_CREDIT)),
    }


def _xmp_packet(image: Image.Image) -> bytes | None:
    # JPEG, WebP, GIF and TIFF keep it as "xmp"; PNG as the iTXt keyword Adobe uses.
    packet = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    return packet if isinstance(packet, bytes) else None


def _xmp_rights(packet: bytes | None) -> dict[str, str | None]:
    root = _parse_xmp(packet) if packet else None
    if root is None:
        return {}
    url = _xmp_value(root, _NS_XMP_RIGHTS, "WebStatement") or _xmp_value(root, _NS_PLUS, "LicensorURL")
    return {
        "creator": _xmp_value(root, _NS_DC, "creator"),
        "copyright": _xmp_value(root, _NS_DC, "rights"),
        # Only web links: a "javascript:" or "file:" URL from a hostile file must never become a link.
        "rights_url": url if url and url.lower().startswith(("http://", "https://")) else None,
        "credit": _xmp_value(root, _NS_PHOTOSHOP, "Credit"),
    }


def _parse_xmp(packet: bytes) -> ET.Element | None:
    """The XMP tree, or None when the packet is too big, malformed or declares a DOCTYPE.

    A packet with a DOCTYPE could declare entities (billion laughs, external files); XMP never
    needs one, so such packets are ignored and nothing is ever expanded.
    """
    if len(packet) > _XMP_MAX_BYTES:
        return None
    packet = packet.strip(b"\x00 \t\r\n")
    upper = packet.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        return None
    try:
        return ET.fromstring(packet)
    except ET.ParseError:
        return None


def _xmp_value(root: ET.Element, namespace: str, name: str) -> str | None:
    """A property as an rdf:Description attribute, simple element, or rdf:Alt/Seq/Bag of items."""
    tag = f"{{{namespace}}}{name}"
    for description in root.iter(f"{{{_NS_RDF}}}Description"):
        if tag in description.attrib:
            return _text(description.attrib[tag])
    for element in root.iter(tag):
        items = list(element.iter(f"{{{_NS_RDF}}}li"))
        if items:
            if any(_XML_LANG in item.attrib for item in items):
                # A language alternative: the default language, else the first one given.
                chosen = [item for item in items if item.get(_XML_LANG) == "x-default"] or items[:1]
                return _text([item.text or "" for item in chosen])
            return _text([item.text or "" for item in items])
        value = _text(element.text or "") or _text(element.get(f"{{{_NS_RDF}}}resource") or "")
        if value:
            return value
    return None


def authorized(page_url: str, image_url: str, patterns: list[str]) -> bool:
    """A declared licensed use: a domain (and its sub-domains) or a URL prefix."""
    host = (urlsplit(page_url).hostname or "").lower()
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if "://" in pattern:
            if page_url.lower().startswith(pattern) or image_url.lower().startswith(pattern):
                return True
        elif host == pattern or host.endswith("." + pattern):
            return True
    return False
