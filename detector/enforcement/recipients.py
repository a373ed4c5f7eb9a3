"""Who should receive a notice or an offer about a copy on a site, and where each address came from.

Sources, each recorded with the URL it was read from and the time:

- `override`: the owner's address for the domain (recipients.overrides), which replaces the rest;
- `platform`: the copyright contact a platform publishes (detector.enforcement.platforms: a Bluesky
  post's notice goes to Bluesky's), which replaces the lookups below;
- `rdap_ip`: the abuse contact of the network hosting the site, from the RIR's RDAP service
  (recipients.rdap_ip_url; ARIN redirects to the RIR that holds the address), and its country;
- `rdap_domain`: the registrar's abuse contact, from the domain's RDAP record
  (recipients.rdap_domain_url; rdap.org redirects to the registry);
- `security_txt`: the site's own `mailto:` contacts in /.well-known/security.txt (RFC 9116);
- `contact_page`: the `mailto:` links of the site's contact, imprint or legal page, found among the
  links of its home page (same site only).

A notice goes to the hosting provider first (it can take the copy down), an offer to the site
first (it is the one asked to pay). Lookups, including the ones that found nothing, are cached in
the workspace for recipients.cache_days. Everything read from the web is bounded in size, time
(detector.enforcement.fetch) and, for RDAP's JSON, nesting; sites and redirects at addresses that
are not public are refused unless recipients.allow_private is set. An address that is too long,
malformed or at an internal host (detector.enforcement.addresses) is recorded as refused, with the
reason, and the next address is used.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote, urljoin, urlsplit

import lxml.etree
import lxml.html

from detector.config import RecipientSettings
from detector.enforcement.addresses import problem, valid_address
from detector.enforcement.fetch import Fetcher, Refused, private_reason
from detector.enforcement.platforms import platform_of
from detector.errors import ConfigError
from detector.hosts import is_ip_literal
from detector.workspace.store import Store

#: Levels of nesting read of an RDAP answer (real ones have under ten); deeper is refused unparsed.
MAX_RDAP_DEPTH = 64
#: Levels of nested entities searched for an abuse role (a registrar nests its abuse contact once).
MAX_ENTITY_DEPTH = 8
#: Which source is asked first, per purpose.
PREFERENCE = {
    "notice": ("override", "platform", "rdap_ip", "rdap_domain", "security_txt", "contact_page"),
    "offer": ("override", "platform", "security_txt", "contact_page", "rdap_ip", "rdap_domain"),
}


@dataclass(frozen=True)
class Contact:
    address: str
    source: str
    detail: str
    looked_up_at: str


@dataclass(frozen=True)
class Lookup:
    """Every address found for a host (with the sources that found none, address '') and its country."""

    host: str
    rows: tuple[Contact, ...]
    country: str | None

    def contacts(self) -> list[Contact]:
        return [c for c in self.rows if c.address]

    def best(self, purpose: str, avoid: frozenset[str] = frozenset()) -> Contact | None:
        """The address a `purpose` ('notice' or 'offer') goes to, by PREFERENCE, passing over the addresses
        in `avoid` (lower case: they refused or bounced this case's mail) while another is known."""
        ranked = [c for source in PREFERENCE[purpose] for c in self.contacts() if c.source == source]
        return next((c for c in ranked if c.address.lower() not in avoid), ranked[0] if ranked else None)


def stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def lookup(store: Store, settings: RecipientSettings, page_url: str, now: datetime, refresh: bool = False) -> Lookup:
    """The addresses for the site of `page_url`: an override, else cached lookups (unless `refresh`),
    else fresh ones."""
    parts = urlsplit(page_url)
    host = (parts.hostname or "").lower()
    at = stamp(now)
    override = _override(settings.overrides, host)
    if override:
        return Lookup(host, (Contact(override, "override", "recipients.overrides in config.toml", at),), None)
    platform = platform_of(host)
    if platform is not None:
        return Lookup(host, (Contact(platform.address, "platform", f"{platform.name}'s copyright contact, "
                                     f"published at {platform.policy}", at),), None)
    cached = store.recipient_lookups(host, stamp(now - timedelta(days=settings.cache_days)))
    if cached and not refresh:
        return _from_rows(host, cached)
    rows: list[dict] = []
    with Fetcher(settings.timeout, settings.site_timeout, settings.allow_private,
                 {"Accept": "application/rdap+json, application/json, text/plain"}) as client:
        rows += _rdap_ip(client, settings, host)
        if not is_ip_literal(host):
            rows += _rdap_domain(client, settings, host)
        origin = f"{parts.scheme}://{parts.netloc}"
        refused = None if settings.allow_private or not (settings.security_txt or settings.contact_page) \
            else private_reason(host)
        if settings.security_txt:
            rows += _security_txt(client, origin, refused)
        if settings.contact_page:
            rows += _contact_page(client, origin, refused)
    rows = [dict(r, looked_up_at=at) for r in rows]
    store.replace_recipient_lookups(host, rows)
    return _from_rows(host, rows)


def _from_rows(host: str, rows: list[dict]) -> Lookup:
    contacts = tuple(Contact(r["address"], r["source"], r["detail"], r["looked_up_at"]) for r in rows)
    country = next((r["country"] for r in rows if r.get("country")), None)
    return Lookup(host, contacts, country)


def _override(overrides: dict[str, str], host: str) -> str | None:
    for domain, address in overrides.items():
        domain = domain.lower()
        if host == domain or host.endswith("." + domain):
            if valid_address(address) is None:
                raise ConfigError(f"recipients.overrides.{domain} = {address!r} is {problem(address)}; give one "
                                  "e-mail address at a public domain, like legal@example.org, in config.toml.")
            return address
    return None



def _none(source: str, detail: str) -> dict:
    return {"source": source, "address": "", "detail": detail, "country": None}


def _found(source: str, rows: list[dict], nothing: str, refused: list[tuple[str, str, str]]) -> list[dict]:
    """`rows`, or a row saying `nothing` was found; the addresses `refused` ((address, why, where), at most
    five named) go into a row with address '', so `copyhound recipients` shows why each was passed over."""
    notes = [f"{where}: refused {address[:80]!r}{'...' if len(address) > 80 else ''}: {why}"
             for address, why, where in refused[:5]]
    if rows:
        return rows + ([_none(source, "; ".join(notes))] if notes else [])
    return [_none(source, "; ".join([nothing, *notes]))]


def _rdap_ip(client: Fetcher, settings: RecipientSettings, host: str) -> list[dict]:
    try:
        address = host if is_ip_literal(host) else socket.getaddrinfo(host, None)[0][4][0]
    except OSError as e:
        return [_none("rdap_ip", f"{host} does not resolve ({e})")]
    url = f"{settings.rdap_ip_url.rstrip('/')}/ip/{address}"
    record = rdap_object(client, url)
    if isinstance(record, str):
        return [_none("rdap_ip", record)]
    country = record.get("country") if isinstance(record.get("country"), str) else None
    addresses, refused = abuse_addresses(record)
    name = record.get("name") if isinstance(record.get("name"), str) else "network"
    found = [{"source": "rdap_ip", "address": a, "detail": f"{url} ({name[:100]} abuse contact)",
              "country": country} for a in addresses]
    return [dict(row, country=country) for row in
            _found("rdap_ip", found, f"{url} names no abuse e-mail", [(*r, url) for r in refused])]


def _rdap_domain(client: Fetcher, settings: RecipientSettings, host: str) -> list[dict]:
    """The registrar's abuse contact of the registered domain (tried from the full host name down)."""
    labels = host.split(".")
    tried = []
    for i in range(max(1, len(labels) - 1)):
        name = ".".join(labels[i:])
        url = f"{settings.rdap_domain_url.rstrip('/')}/domain/{name}"
        record = rdap_object(client, url)
        if isinstance(record, str):
            tried.append(record)
            continue
        addresses, refused = abuse_addresses(record)
        found = [{"source": "rdap_domain", "address": a, "detail": f"{url} (registrar abuse contact)",
                  "country": None} for a in addresses]
        return _found("rdap_domain", found, f"{url} names no abuse e-mail", [(*r, url) for r in refused])
    return [_none("rdap_domain", "; ".join(tried))]


def rdap_object(client: Fetcher, url: str) -> dict | str:
    """The RDAP object at `url` (redirects followed, not to private addresses), or a sentence saying why
    there is none."""
    try:
        status, body = client.get(url, follow=True)
    except Refused as e:
        return str(e)
    if status != 200:
        return f"{url} answered HTTP {status}"
    if json_depth(body) > MAX_RDAP_DEPTH:
        return f"{url} answered JSON nested deeper than {MAX_RDAP_DEPTH} levels; refused unread"
    try:
        record = json.loads(body)
    except (ValueError, RecursionError):
        return f"{url} did not answer JSON"
    return record if isinstance(record, dict) else f"{url} did not answer an RDAP object"


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings aside)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", body)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def abuse_addresses(record: dict) -> tuple[list[str], list[tuple[str, str]]]:
    """E-mail addresses of the entities with role 'abuse', down to MAX_ENTITY_DEPTH levels (a registrar
    nests its own), and those refused with the reason."""
    found: list[str] = []
    refused: list[tuple[str, str]] = []
    level = [record.get("entities")]
    for _ in range(MAX_ENTITY_DEPTH):
        below = []
        for entities in level:
            for entity in entities if isinstance(entities, list) else []:
                if not isinstance(entity, dict):
                    continue
                roles = entity.get("roles")
                if isinstance(roles, list) and "abuse" in roles:
                    for text in _vcard_emails(entity.get("vcardArray")):
                        why = problem(text)
                        if why:
                            refused.append((text, why))
                        elif text.strip() not in found:
                            found.append(text.strip())
                below.append(entity.get("entities"))
        level = below
    return found, refused


def _vcard_emails(vcard) -> list[str]:
    if not (isinstance(vcard, list) and len(vcard) == 2 and isinstance(vcard[1], list)):
        return []
    return [prop[3] for prop in vcard[1]
            if isinstance(prop, list) and len(prop) >= 4 and prop[0] == "email" and isinstance(prop[3], str)]


def _security_txt(client: Fetcher, origin: str, refused: str | None) -> list[dict]:
    url = f"{origin}/.well-known/security.txt"
    if refused:
        return [_none("security_txt", f"{url} not fetched: {refused}")]
    status, body = _page(client, url)
    if status != 200:
        return [_none("security_txt", body.decode())]
    found, bad = [], []
    for line in body.decode("utf-8", errors="replace").splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if key.strip().lower() == "contact" and value.lower().startswith("mailto:"):
            text = value[len("mailto:"):]
            if problem(text):
                bad.append((text, problem(text), url))
            elif text.strip() not in found:
                found.append(text.strip())
    return _found("security_txt", [{"source": "security_txt", "address": a, "detail": url, "country": None}
                                    for a in found], f"{url} lists no mailto: contact", bad)


def _page(client: Fetcher, url: str) -> tuple[int, bytes]:
    """(200, body) of a page fetched without following redirects (one could lead past the address
    check), or (0, why not) as a sentence."""
    try:
        status, body = client.get(url)
    except Refused as e:
        return 0, str(e).encode()
    return (200, body) if status == 200 else (0, f"{url} answered HTTP {status}".encode())


#: Links to pages that usually carry a site's own contact address (English, German, French, Spanish).
_CONTACT_LINK = re.compile(r"contact|kontakt|imprint|impressum|legal|mentions|aviso", re.IGNORECASE)
_MAX_CONTACT_PAGES = 3


def _contact_page(client: Fetcher, origin: str, refused: str | None) -> list[dict]:
    """`mailto:` addresses on the contact, imprint or legal pages linked from the site's home page."""
    home = f"{origin}/"
    if refused:
        return [_none("contact_page", f"{home} not fetched: {refused}")]
    status, body = _page(client, home)
    if status != 200:
        return [_none("contact_page", body.decode())]
    pages = [url for url, text in _links(body, home)
             if urlsplit(url).netloc == urlsplit(home).netloc and _CONTACT_LINK.search(f"{urlsplit(url).path} {text}")]
    pages = list(dict.fromkeys(url.partition("#")[0] for url in pages))[:_MAX_CONTACT_PAGES]
    if not pages:
        return [_none("contact_page", f"{home} links to no contact, imprint or legal page")]
    found: dict[str, str] = {}
    empty, bad = [], []
    for url in pages:
        status, page = _page(client, url)
        texts = [unquote(href[len("mailto:"):].partition("?")[0]) for href, _ in _links(page, url)
                 if href.lower().startswith("mailto:")] if status == 200 else []
        bad += [(text, problem(text), url) for text in texts if problem(text)]
        addresses = [text.strip() for text in texts if not problem(text)]
        if not addresses:
            empty.append(f"{url} has no mailto: link" if status == 200 else page.decode())
        for address in addresses:
            found.setdefault(address, url)
    return _found("contact_page", [{"source": "contact_page", "address": a, "detail": f"{url} (linked from {home})",
                                    "country": None} for a, url in found.items()], "; ".join(empty), bad)


def _links(html: bytes, base: str) -> list[tuple[str, str]]:
    """(absolute href, link text) of every <a href> in a page (an unparsable page has none)."""
    try:
        tree = lxml.html.fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return []
    return [(urljoin(base, a.get("href").strip()), a.text_content()[:200]) for a in tree.iter("a") if a.get("href")]
