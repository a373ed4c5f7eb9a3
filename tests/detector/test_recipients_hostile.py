"""Recipient lookups against hostile sites and RDAP answers, all served on loopback: a site trickling its
security.txt, addresses too long or at internal hosts listed before a good one, an RDAP redirect to a
private address, and an RDAP answer nested 50,000 deep."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import pytest
from enforcement_servers import NETWORK_ABUSE, WebServer, network

from detector import config
from detector.enforcement import addresses, recipients
from detector.workspace.store import Store

T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
GOOD = "security@shop.example"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    location: str | None = None
    seconds_per_byte: float = 0.0  # > 0: the body trickles out one byte at a time


@dataclass
class HostileServer:
    """Answers each path in `routes` as given; anything else is 404."""

    routes: dict[str, Route] = field(default_factory=dict)

    def __enter__(self) -> Self:
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                route = routes.get(self.path.split("?")[0]) or Route(b"not here", 404)
                self.send_response(route.status)
                if route.location:
                    self.send_header("Location", route.location)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                try:
                    if not route.seconds_per_byte:
                        self.wfile.write(route.body)
                    for byte in route.body if route.seconds_per_byte else b"":
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(route.seconds_per_byte)
                except OSError:  # the client gave up, as it should
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _settings(rdap_url: str, **changes) -> config.RecipientSettings:
    base = config.RecipientSettings(rdap_ip_url=rdap_url, rdap_domain_url=rdap_url, allow_private=True)
    return replace(base, **changes)


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "copyhound.db")
    yield store
    store.close()


def test_a_site_trickling_its_security_txt_is_given_up_at_the_deadline(store):
    trickle = Route(b"Contact: mailto:" + GOOD.encode() + b"\n" * 40, seconds_per_byte=0.3)  # ~20 s in all
    with WebServer() as rdap, HostileServer({"/.well-known/security.txt": trickle, "/": trickle}) as site:
        clock = time.monotonic()
        found = recipients.lookup(store, _settings(rdap.url, timeout=1.5, site_timeout=60),
                                  f"http://localhost:{site.port}/page", T0)
        took = time.monotonic() - clock
    assert took < 6, f"the lookup took {took:.1f} s"
    (row,) = [r for r in found.rows if r.source == "security_txt"]
    assert row.address == "" and row.detail.endswith("did not answer in full within 1.5 s (recipients.timeout)")
    assert found.best("notice").address == NETWORK_ABUSE  # what answered in time is kept


def test_one_sites_lookups_share_a_budget(store):
    slow = Route(b"x" * 100, seconds_per_byte=0.2)
    routes = {"/.well-known/security.txt": slow, "/": slow}
    with WebServer() as rdap, HostileServer(routes) as site:
        clock = time.monotonic()
        found = recipients.lookup(store, _settings(rdap.url, timeout=30, site_timeout=2),
                                  f"http://localhost:{site.port}/", T0)
        took = time.monotonic() - clock
    assert took < 4.5, f"the lookup took {took:.1f} s"
    details = {r.source: r.detail for r in found.rows if not r.address}
    assert "took the 2 s they may take in all (recipients.site_timeout)" in details["security_txt"]
    assert "took the 2 s they may take in all (recipients.site_timeout)" in details["contact_page"]


def test_bad_addresses_listed_first_do_not_shadow_a_good_one(store):
    long_one = "a" * 4995 + "@example.org"  # 5,007 characters
    listed = [long_one, "b" * 65 + "@example.org", "abuse@127.0.0.1", "abuse@[10.0.0.1]", "abuse@localhost",
              "abuse@printer.local", GOOD]
    text = "".join(f"Contact: mailto:{a}\n" for a in listed).encode()
    with WebServer() as rdap, HostileServer({"/.well-known/security.txt": Route(text)}) as site:
        found = recipients.lookup(store, _settings(rdap.url, contact_page=False), f"http://localhost:{site.port}/", T0)
    assert found.best("offer").address == GOOD
    assert [c.address for c in found.contacts() if c.source == "security_txt"] == [GOOD]
    (note,) = [r.detail for r in found.rows if r.source == "security_txt" and not r.address]
    assert "longer than 254 characters (RFC 5321)" in note and "local part longer than 64" in note
    assert "'abuse@127.0.0.1'...: " not in note and "'abuse@127.0.0.1': an address literal" in note
    assert "'abuse@[10.0.0.1]': an address literal" in note and "'abuse@localhost': an internal host" in note
    assert len(note) < 1200  # a 5,007-character address is named by its start only
    assert {r["address"] for r in store.recipient_lookups(found.host, "2000")} == {GOOD, NETWORK_ABUSE, ""}


@pytest.mark.parametrize(("text", "why"), [
    ("a" * 64 + "@" + "d" * 181 + ".example", None),          # 254 characters, a 64-character local part
    ("a" * 64 + "@" + "d" * 182 + ".example", "longer than 254 characters (RFC 5321)"),
    ("a" * 65 + "@example.org", "a local part longer than 64 characters (RFC 5321)"),
    ("abuse@169.254.169.254", "an address literal, not a domain"),
    ("abuse@[IPv6:::1]", "an address literal, not a domain"),
    ("abuse@intranet.internal", "an internal host (intranet.internal)"),
    ("abuse@LOCALHOST.", "an internal host (localhost)"),
    ("Abuse Desk <abuse@example.org>", "not one plain e-mail address"),
])
def test_addresses_follow_rfc_5321_limits_and_refuse_internal_hosts(text, why):
    assert addresses.problem(text) == why


def test_an_rdap_redirect_to_a_private_address_is_not_followed(store):
    with WebServer() as real:
        target = f"http://localhost:{real.server.server_address[1]}/ip/127.0.0.1"
        with HostileServer({"/ip/127.0.0.1": Route(status=302, location=target)}) as rdap:
            settings = _settings(rdap.url, allow_private=False, security_txt=False, contact_page=False)
            refused = recipients.lookup(store, settings, "http://127.0.0.1/", T0)
            followed = recipients.lookup(store, replace(settings, allow_private=True), "http://127.0.0.1/", T0,
                                         refresh=True)
    (row,) = refused.rows
    assert row.address == "" and row.detail == (
        f"{rdap.url}ip/127.0.0.1 redirects to {target}, not followed: localhost resolves to 127.0.0.1, which is not "
        "a public address (recipients.allow_private)")
    assert [c.address for c in followed.contacts()] == [NETWORK_ABUSE]
    assert real.requests == ["/ip/127.0.0.1"]  # only when allowed


def test_an_rdap_answer_nested_50000_deep_is_refused_with_the_reason_recorded(store):
    deep = b'{"entities": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    chain: dict = {"roles": ["abuse"], "vcardArray": ["vcard", [["email", {}, "text", "deep@example.org"]]]}
    for _ in range(20):  # an abuse contact 20 entities down: past what is searched, but parsed
        chain = {"roles": ["registrar"], "entities": [chain]}
    with WebServer() as rdap, HostileServer({"/ip/127.0.0.1": Route(deep)}) as hostile:
        found = recipients.lookup(store, _settings(hostile.url, security_txt=False, contact_page=False),
                                  "http://127.0.0.1/", T0)
        rdap.ip_record = dict(network(), entities=[chain, *network()["entities"]])
        chained = recipients.lookup(store, _settings(rdap.url, security_txt=False, contact_page=False),
                                    "http://127.0.0.1/", T0, refresh=True)
    (row,) = found.rows
    assert row.address == "" and row.detail.endswith("answered JSON nested deeper than 64 levels; refused unread")
    assert [c.address for c in chained.contacts()] == [NETWORK_ABUSE]


def test_json_depth_counts_brackets_outside_strings():
    assert recipients.json_depth(b'{"a": [1, {"b": "[[[{{{"}], "c": "\\"]"}') == 3
    assert recipients.json_depth(b"[" * 100 + b"]" * 100) == 100
