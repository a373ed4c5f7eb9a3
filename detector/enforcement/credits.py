"""A licence check before any claim: does the copy's page credit a place where the work is licensed?

People are sent claims over images they licensed from a stock agency. So before enforcement acts, each
match's copy is looked at for a credit, in what the crawl captured:

- near the image on its page (the captured HTML, parsed with parsel/lxml): its alt and title text, its
  figure's `figcaption`, a sibling whose class says caption or credit, and the text and links just
  around the image (a credit line such as "Photo: Jane Doe / Getty Images");
- the image's URL: a listed URL prefix (a contributor page, a preview server), or the preview or embed
  host of a stock agency copyhound knows (`agencies.toml`);
- the copy's own metadata (IPTC/XMP `Credit` and `Copyright Notice`, as `detector.rights` reads them).

What counts as a credit: a name the owner listed for the work (`detector.enforcement.licensed`: an
agency and its usual credit lines, a photographer's name) or the work's creator, and words of a licence
("licensed from", "used with permission", "courtesy of", a Creative Commons licence). Each finding says
where it was found, the text (bounded) and what it credits. A credited match is held for the owner
(`detector.enforcement.holds`); no offer or notice goes out for it.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin, urlsplit

import parsel

from detector.config import Settings
from detector.enforcement import licensed
from detector.errors import ImageRefused
from detector.intake import decode_image
from detector.licensing.demand import page_html
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store

#: Words that say the image is used under a licence or with permission.
LICENCE_WORDS = re.compile(
    r"(?<!\w)(licen[cs]ed (?:from|under|by|through|via)|used (?:with|under) (?:permission|(?:a )?licen[cs]e)|"
    r"with (?:kind )?permission of|courtesy of|creative ?commons|CC[ -]BY(?:[ -](?:SA|ND|NC))*|CC0)(?!\w)",
    re.IGNORECASE)
_CC_LINK = re.compile(r"^https?://(?:www\.)?creativecommons\.org/(?:licenses|publicdomain)/", re.IGNORECASE)
#: A page with more images than this is searched in its first this many (hostile pages can hold millions).
MAX_IMAGES = 2000
#: Text kept of each place searched, and shown of each finding.
MAX_TEXT = 300
#: Sibling elements after the image's block that are read as its credit line.
FOLLOWING = 2


def finding(where: str, text: str, credits: str) -> dict:
    return {"where": where, "text": " ".join(text.split())[:MAX_TEXT], "credits": credits}


def find_credits(html: str | None, page_url: str, image_url: str, terms: licensed.Terms, *,
                 alt: str | None = None, caption: str | None = None, copy_rights: dict | None = None) -> list[dict]:
    """Every credit of a licensed source for the image at `image_url` on `page_url` (see the module)."""
    places = _near_image(html, page_url, image_url) if html else []
    if not places:
        # What the crawl stored of the image's reference stands in where the page was not captured, or shows
        # the image other than by an <img> (og:image, a CSS background).
        places = [("alt text", alt or ""), ("caption", caption or "")]
    rights = copy_rights or {}
    places += [("the copy's metadata Credit", rights.get("credit") or ""),
               ("the copy's metadata Copyright Notice", rights.get("copyright") or "")]
    found: list[dict] = []
    for where, text in places:
        if where == "link":
            found += _link_credits(text, terms)
            continue
        for phrase, what in terms.phrases:
            if _contains(text, phrase):
                found.append(finding(where, text, what))
        words = LICENCE_WORDS.search(text)
        if words:
            found.append(finding(where, text, f"a licence ({words.group(1)!r})"))
    found += _url_credits(image_url, terms)
    unique = {(f["where"], f["text"], f["credits"]): f for f in found}
    return list(unique.values())


def _contains(text: str, phrase: str) -> bool:
    words = r"\s+".join(re.escape(w) for w in phrase.split())
    return bool(words) and re.search(rf"(?<!\w){words}(?!\w)", text, re.IGNORECASE) is not None


def _url_credits(image_url: str, terms: licensed.Terms) -> list[dict]:
    found = [finding("image URL", image_url, f"a listed URL prefix ({prefix})")
             for prefix in terms.url_prefixes if image_url.lower().startswith(prefix.lower())]
    agency = licensed.agency_of_host(urlsplit(image_url).hostname or "")
    if agency is not None:
        found.append(finding("image URL", image_url, f"the preview or embed host of {agency.name}"))
    return found


def _link_credits(href: str, terms: licensed.Terms) -> list[dict]:
    found = [finding("link by the image", href, f"a listed URL prefix ({prefix})")
             for prefix in terms.url_prefixes if href.lower().startswith(prefix.lower())]
    if _CC_LINK.match(href):
        found.append(finding("link by the image", href, "a licence (a Creative Commons licence link)"))
    return found


def _near_image(html: str, page_url: str, image_url: str) -> list[tuple[str, str]]:
    """(where, text) of every place near the image's elements on the page; links as ("link", href)."""
    try:
        page = parsel.Selector(text=html)
    except (ValueError, TypeError):
        return []
    wanted = urldefrag(image_url)[0]
    places: list[tuple[str, str]] = []
    for img in page.xpath("//img | //picture/source")[:MAX_IMAGES]:
        if wanted not in _urls_of(img, page_url):
            continue
        block = (img.xpath("ancestor::figure[1]") or img.xpath("ancestor::picture[1]") or
                 img.xpath("parent::a") or [img])[0]
        places += [("alt text", img.attrib.get("alt", "")), ("title", img.attrib.get("title", ""))]
        places += [("title", a) for a in img.xpath("ancestor::a[1]/@title").getall()]
        places += [("figcaption", _text(c)) for c in img.xpath("ancestor::figure[1]/figcaption")]
        places += [("caption", _text(c)) for c in
                   block.xpath("../*[contains(@class, 'caption') or contains(@class, 'credit')]")]
        places += [("credit line", _text(s)) for s in block.xpath(f"following-sibling::*[position() <= {FOLLOWING}]")]
        places.append(("credit line", " ".join(block.xpath("../text()").getall())))
        scope = block.xpath(f". | following-sibling::*[position() <= {FOLLOWING}]")
        places += [("link", href) for href in scope.xpath(".//@href | self::a/@href").getall()]
    return [(where, text[:MAX_TEXT * 4]) for where, text in places if text and text.strip()]


def _urls_of(img: parsel.Selector, page_url: str) -> set[str]:
    attrs = img.attrib
    refs = [attrs.get(name) for name in ("src", "data-src", "data-lazy-src", "data-original")]
    for srcset in (attrs.get("srcset"), attrs.get("data-srcset")):
        refs += [part.split()[0] for part in (srcset or "").split(",") if part.split()]
    return {urldefrag(urljoin(page_url, ref.strip()))[0] for ref in refs if ref and ref.strip()}


def _text(element: parsel.Selector) -> str:
    return " ".join(" ".join(element.xpath(".//text()").getall()).split())


def check_match(ws: Workspace, store: Store, settings: Settings, match: dict) -> list[dict]:
    """The credits found for `match`'s latest sighting: its captured page, its image URL, its copy's metadata."""
    candidate = store.candidate(match["candidate_id"]) if match.get("candidate_id") else None
    terms = licensed.terms_for(store, store.asset(match["asset_id"]))
    return find_credits(page_html(ws, candidate), match["page_url"], match["image_url"], terms,
                        alt=(candidate or {}).get("alt_text"), caption=(candidate or {}).get("caption"),
                        copy_rights=_copy_rights(ws, settings, match))


def _copy_rights(ws: Workspace, settings: Settings, match: dict) -> dict:
    blobs = BlobStore(ws.blobs_dir)
    if match["sha256"] not in blobs:
        return {}
    try:
        return decode_image(blobs.get(match["sha256"]), match["image_url"], settings.intake).rights.as_dict()
    except ImageRefused:
        return {}


def summary(findings: list[dict]) -> str:
    """One line for lists: what was credited, and where."""
    if not findings:
        return ""
    # an agency or a licence says more than a name, which an unlicensed page may credit too
    first = min(findings, key=lambda f: ("agency" not in f["credits"] and "licence" not in f["credits"]
                                         and "URL" not in f["credits"]))
    more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
    return f"{first['credits']} in the {first['where']}{more}"
