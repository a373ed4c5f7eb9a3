"""Find the images an HTML page uses, with what the page says about each.

Pure: takes a Scrapy `TextResponse` (for its selectors and its base URL, which honours
`<base href>`) and returns values. Every form a page can reference an image by is read, because
a copy hides as easily in a lazy-loading attribute or a JSON-LD block as in a plain `<img>`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from urllib.parse import urldefrag, urlsplit

from scrapy.http import TextResponse

_LAZY_SRC_ATTRS = ("data-src", "data-lazy-src", "data-original")
_BACKGROUND = re.compile(r"background(?:-image)?\s*:([^;]*)", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE)
_LEADING_INT = re.compile(r"^\s*(\d+)")
_MAX_TEXT = 1000


@dataclass(frozen=True)
class ImageRef:
    """One image a page references: its absolute URL and the page's own words about it."""

    url: str
    alt: str | None = None
    caption: str | None = None
    width: int | None = None
    height: int | None = None


def page_title(response: TextResponse) -> str | None:
    title = response.xpath("//title//text()").getall() or response.xpath(
        "//meta[@property='og:title']/@content"
    ).getall()
    return _text(title)


def find_images(response: TextResponse) -> list[ImageRef]:
    """Every distinct image URL the page references, in document order.

    A URL referenced twice yields one ref; what the later references add (alt text, a caption,
    a declared size) fills what the first lacked.
    """
    found: dict[str, ImageRef] = {}
    for ref in _all_refs(response):
        url = _absolute(response, ref.url)
        if url is None:
            continue
        ref = replace(ref, url=url)
        earlier = found.get(url)
        found[url] = ref if earlier is None else _merge(earlier, ref)
    return list(found.values())


def largest_in_srcset(srcset: str) -> str | None:
    """The URL of the largest candidate in a `srcset` (by width `w`, else density `x`).

    Candidates without a descriptor count as 1x, as the HTML standard says.
    """
    best, best_size = None, -1.0
    for url, descriptor in _srcset_candidates(srcset):
        size = 1.0
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([wx])", descriptor.strip().lower())
        if match:
            # Mixing w and x is invalid HTML; should a page do it, any width outranks any density.
            size = float(match.group(1)) * (1.0 if match.group(2) == "x" else 1e6)
        if size > best_size:
            best, best_size = url, size
    return best


def _srcset_candidates(srcset: str):
    """(url, descriptor) pairs. A URL may itself hold commas, so split on ", " boundaries only."""
    position, text = 0, srcset.strip()
    while position < len(text):
        while position < len(text) and (text[position].isspace() or text[position] == ","):
            position += 1
        start = position
        while position < len(text) and not text[position].isspace():
            position += 1
        url = text[start:position]
        if url.endswith(","):
            yield url.rstrip(","), ""
            continue
        start = position
        while position < len(text) and text[position] != ",":
            position += 1
        if url:
            yield url, text[start:position]


def _all_refs(response: TextResponse):
    for element in response.xpath("//img | //picture/source"):
        yield from _element_refs(element)
    yield from _meta_refs(response)
    for element in response.xpath("//*[@style]"):
        for declaration in _BACKGROUND.findall(element.attrib.get("style", "")):
            for _, url in _CSS_URL.findall(declaration):
                yield ImageRef(url=url, caption=_caption(element))
    for block in response.xpath("//script[@type='application/ld+json']/text()").getall():
        try:
            data = json.loads(block, strict=False)
        except ValueError:
            continue  # a broken JSON-LD block says nothing usable; the rest of the page still counts
        yield from _jsonld_refs(data)


def _element_refs(element):
    attrs = element.attrib
    # libxml2 does not know <source> is void and nests the <img> inside it; either way the
    # picture's <img> holds the alt text and size that its sources share.
    img = element if element.root.tag == "img" else (element.xpath("ancestor::picture[1]//img") or [element])[0]
    alt = _text([img.attrib.get("alt", "")])
    caption = _caption(img)
    width, height = _int(img.attrib.get("width")), _int(img.attrib.get("height"))
    srcset = attrs.get("data-srcset") or attrs.get("srcset")
    url = largest_in_srcset(srcset) if srcset else None
    if url is None and element.root.tag == "img":
        # Lazy loaders park the real image in a data- attribute and a placeholder in src.
        candidates = [attrs.get(name) for name in _LAZY_SRC_ATTRS] + [attrs.get("src")]
        url = next((c for c in candidates if c and not c.strip().startswith("data:")), None)
    if url:
        yield ImageRef(url=url, alt=alt, caption=caption, width=width, height=height)


def _meta_refs(response: TextResponse):
    def meta(*names: str) -> list[str]:
        tests = " or ".join(f"@property='{n}' or @name='{n}'" for n in names)
        return response.xpath(f"//meta[{tests}]/@content").getall()

    og_width, og_height = meta("og:image:width"), meta("og:image:height")
    og_alt = _text(meta("og:image:alt")[:1])
    for url in meta("og:image", "og:image:url", "og:image:secure_url"):
        yield ImageRef(
            url=url,
            alt=og_alt,
            width=_int(og_width[0]) if og_width else None,
            height=_int(og_height[0]) if og_height else None,
        )
    twitter_alt = _text(meta("twitter:image:alt")[:1])
    for url in meta("twitter:image", "twitter:image:src"):
        yield ImageRef(url=url, alt=twitter_alt)
    rel = "contains(concat(' ', normalize-space(@rel), ' '), ' image_src ')"
    for url in response.xpath(f"//link[{rel}]/@href").getall():
        yield ImageRef(url=url)


def _jsonld_refs(node):
    """Images named in JSON-LD: `image` fields (a URL, a list, an ImageObject) at any depth,
    and ImageObject nodes wherever they appear (e.g. in an @graph)."""
    if isinstance(node, list):
        for item in node:
            yield from _jsonld_refs(item)
    elif isinstance(node, dict):
        url = node.get("contentUrl") or node.get("url")
        if _is_image_object(node) and isinstance(url, str):
            label = node.get("caption") or node.get("name")
            yield ImageRef(
                url=url,
                caption=_text([label]) if isinstance(label, str) else None,
                width=_jsonld_int(node.get("width")),
                height=_jsonld_int(node.get("height")),
            )
        for key, value in node.items():
            if key == "image":
                yield from _jsonld_image_field(value)
            yield from _jsonld_refs(value)


def _jsonld_image_field(value):
    if isinstance(value, str):
        yield ImageRef(url=value)
    elif isinstance(value, list):
        for item in value:
            yield from _jsonld_image_field(item)
    elif isinstance(value, dict) and not _is_image_object(value):
        # {"url": ...} without an @type still names an image when it sits under "image".
        url = value.get("contentUrl") or value.get("url")
        if isinstance(url, str):
            yield ImageRef(url=url, width=_jsonld_int(value.get("width")), height=_jsonld_int(value.get("height")))


def _is_image_object(node: dict) -> bool:
    kind = node.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return "ImageObject" in kinds


def _jsonld_int(value) -> int | None:
    if isinstance(value, dict):  # QuantitativeValue
        value = value.get("value")
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value > 0 else None
    return _int(value) if isinstance(value, str) else None


def _caption(element) -> str | None:
    """The caption nearest to `element`: its figure's figcaption, else a sibling whose class
    says caption (the WordPress `wp-caption-text` pattern)."""
    for path in ("ancestor::figure[1]/figcaption", "../*[contains(@class, 'caption')]"):
        found = element.xpath(path)
        if found:
            return _text(found[0].xpath(".//text()").getall())
    return None


def _text(parts: list[str]) -> str | None:
    text = " ".join(" ".join(parts).split())
    return text[:_MAX_TEXT] or None


def _int(value: str | None) -> int | None:
    match = _LEADING_INT.match(value or "")
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def _absolute(response: TextResponse, url: str) -> str | None:
    url = (url or "").strip()
    if not url or url.startswith("data:"):
        return None
    absolute, _ = urldefrag(response.urljoin(url))
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def _merge(first: ImageRef, later: ImageRef) -> ImageRef:
    return ImageRef(
        url=first.url,
        alt=first.alt or later.alt,
        caption=first.caption or later.caption,
        width=first.width or later.width,
        height=first.height or later.height,
    )
