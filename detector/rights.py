"""Who made and owns an image, and what it says of its use, as its embedded EXIF, IPTC and XMP
metadata claims; and whether a page is a use its owner declared licensed (`authorized`).

The metadata is read with exiv2 (through pyexiv2), the library photo tools themselves use, which
understands every container (JPEG, PNG, WebP, TIFF) and XMP's structures. The files come from
hostile sites too, so every value is cut to a bounded length of clean text, and a web address is
kept only when it is http(s).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import pyexiv2

from detector.text import oneline, safe_href

# exiv2 logs every oddity of a file from the web to stderr; errors still raise and are handled here.
pyexiv2.set_log_level(4)

# Rights strings end up in reports and notices; a hostile file must not fill them with megabytes.
_FIELD_MAX_CHARS = 1000
#: PLUS "Data Mining" values (http://ns.useplus.org/ldf/vocab/DMI-...) and what each says, in words.
DATA_MINING = {
    "DMI-UNSPECIFIED": "says nothing on data mining",
    "DMI-ALLOWED": "allows data mining",
    "DMI-PROHIBITED-AIMLTRAINING": "prohibits its use for training AI or machine-learning models",
    "DMI-PROHIBITED-GENAIMLTRAINING": "prohibits its use for training generative AI or machine-learning models",
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING": "prohibits data mining except for search-engine indexing",
    "DMI-PROHIBITED": "prohibits data mining",
    "DMI-PROHIBITED-SEECONSTRAINT": "restricts data mining, under the constraints it states",
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR": "restricts data mining, as its embedded rights expression states",
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR": "restricts data mining, as its linked rights expression states",
}


@dataclass(frozen=True)
class RightsMetadata:
    """Who made and owns an image, as its embedded metadata claims (unverified, may be absent).

    Each field takes the first source that has it, in this order: EXIF, IPTC, XMP.
    """

    creator: str | None = None  # EXIF Artist, IPTC By-line, XMP dc:creator
    copyright: str | None = None  # EXIF Copyright, IPTC Copyright Notice, XMP dc:rights
    rights_url: str | None = None  # XMP xmpRights:WebStatement (Web Statement of Rights), else PLUS LicensorURL
    credit: str | None = None  # IPTC Credit (Credit Line), XMP photoshop:Credit
    licensor: str | None = None  # PLUS Licensor's name (the first licensor)
    data_mining: str | None = None  # PLUS Data Mining, as its DMI- code (see DATA_MINING)

    def as_dict(self) -> dict[str, str]:
        """Only the fields that are present."""
        return {key: value for key, value in asdict(self).items() if value}


def read_rights(data: bytes) -> RightsMetadata:
    """Rights metadata from an image file's EXIF, IPTC and XMP; a file exiv2 cannot read has none."""
    try:
        with pyexiv2.ImageData(data) as image:
            exif, iptc, xmp = (_read(image.read_exif), _read(image.read_iptc), _read(image.read_xmp))
    except Exception:  # noqa: BLE001 (exiv2 raises many kinds on unknown, broken or hostile files)
        return RightsMetadata()
    url = _web_url(xmp.get("Xmp.xmpRights.WebStatement")) or _web_url(_first_licensor(xmp, "LicensorURL"))
    sources = (
        {"creator": exif.get("Exif.Image.Artist"), "copyright": exif.get("Exif.Image.Copyright")},
        {"creator": iptc.get("Iptc.Application2.Byline"), "copyright": iptc.get("Iptc.Application2.Copyright"),
         "credit": iptc.get("Iptc.Application2.Credit")},
        {"creator": xmp.get("Xmp.dc.creator"), "copyright": xmp.get("Xmp.dc.rights"),
         "credit": xmp.get("Xmp.photoshop.Credit")},
    )

    def first(key: str) -> str | None:
        return next((text for found in sources if (text := _text(found.get(key)))), None)

    return RightsMetadata(
        creator=first("creator"), copyright=first("copyright"), rights_url=url, credit=first("credit"),
        licensor=_text(_first_licensor(xmp, "LicensorName")), data_mining=_data_mining(xmp.get("Xmp.plus.DataMining")),
    )


def _read(method) -> dict:
    """One of exiv2's metadata blocks; text that is not UTF-8 is read as Latin-1, as old IPTC is."""
    try:
        return method(encoding="utf-8")
    except UnicodeDecodeError:
        return method(encoding="latin-1")


def _first_licensor(xmp: dict, field: str):
    # PLUS Licensor is a sequence of structures; exiv2 names the first one's fields like this.
    return xmp.get(f"Xmp.plus.Licensor[1]/plus:{field}")


def _data_mining(value) -> str | None:
    """The DMI code of a PLUS Data Mining value (a vocabulary URI, or the bare code some tools write)."""
    text = _text(value)
    if not text:
        return None
    code = text.rstrip("/").rsplit("/", 1)[-1].upper()
    return code if code in DATA_MINING else text


def _web_url(value) -> str | None:
    # Only web links: a "javascript:" or "file:" URL from a hostile file must never become a link.
    text = _text(value)
    return text if text and safe_href(text) else None


def _text(value) -> str | None:
    """A metadata value as clean text, or None when empty.

    exiv2 gives a string, a list (a sequence or bag: several creators) or a dict (a language
    alternative: the default language is taken, else the first given)."""
    if isinstance(value, dict):
        chosen = [v for k, v in value.items() if "x-default" in k] or list(value.values())[:1]
        return _text(chosen)
    if isinstance(value, (list, tuple)):
        parts = [_text(v) for v in value]
        return _text("; ".join(p for p in parts if p))
    if not isinstance(value, str):
        return None
    # EXIF Copyright separates photographer and editor with NUL; other NULs are padding.
    text = "; ".join(part for part in (oneline(p) for p in value.split("\x00")) if part)
    return text[:_FIELD_MAX_CHARS] or None


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
