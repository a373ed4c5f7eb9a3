"""Who should receive a notice or an offer about a copy on a site, and where each address came from.

Sources, each recorded with the URL it was read from and the time:

- `override`: the owner's address for the domain (recipients.overrides), which replaces the rest;
- `rdap_ip`: the abuse contact of the network hosting the site, from the RIR's RDAP service
  (recipients.rdap_ip_url; ARIN redirects to the RIR that holds the address), and its country;
- `rdap_domain`: the registrar's abuse contact, from the domain's RDAP record
  (recipients.rdap_domain_url; rdap.org redirects to the registry);
- `security_txt`: the site's own `mailto:` contacts in /.well-known/security.txt (RFC 9116).

A notice goes to the hosting provider first (it can take the copy down), an offer to the site
first (it is the one asked to pay). Lookups, including the ones that found nothing, are cached in
the workspace for recipients.cache_days. Everything read from the web is bounded in size, and
addresses that are not public are refused unless recipients.allow_private is set.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from urllib.parse import urlsplit

import httpx

from detector.config import RecipientSettings
from detector.errors import ConfigError
from detector.workspace.store import Store

_MAX_BYTES = 1_000_000
_MAX_REDIRECTS = 5
#: Which source is asked first, per purpose.
PREFERENCE = {
    "notice": ("override", "rdap_ip", "rdap_domain", "security_txt"),
    "offer": ("override", "security_txt", "rdap_ip", "rdap_domain"),
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

    def best(self, purpose: str) -> Contact | None:
        """The address a `purpose` ('notice' or 'offer') goes to, by PREFERENCE."""
        found = self.contacts()
        for source in PREFERENCE[purpose]:
            for contact in found:
                if contact.source == source:
                    return contact
        return None


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
    cached = store.recipient_lookups(host, stamp(now - timedelta(days=settings.cache_days)))
    if cached and not refresh:
        return _from_rows(host, cached)
    rows: list[dict] = []
    with httpx.Client(timeout=settings.timeout, follow_redirects=True, max_redirects=_MAX_REDIRECTS,
                      headers={"Accept": "application/rdap+json, application/json, text/plain"}) as client:
        rows += _rdap_ip(client, settings, host)
        if not _is_ip(host):
            rows += _rdap_domain(client, settings, host)
        if settings.security_txt:
            rows += _security_txt(client, settings, f"{parts.scheme}://{parts.netloc}", host)
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
                raise ConfigError(f"recipients.overrides.{domain} = {address!r} is not one e-mail address like "
                                  "legal@example.org; fix it in config.toml.")
            return address
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _public(host: str) -> str | None:
    """None when every address of `host` is public, else why not (or why it cannot be resolved)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as e:
        return f"{host} does not resolve ({e})"
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global:
            return f"{host} resolves to {ip}, which is not a public address (recipients.allow_private)"
    return None


def _get(client: httpx.Client, url: str, follow: bool = True) -> tuple[int, bytes]:
    """Status and body (at most _MAX_BYTES; a longer body raises ValueError) of a GET."""
    with client.stream("GET", url, follow_redirects=follow) as response:
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > _MAX_BYTES:
                raise ValueError(f"{url} sent more than {_MAX_BYTES} bytes")
        return response.status_code, body


def _none(source: str, detail: str) -> dict:
    return {"source": source, "address": "", "detail": detail, "country": None}


def _rdap_ip(client: httpx.Client, settings: RecipientSettings, host: str) -> list[dict]:
    try:
        address = host if _is_ip(host) else socket.getaddrinfo(host, None)[0][4][0]
    except OSError as e:
        return [_none("rdap_ip", f"{host} does not resolve ({e})")]
    url = f"{settings.rdap_ip_url.rstrip('/')}/ip/{address}"
    record = _rdap(client, url)
    if isinstance(record, str):
        return [_none("rdap_ip", record)]
    country = record.get("country") if isinstance(record.get("country"), str) else None
    found = [{"source": "rdap_ip", "address": a, "detail": f"{url} ({record.get('name') or 'network'} abuse contact)",
              "country": country} for a in abuse_addresses(record)]
    return found or [dict(_none("rdap_ip", f"{url} names no abuse e-mail"), country=country)]


def _rdap_domain(client: httpx.Client, settings: RecipientSettings, host: str) -> list[dict]:
    """The registrar's abuse contact of the registered domain (tried from the full host name down)."""
    labels = host.split(".")
    tried = []
    for i in range(max(1, len(labels) - 1)):
        name = ".".join(labels[i:])
        url = f"{settings.rdap_domain_url.rstrip('/')}/domain/{name}"
        record = _rdap(client, url)
        if isinstance(record, str):
            tried.append(record)
            continue
        found = [{"source": "rdap_domain", "address": a, "detail": f"{url} (registrar abuse contact)",
                  "country": None} for a in abuse_addresses(record)]
        return found or [_none("rdap_domain", f"{url} names no abuse e-mail")]
    return [_none("rdap_domain", "; ".join(tried))]


def _rdap(client: httpx.Client, url: str) -> dict | str:
    """The RDAP object at `url`, or a sentence saying why there is none."""
    try:
        status, body = _get(client, url)
    except (httpx.HTTPError, ValueError) as e:
        return f"{url}: {type(e).__name__}: {e}"
    if status != 200:
        return f"{url} answered HTTP {status}"
    try:
        record = json.loads(body)
    except ValueError:
        return f"{url} did not answer JSON"
    return record if isinstance(record, dict) else f"{url} did not answer an RDAP object"


def abuse_addresses(record: dict) -> list[str]:
    """E-mail addresses of the entities with role 'abuse', at any depth (a registrar nests its own)."""
    found: list[str] = []

    def walk(entities) -> None:
        for entity in entities if isinstance(entities, list) else []:
            if not isinstance(entity, dict):
                continue
            if "abuse" in (entity.get("roles") or []):
                for address in _vcard_emails(entity.get("vcardArray")):
                    if address not in found:
                        found.append(address)
            walk(entity.get("entities"))

    walk(record.get("entities"))
    return found


def _vcard_emails(vcard) -> list[str]:
    if not (isinstance(vcard, list) and len(vcard) == 2 and isinstance(vcard[1], list)):
        return []
    emails = []
    for prop in vcard[1]:
        if isinstance(prop, list) and len(prop) >= 4 and prop[0] == "email" and isinstance(prop[3], str):
            address = valid_address(prop[3])
            if address:
                emails.append(address)
    return emails


def valid_address(text: str) -> str | None:
    """`text` as one plain e-mail address (no display name, no line breaks), or None."""
    text = text.strip()
    _, address = parseaddr(text)
    if not address or address != text or any(c.isspace() or ord(c) < 32 for c in address):
        return None
    local, _, domain = address.rpartition("@")
    return address if local and "." in domain else None


def _security_txt(client: httpx.Client, settings: RecipientSettings, origin: str, host: str) -> list[dict]:
    url = f"{origin}/.well-known/security.txt"
    if not settings.allow_private:
        refused = _public(host)
        if refused:
            return [_none("security_txt", f"{url} not fetched: {refused}")]
    try:
        status, body = _get(client, url, follow=False)  # a redirect could lead past the address check
    except (httpx.HTTPError, ValueError) as e:
        return [_none("security_txt", f"{url}: {type(e).__name__}: {e}")]
    if status != 200:
        return [_none("security_txt", f"{url} answered HTTP {status}")]
    found = []
    for line in body.decode("utf-8", errors="replace").splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if key.strip().lower() == "contact" and value.lower().startswith("mailto:"):
            address = valid_address(value[len("mailto:"):])
            if address and address not in found:
                found.append(address)
    return [{"source": "security_txt", "address": a, "detail": url, "country": None} for a in found] or \
        [_none("security_txt", f"{url} lists no mailto: contact")]
