"""Strings from the web made safe to show: on one line (`oneline`), and as a link only when it is http(s)
(`safe_href`). Documents, the portal and the metadata readers all show hostile strings through them."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit


def oneline(value) -> str:
    """A web string made safe to show on one line: control, format (bidi) and separator
    characters become spaces and runs of spaces collapse. None becomes ''."""
    if value is None:
        return ""
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in str(value))
    return " ".join(text.split())


def safe_href(url) -> str:
    """`url` when it is an absolute http(s) URL without whitespace or control characters, else ''."""
    if not isinstance(url, str) or any(unicodedata.category(c)[0] in "CZ" for c in url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else ""
