"""What the market says about a use, for pricing: how many sites use the work, whether the site sells,
and the territory it addresses. Read from what the crawl stored; hostile input, so bounded.

- Sites: distinct hosts (without `www.`) with a match of the work that is not rejected.
- Commercial site: shop or product markup in the captured page (schema.org Product or Offer,
  og:type product, product:price meta), a cart or buy button, prices with a currency, or advert
  scripts. The owner's explicit choice (`--commercial` / `--non-commercial`) overrides it.
- Territory: the country of the host's country-code TLD (`.de` -> de, `.co.uk` -> gb), else the
  page's declared language (`<html lang="fr">` -> lang:fr), else `unknown`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from detector.workspace import Workspace
from detector.workspace.store import Store

MAX_PAGE_BYTES = 2_000_000

_COMMERCIAL = [
    ("shop/product markup", re.compile(r"""schema\.org/(Product|Offer)\b|"@type"\s*:\s*"(Product|Offer)"|"""
                                       r"""og:type["']?\s+content=["']product|product:price""", re.IGNORECASE)),
    ("a cart or buy button", re.compile(r"add[ -]to[ -](cart|basket|bag)|buy now|in den warenkorb|ajouter au panier",
                                        re.IGNORECASE)),
    ("prices", re.compile(r"[$€£¥]\s?\d{1,6}[.,]\d{2}\b|\b\d{1,6}[.,]\d{2}\s?(?:[$€£¥]|(?:EUR|USD|GBP)\b)")),
    ("adverts", re.compile(r"adsbygoogle|googlesyndication|doubleclick\.net|amazon-adsystem", re.IGNORECASE)),
]
_LANG = re.compile(r"""<html\b[^>]*\blang\s*=\s*["']?([A-Za-z]{2,3})""", re.IGNORECASE)
_TLD_COUNTRY = {"uk": "gb"}  # the one ccTLD that is not its ISO 3166 code


@dataclass(frozen=True)
class Demand:
    sites: int
    commercial_reasons: tuple[str, ...]
    territory: str
    territory_why: str


def distinct_sites(store: Store, asset_id: int) -> int:
    hosts = {bare_host(m["page_url"]) for m in store.matches("matches.asset_id = ? AND matches.status != 'rejected'",
                                                               [asset_id])}
    return max(1, len(hosts - {""}))


def bare_host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def page_html(ws: Workspace, candidate: dict | None) -> str | None:
    """The captured page's HTML (at most MAX_PAGE_BYTES, decoded leniently), or None when not captured."""
    return page_capture(ws, candidate)[0]


def page_capture(ws: Workspace, candidate: dict | None) -> tuple[str | None, dict[str, str]]:
    """The captured page's HTML (as `page_html`) and its HTTP response headers (names in lower case);
    (None, {}) when not captured."""
    file, offset = (candidate or {}).get("page_warc_file"), (candidate or {}).get("page_warc_offset")
    if not file or offset is None:
        return None, {}
    path = (ws.home / file).resolve()
    if not path.is_relative_to(ws.home.resolve()) or not path.is_file():
        return None, {}
    return _record(path, offset)


def _record(path: Path, offset: int) -> tuple[str | None, dict[str, str]]:
    # warcio (and fsspec under it) loads only when a page is read: the CLI imports this module at startup.
    from warcio.archiveiterator import ArchiveIterator

    with path.open("rb") as f:
        f.seek(offset)
        try:
            record = next(ArchiveIterator(f))
            headers = {k.lower(): v for k, v in (record.http_headers.headers if record.http_headers else [])}
            return record.content_stream().read(MAX_PAGE_BYTES).decode("utf-8", "replace"), headers
        except Exception:  # noqa: BLE001 (warcio raises several types on a wrong offset or a bad record)
            return None, {}


def commercial_reasons(html: str | None) -> tuple[str, ...]:
    if not html:
        return ()
    return tuple(name for name, pattern in _COMMERCIAL if pattern.search(html))


def tld_country(host: str) -> str | None:
    """The country (ISO 3166, lower case) of a host's country-code TLD: `.de` -> de, `.co.uk` -> gb; None for
    .com and the like."""
    tld = host.rsplit(".", 1)[-1].lower()
    return _TLD_COUNTRY.get(tld, tld) if len(tld) == 2 and tld.isalpha() else None


def html_language(html: str | None) -> str | None:
    """The language a page declares in `<html lang>` (its primary subtag, lower case), or None."""
    found = _LANG.search(html or "")
    return found.group(1).lower() if found else None


def territory(page_url: str, html: str | None) -> tuple[str, str]:
    """(key, why): a country code from the TLD, else lang:xx from the page, else unknown."""
    host = bare_host(page_url)
    country = tld_country(host)
    if country:
        return country, f"country {country.upper()} from the .{host.rsplit('.', 1)[-1]} domain"
    lang = html_language(html)
    if lang:
        return f"lang:{lang}", f"page language {lang}"
    return "unknown", "no country domain or page language"


def assess(ws: Workspace, store: Store, match: dict, candidate: dict | None) -> Demand:
    html = page_html(ws, candidate)
    key, why = territory(match["page_url"], html)
    return Demand(distinct_sites(store, match["asset_id"]), commercial_reasons(html), key, why)
