"""The country of the network that hosts a site, from RDAP (RFC 9083: JSON over HTTP), cached per host.

The query goes to recipients.rdap_ip_url (`/ip/ADDRESS`; ARIN redirects to the RIR holding the
address), through the same bounded reader as the recipient lookups (detector.enforcement.fetch: a
deadline per request and per site, 1 MB, redirects checked), and the answer's nesting is checked
before it is parsed. A country a recipient lookup already found for the host is used as it is. A
host that resolves to a non-public address is not looked up unless recipients.allow_private (its
country would say nothing about the site). Every answer, also "none", is cached for
recipients.cache_days; one run makes at most collectability.max_lookups fresh lookups.
"""

from __future__ import annotations

import socket
from datetime import datetime, timedelta

from detector.config import Settings
from detector.enforcement.fetch import Fetcher, private_reason
from detector.enforcement.recipients import rdap_object, stamp
from detector.hosts import is_ip_literal
from detector.workspace.store import Store


class HostingCountries:
    """Hosting countries for one assessment run: cached ones, else at most `max_lookups` fresh RDAP queries."""

    def __init__(self, store: Store, settings: Settings, now: datetime):
        self.store, self.settings, self.now = store, settings, now
        self.fresh = 0
        self.seen: dict[str, tuple[str | None, str]] = {}

    def country(self, host: str) -> tuple[str | None, str]:
        """(ISO country code or None, where it came from or why there is none)."""
        if host not in self.seen:
            self.seen[host] = self._find(host)
        return self.seen[host]

    def _find(self, host: str) -> tuple[str | None, str]:
        recipients = self.settings.recipients
        since = stamp(self.now - timedelta(days=recipients.cache_days))
        cached = self.store.hosting_country(host, since)
        if cached is not None:
            return cached["country"], cached["detail"]
        found = next((r for r in self.store.recipient_lookups(host, since) if r.get("country")), None)
        if found is not None:
            return found["country"], f"RDAP, from the recipient lookup of {found['looked_up_at'][:10]}"
        if self.fresh >= self.settings.collectability.max_lookups:
            return None, (f"not looked up in this run: {self.settings.collectability.max_lookups} lookups made "
                          "(collectability.max_lookups)")
        self.fresh += 1
        country, detail = self._rdap(host)
        self.store.set_hosting_country(host, country, detail, stamp(self.now))
        return country, detail

    def _rdap(self, host: str) -> tuple[str | None, str]:
        recipients = self.settings.recipients
        if not recipients.allow_private:
            why = private_reason(host)
            if why is not None:
                return None, f"not looked up: {why}"
        try:
            address = host if is_ip_literal(host) else socket.getaddrinfo(host, None)[0][4][0]
        except OSError as e:
            return None, f"{host} does not resolve ({e})"
        url = f"{recipients.rdap_ip_url.rstrip('/')}/ip/{address}"
        with Fetcher(recipients.timeout, recipients.site_timeout, recipients.allow_private,
                     {"Accept": "application/rdap+json, application/json"}) as client:
            record = rdap_object(client, url)
        if isinstance(record, str):
            return None, record
        country = record.get("country")
        if not (isinstance(country, str) and len(country) == 2 and country.isalpha()):
            return None, f"{url} names no country"
        return country.upper(), f"RDAP {url}"
