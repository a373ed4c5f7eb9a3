"""What a page's site declares about text-and-data mining and AI use, read as the crawl captures it.

Four declarations, each recorded as the site made it (cut to short strings; the detector's
`detector.site_rights` says what they mean):
- TDMRep (W3C community group report): the `tdm-reservation` and `tdm-policy` HTTP headers, the same
  names as `<meta>` tags, and the origin's `/.well-known/tdmrep.json` (rules by path);
- `X-Robots-Tag` headers and `<meta name="robots">` tags, where `noai` and `noimageai` ask that the
  page and its images not be used for AI;
- robots.txt: which AI crawlers' user agents it disallows from the page, read with the parser
  Scrapy's robots.txt middleware already built for the site (Protego), so nothing is fetched twice.

Everything comes from a hostile site: the tdmrep.json file is fetched with a small size cap and
parsed only as JSON, and every value kept is cut to a short line.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from scrapy.http import HtmlResponse, Response

#: The AI crawlers whose robots.txt rules are reported: model-training and AI-answer crawlers.
AI_AGENTS = (
    "GPTBot", "ChatGPT-User", "OAI-SearchBot", "CCBot", "Google-Extended", "Applebot-Extended", "ClaudeBot",
    "anthropic-ai", "PerplexityBot", "Bytespider", "Meta-ExternalAgent", "Amazonbot", "cohere-ai",
    "ImagesiftBot",
)
TDMREP_PATH = "/.well-known/tdmrep.json"
#: A tdmrep.json of rules for a whole site is a few hundred bytes; far more is no file worth reading.
TDMREP_MAX_BYTES = 64 * 1024
_MAX_RULES = 200
_MAX_CHARS = 300
_MAX_TAGS = 20


def _short(value) -> str | None:
    text = " ".join(str(value).split())[:_MAX_CHARS] if value is not None else ""
    return text or None


def page_declarations(response: Response) -> dict:
    """The TDMRep and robots declarations of one page, from its headers and (for HTML) its meta tags."""
    headers = {}
    for name in ("tdm-reservation", "tdm-policy", "X-Robots-Tag"):
        values = response.headers.getlist(name)[:_MAX_TAGS]
        text = _short(", ".join(v.decode("latin-1") for v in values)) if values else None
        if text:
            headers[name.lower()] = text
    meta = {}
    if isinstance(response, HtmlResponse):
        for name in ("tdm-reservation", "tdm-policy", "robots"):
            # Meta names are case-insensitive; lxml's XPath 1.0 has no lower-case(), translate() does it.
            found = response.xpath(
                "//meta[translate(@name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = $name]/@content",
                name=name).getall()[:_MAX_TAGS]
            text = _short(", ".join(found)) if found else None
            if text:
                meta[name] = text
    return {"headers": headers, "meta": meta}


def robots_ai(parser, url: str) -> dict:
    """Which AI crawlers robots.txt keeps from `url`, with the parser the robots middleware built
    (None when robots.txt was not consulted for this crawl)."""
    if parser is None:
        return {"status": "not_read"}
    return {"status": "read", "disallowed": [agent for agent in AI_AGENTS if not parser.allowed(url, agent)]}


def tdmrep_url(page_url: str) -> str:
    parts = urlsplit(page_url)
    return f"{parts.scheme}://{parts.netloc}{TDMREP_PATH}"


def tdmrep_rules(status: int, body: bytes) -> dict:
    """What the origin's tdmrep.json holds: {"status": "found", "rules": [...]}, "absent" (no such
    file) or "unreadable" (with why)."""
    if status == 404 or status == 410:
        return {"status": "absent"}
    if status != 200:
        return {"status": "unreadable", "why": f"HTTP {status}"}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {"status": "unreadable", "why": "not JSON"}
    if not isinstance(data, list):
        return {"status": "unreadable", "why": "not a list of rules"}
    rules = []
    for entry in data[:_MAX_RULES]:
        if isinstance(entry, dict) and isinstance(entry.get("location"), str):
            rules.append({"location": _short(entry["location"]), "reservation": _short(entry.get("tdm-reservation")),
                          "policy": _short(entry.get("tdm-policy"))})
    return {"status": "found", "rules": rules}


def tdmrep_for(file: dict, page_url: str) -> dict:
    """The origin's tdmrep.json as it applies to `page_url`: its first rule whose location matches
    the page's path (`*` matches any run of characters, `$` ends it, as in robots.txt)."""
    if file.get("status") != "found":
        return file
    path = urlsplit(page_url).path or "/"
    for rule in file["rules"]:
        if _location_matches(rule["location"] or "", path):
            return {"status": "found", "location": rule["location"], "reservation": rule["reservation"],
                    "policy": rule["policy"]}
    return {"status": "no_rule"}


def _location_matches(location: str, path: str) -> bool:
    anchored = location.endswith("$")
    pattern = ".*".join(re.escape(piece) for piece in location.rstrip("$").split("*"))
    return re.match(pattern + ("$" if anchored else ""), path) is not None
