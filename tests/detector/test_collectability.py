"""Collectability triage with real data: a real SQLite workspace; two sites on loopback (a shop on 127.0.0.1,
a personal blog on 127.0.0.2) whose pages are fetched over HTTP and written into a WARC as the crawler
writes them; a loopback RDAP service that places the two networks in DE and TH; a real rescan's follow-up;
and, for enforcement, a real SMTP server on loopback."""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from enforcement_servers import NETWORK_ABUSE, SmtpServer, WebServer, network
from evidence_case import build_env
from support import invoke_cli, serving
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from detector import config, tokens
from detector.collectability import factors
from detector.collectability.assess import assess_matches
from detector.collectability.hosting import HostingCountries
from detector.enforcement import owner_rules
from detector.enforcement.run import enforce
from detector.followup import follow_up
from detector.licensing.offers import make_offer, set_offer_status
from detector.provenance import ledger
from detector.web import create_app
from detector.workspace.store import MatchFilter

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)

SHOP_PAGE = """<!doctype html><html lang="de"><head><title>Tasse Burg</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Product", "name": "Tasse",
 "offers": {"@type": "Offer", "price": "29.90", "priceCurrency": "EUR"}}</script></head>
<body><img src="/img/mug.jpg" width="900" height="675"><p>29,90 €</p><button>In den Warenkorb</button></body></html>"""
# No <html lang>: the language comes from the Content-Language header.
BLOG_PAGE = """<!doctype html><html><head><title>Our trip</title><meta name="generator" content="WordPress 6.5">
<script type="application/ld+json">{"@type": "BlogPosting", "headline": "Our trip"}</script></head>
<body><p>Holiday snaps</p><img src="/img/castle.jpg" width="150"></body></html>"""


class Site:
    """A web site on one loopback address: path -> (HTML, extra headers)."""

    def __init__(self, address: str, pages: dict[str, tuple[str, dict[str, str]]]):
        self.address, self.pages = address, pages

    def __enter__(self):
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body, headers = pages.get(self.path, ("not here", {}))
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body.encode())))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self.address, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.origin = f"http://{self.address}:{self.server.server_address[1]}"
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def capture(ws, urls: list[str], name: str) -> dict[str, int]:
    """Fetch each page over HTTP and write its response record into warc/NAME, as the crawler does."""
    offsets = {}
    with (ws.warc_dir / name).open("wb") as f:
        writer = WARCWriter(f, gzip=True)
        for url in urls:
            response = httpx.get(url)
            offsets[url] = f.tell()
            headers = StatusAndHeaders(f"{response.status_code} OK", list(response.headers.items()),
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(response.content),
                                                          http_headers=headers))
    return offsets


def settings_for(rdap: WebServer, smtp: SmtpServer) -> config.Settings:
    return config.from_dict({
        "recipients": {"rdap_ip_url": rdap.url, "rdap_domain_url": rdap.url, "allow_private": True},
        "smtp": {"host": "127.0.0.1", "port": smtp.port, "starttls": False, "username": SmtpServer.USER,
                 "password_file": "smtp-password"},
        "enforcement": {"offer_url": "https://portal.example/offers/{offer_id}"},
    })


@dataclass
class World:
    env: object
    shop: int       # match id of the copy on the shop
    blog: int       # match id of the copy on the blog
    rdap: WebServer
    smtp: SmtpServer


@pytest.fixture
def world(tmp_path):
    with WebServer(ip_records={"127.0.0.1": network("DE"), "127.0.0.2": network("TH")}) as rdap, \
            SmtpServer() as smtp, \
            Site("127.0.0.1", {"/products/mug": (SHOP_PAGE, {})}) as shop, \
            Site("127.0.0.2", {"/2025/our-trip": (BLOG_PAGE, {"Content-Language": "th"})}) as blog:
        yield build_world(tmp_path, rdap, smtp, shop, blog)


def build_world(tmp_path, rdap, smtp, shop: Site, blog: Site) -> World:
    env = build_env(tmp_path, settings=settings_for(rdap, smtp))
    (env.ws.home / "smtp-password").write_text(SmtpServer.PASSWORD + "\n")
    store = env.store
    shop_url, blog_url = f"{shop.origin}/products/mug", f"{blog.origin}/2025/our-trip"
    offsets = capture(env.ws, [shop_url, blog_url], "scan-2.warc.gz")
    # The fixture's match becomes the shop's copy, shown 900 px wide; a second sighting is on the blog, 150 px.
    store.db["candidates"].update(env.candidate_id, {"page_url": shop_url, "declared_width": 900,
                                                     "declared_height": 675, "page_warc_file": "warc/scan-2.warc.gz",
                                                     "page_warc_offset": offsets[shop_url]})
    store.db["matches"].update(env.match_id, {"page_url": shop_url})
    first = store.candidate(env.candidate_id)
    blog_candidate = store.add_candidate({
        **{k: first[k] for k in ("scan_id", "target", "image_url", "final_url", "discovered_at", "fetched_at",
                                 "http_status", "sha256", "byte_size", "sniffed_format", "warc_file", "warc_offset")},
        "page_url": blog_url, "page_title": "Our trip", "declared_width": 150, "declared_height": None,
        "page_warc_file": "warc/scan-2.warc.gz", "page_warc_offset": offsets[blog_url], "state": "detected",
        "headers": {}})
    blog_id, _ = store.record_match(asset=store.asset(env.asset_id), candidate=store.candidate(blog_candidate),
                                    score=0.95, decision="match", signals=store.match(env.match_id)["signals"])
    store.db["matches"].update(blog_id, {"first_seen": "2025-03-01T10:00:00Z", "last_seen": "2025-03-01T10:00:00Z"})
    # A rescan saw the shop's copy still up (the real follow-up); the blog was not re-checked.
    rescan = store.start_scan({"targets": ["shop"]})
    store.add_candidate({**{k: first[k] for k in ("target", "image_url", "final_url", "discovered_at", "fetched_at",
                                                  "http_status", "sha256", "byte_size", "sniffed_format")},
                         "scan_id": rescan, "page_url": shop_url, "state": "detected", "headers": {}})
    follow_up(store, rescan, 3, at="2025-03-20T08:00:00Z")
    # An earlier offer to the blog about this copy was sent and expired unanswered.
    offer = make_offer(env.ws, store, env.settings, blog_id, at="2025-01-02T09:00:00Z").record
    set_offer_status(store, offer["id"], "sent", at="2025-01-02T09:00:00Z")
    set_offer_status(store, offer["id"], "expired", at="2025-02-01T09:00:00Z")
    return World(env, env.match_id, blog_id, rdap, smtp)


def by_name(assessment) -> dict[str, factors.Factor]:
    return {f.name: f for f in assessment.factors}


# -- the rules, one by one ------------------------------------------------------------------------------

def test_commercial_rules():
    assert factors.commercial("<p>hi</p>", "x.example", (), listed=True).value == 1.0
    assert factors.commercial(None, "x.example", (), listed=False).reason == \
        "the page was not captured, so its use is not known"
    assert factors.commercial("<p>ad</p>", "x.example", ("adverts",), listed=False).value == 0.7
    assert factors.commercial("<footer>Acme GmbH</footer>", "x.example", (), listed=False).value == 0.6
    assert factors.commercial("<p>my cat</p>", "jane.blogspot.com", (), listed=False).value == 0.2
    assert factors.commercial("<p>my cat</p>", "jane.example", (), listed=False).value == 0.4


def test_jurisdiction_counts_the_signals_within_reach():
    countries, languages = ("DE", "GB"), ("de", "en")
    assert factors.tld_country("shop.co.uk") == "GB" and factors.tld_country("shop.com") is None
    assert factors.tld_country("127.0.0.1") is None
    both = factors.jurisdiction("shop.de", "NL", "RDAP", "de", countries, languages)
    assert both.value == 0.67 and both.reason == \
        "within reach: .de domain (DE), page in 'de'; outside collectability.countries/languages: hosted in NL"
    unknown = factors.jurisdiction("shop.com", None, "x.invalid does not resolve", None, countries, languages)
    assert unknown.value == 0.5 and "x.invalid does not resolve" in unknown.reason
    assert factors.page_language('<HTML class=x LANG="fr-CA">', {"content-language": "de"}) == "fr"
    assert factors.page_language("<html>", {"content-language": "pt-BR, en"}) == "pt"


def test_presence_size_and_history_rules():
    assert factors.presence("removed", "2025-03-20T08:00:00Z", "2025-01-01", "HTTP 404").reason == \
        "the copy is gone at the re-check of 2025-03-20 (HTTP 404)"
    assert factors.presence("up", None, "2025-01-01T00:00:00Z", None).value == 0.8
    assert factors.size_placement(1200, 0.9, True, 1.0).value == 1.0
    assert factors.size_placement(120, 0.1, False, 0.3).value == round((0.2 - 0.15) * 0.8, 2)
    assert factors.size_placement(300, 0.6, None, None).value == 0.75  # half the page's width or more
    assert factors.history("a.example", factors.History(paid=1, ignored=3)).value == 1.0
    assert factors.history("a.example", factors.History(ignored=1, removed=1)).value == 0.25
    assert factors.history("a.example", factors.History()).reason == "no earlier offer or notice to a.example"
    assert sum(factors.WEIGHTS.values()) == pytest.approx(1.0)


# -- a real workspace ---------------------------------------------------------------------------------

def test_each_match_is_scored_from_its_page_host_recheck_size_and_site_history(world):
    ws, store, settings = world.env.ws, world.env.store, world.env.settings
    shop, blog = assess_matches(ws, store, settings, [store.match(world.shop), store.match(world.blog)], T0)

    s = by_name(shop)
    assert (s["commercial"].value, s["commercial"].reason) == \
        (1.0, "the page sells: shop/product markup, a cart or buy button, prices")
    assert (s["jurisdiction"].value, s["jurisdiction"].reason) == (1.0, "within reach: hosted in DE, page in 'de'")
    assert (s["presence"].value, s["presence"].reason) == (1.0, "still up at the re-check of 2025-03-20")
    assert s["size_placement"].value == 1.0
    assert s["size_placement"].reason == "shown 900 px wide (70% of the page's width)"
    assert (s["history"].value, s["history"].reason) == (0.5, "no earlier offer or notice to 127.0.0.1")
    assert shop.score == 0.9

    b = by_name(blog)
    assert (b["commercial"].value, b["commercial"].reason) == \
        (0.2, "a personal blog, with no sign of selling or adverts")
    assert (b["jurisdiction"].value, b["jurisdiction"].reason) == \
        (0.0, "outside collectability.countries/languages: hosted in TH, page in 'th'")
    assert (b["presence"].value, b["presence"].reason) == (0.8, "not re-checked since it was found on 2025-03-01")
    assert b["size_placement"].value == 0.2
    assert (b["history"].value, b["history"].reason) == (0.1, "127.0.0.2 ignored 1 earlier offer(s) or notice(s)")
    assert blog.score == 0.26

    stored = store.collectability(world.blog)
    assert stored["score"] == 0.26 and stored["assessed_at"] == "2025-04-01T09:00:00Z"
    assert [f["name"] for f in stored["factors"]] == list(factors.WEIGHTS)
    assert all(set(f) == {"name", "value", "weight", "reason"} for f in stored["factors"])
    # Each network was asked once; the next assessment reads the cache.
    asked = sorted(p for p in world.rdap.requests if p.startswith("/ip/"))
    assert asked == ["/ip/127.0.0.1", "/ip/127.0.0.2"]
    assess_matches(ws, store, settings, [store.match(world.shop), store.match(world.blog)], T0 + timedelta(days=1))
    assert sorted(p for p in world.rdap.requests if p.startswith("/ip/")) == asked

    ranked, total = store.find_matches(MatchFilter(owner="alice"), order="collectability")
    assert [m["id"] for m in ranked] == [world.shop, world.blog] and total == 2
    assert [m["collectability"] for m in ranked] == [0.9, 0.26]


def test_history_follows_the_sites_answers(world):
    ws, store, settings = world.env.ws, world.env.store, world.env.settings
    offer = make_offer(ws, store, settings, world.shop, at="2025-03-21T09:00:00Z").record
    set_offer_status(store, offer["id"], "sent", at="2025-03-21T09:00:00Z")
    (fresh,) = assess_matches(ws, store, settings, [store.match(world.shop)], T0)
    assert by_name(fresh)["history"].value == 0.5  # sent 11 days ago: not yet ignored
    (late,) = assess_matches(ws, store, settings, [store.match(world.shop)], T0 + timedelta(days=30))
    assert by_name(late)["history"].reason == "127.0.0.1 ignored 1 earlier offer(s) or notice(s)"
    set_offer_status(store, offer["id"], "accepted", at="2025-04-05T09:00:00Z")
    (agreed,) = assess_matches(ws, store, settings, [store.match(world.shop)], T0 + timedelta(days=30))
    assert by_name(agreed)["history"].value == 0.9


def test_hosting_lookups_refuse_private_addresses_unless_allowed_and_are_bounded(world):
    store, settings = world.env.store, world.env.settings
    closed = replace(settings, recipients=replace(settings.recipients, allow_private=False))
    country, why = HostingCountries(store, closed, T0).country("localhost")
    assert country is None and why.startswith("not looked up: localhost resolves to") and \
        "recipients.allow_private" in why
    assert not any(p.startswith("/ip/") for p in world.rdap.requests)  # nothing was asked
    one = replace(settings, collectability=replace(settings.collectability, max_lookups=1))
    countries = HostingCountries(store, one, T0)
    assert countries.country("127.0.0.1") == ("DE", f"RDAP {world.rdap.url}ip/127.0.0.1")
    assert countries.country("127.0.0.2") == \
        (None, "not looked up in this run: 1 lookups made (collectability.max_lookups)")
    later = HostingCountries(store, one, T0 + timedelta(days=29))  # within recipients.cache_days
    assert later.country("127.0.0.1")[0] == "DE" and later.country("127.0.0.2")[0] == "TH"
    assert [p for p in world.rdap.requests if "/ip/" in p] == ["/ip/127.0.0.1", "/ip/127.0.0.2"]
    stale = HostingCountries(store, one, T0 + timedelta(days=31))  # past it: asked again
    assert stale.country("127.0.0.1")[0] == "DE" and len([p for p in world.rdap.requests if "/ip/" in p]) == 3


def test_an_rdap_answer_nested_too_deep_is_refused_unread(world):
    deep: dict = {}
    for _ in range(80):
        deep = {"entities": [deep]}
    world.rdap.ip_records["127.0.0.2"] = dict(deep, country="TH")
    country, why = HostingCountries(world.env.store, world.env.settings, T0).country("127.0.0.2")
    assert country is None and "nested deeper than 64 levels" in why


# -- enforcement on collectability ------------------------------------------------------------------

def test_offers_only_where_collectability_is_high_and_notices_elsewhere(world):
    rules = (config.PolicyRule(name="offer-collectable", decision="match", min_collectability=0.6, offer="none",
                               action="offer"),
             config.PolicyRule(name="notice-elsewhere", decision="match", action="dmca"))
    env = world.env
    settings = replace(env.settings, enforcement=replace(env.settings.enforcement, rules=rules))

    planned = enforce(env.ws, env.store, settings, T0, dry_run=True)
    assert [(s.match_id, s.rule, s.action) for s in planned] == \
        [(world.shop, "offer-collectable", "offer"), (world.blog, "notice-elsewhere", "dmca")]
    assert planned[0].why == ["decision match", "latest offer none", "collectability 0.9 >= 0.6"]
    assert planned[0].facts["collectability"] == 0.9 and planned[1].facts["collectability"] == 0.26
    assert world.smtp.messages == []

    taken = enforce(env.ws, env.store, settings, T0, dry_run=False)
    assert [(s.match_id, s.action, s.recipient) for s in taken] == \
        [(world.shop, "offer", NETWORK_ABUSE), (world.blog, "dmca", NETWORK_ABUSE)]
    subjects = sorted(message["Subject"] for _, _, message in world.smtp.messages)
    assert subjects == ["DMCA notice: infringing image on 127.0.0.2",
                        "Licence offer for the use of Castle at dusk on 127.0.0.1"]
    assert [o["status"] for o in env.store.offers([world.shop])] == ["sent"]
    assert [n["kind"] for n in env.store.notices([world.shop])] == []
    assert [n["kind"] for n in env.store.notices([world.blog])] == ["dmca"]
    entries = [json.loads(e["payload"]) for e in ledger.entries(env.store, [ledger.match_subject(world.shop)])
               if e["kind"] == "enforce"]
    assert entries[0]["why"] == ["decision match", "latest offer none", "collectability 0.9 >= 0.6"]


def test_the_portal_rule_preview_uses_the_stored_score(world):
    env = world.env
    store = env.store
    owner = store.owner_by_name("alice")
    assess_matches(env.ws, store, env.settings, [store.match(world.shop), store.match(world.blog)], T0)
    form = {"name": "ignore-hopeless", "action": "ignore", "below_collectability": "0.3"}
    rule = owner_rules.parse(form, owner)
    assert rule.below_collectability == 0.3
    rows = owner_rules.explain(store, env.settings.enforcement, owner, [rule], T0)
    assert {r.match_id: r.then for r in rows} == {world.shop: "", world.blog: "ignore-hopeless: ignore"}
    with pytest.raises(config.ConfigError, match="below_collectability must be between 0 and 1"):
        owner_rules.parse(dict(form, below_collectability="1.5"), owner)


# -- the CLI ---------------------------------------------------------------------------------------

def test_the_cli_scores_lists_by_collectability_and_gives_the_factors_in_json(world):
    home = world.env.ws.home
    done = invoke_cli("collectability", "--format", "json", home=home)
    assert done.returncode == 0, done.stderr
    scored = {row["match_id"]: row["collectability"] for row in json.loads(done.stdout)}
    assert scored == {world.shop: 0.9, world.blog: 0.26}

    listed = invoke_cli("matches", "--sort", "collectability", "--format", "json", home=home)
    rows = json.loads(listed.stdout)
    assert [r["id"] for r in rows] == [world.shop, world.blog]
    assert [f["name"] for f in rows[0]["collectability_factors"]] == list(factors.WEIGHTS)
    assert rows[1]["collectability_factors"][1]["reason"] == \
        "outside collectability.countries/languages: hosted in TH, page in 'th'"

    table = invoke_cli("matches", "--sort", "collectability", home=home)
    header = next(line for line in table.stdout.splitlines() if "┃ id" in line)
    assert [c.strip() for c in header.strip("┃").split("┃")][:4] == ["id", "work", "score", "collect"]
    first_row = next(line for line in table.stdout.splitlines() if line.startswith(f"│ {world.shop} "))
    assert [c.strip() for c in first_row.strip("│").split("│")][3] == "0.90"
    one = invoke_cli("collectability", str(world.blog), home=home)
    assert f"Match {world.blog}: collectability 0.26" in one.stdout and "a personal blog" in one.stdout
    bad = invoke_cli("matches", "--sort", "price", home=home)
    assert bad.returncode != 0 and "sort 'price' is not known; use one of: id, collectability" in bad.stderr


# -- the portal ------------------------------------------------------------------------------------

def test_the_portal_shows_sorts_and_opens_on_the_most_collectable(world):
    env = world.env
    store = env.store
    assess_matches(env.ws, store, env.settings, [store.match(world.shop), store.match(world.blog)], T0)
    _, token = tokens.create_token(store, "alice", label="test")
    with serving(create_app(env.ws, env.settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/signin")
        field = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        signed = client.post("/signin", data={"token": token, "csrf": field, "next": "/"})
        assert signed.status_code == 303

        dashboard = client.get("/").text
        worth = dashboard[dashboard.index('id="worth"'):dashboard.index("</section>", dashboard.index('id="worth"'))]
        assert worth.index(f'href="/matches/{world.shop}"') < worth.index(f'href="/matches/{world.blog}"')
        assert "<td>0.90</td>" in worth and "<td>0.26</td>" in worth
        assert dashboard.index('id="worth"') < dashboard.index("<h2>Newest matches</h2>")

        oldest = client.get("/matches").text
        assert oldest.index(f'href="/matches/{world.shop}"') < oldest.index(f'href="/matches/{world.blog}"')
        store.db["collectability"].update(world.blog, {"score": 0.95})  # now the blog ranks first
        ranked = client.get("/matches", params={"sort": "collectability"}).text
        assert ranked.index(f'href="/matches/{world.blog}"') < ranked.index(f'href="/matches/{world.shop}"')
        assert '<option value="collectability" selected>' in ranked
        refused = client.get("/matches", params={"sort": "price"})
        assert refused.status_code == 422 and "sort must be one of id, collectability, got &#39;price&#39;" in refused.text

        detail = client.get(f"/matches/{world.blog}").text
        table = detail[detail.index('id="collectability"'):detail.index("</section>", detail.index('id="collectability"'))]
        assert "<td>jurisdiction</td><td>0.00</td><td>0.20</td>" \
               "<td>outside collectability.countries/languages: hosted in TH, page in &#39;th&#39;</td>" in table
        assert "<td>size placement</td><td>0.20</td><td>0.10</td>" in table

        api = client.get("/api/matches", params={"sort": "collectability"}, headers={"Authorization": f"Bearer {token}"})
        assert [m["id"] for m in api.json()["items"]] == [world.blog, world.shop]
        assert [m["collectability"] for m in api.json()["items"]] == [0.95, 0.9]

        # The rule editor takes a collectability condition and previews it on the stored scores.
        editor = client.get("/rules").text
        assert 'name="min_collectability"' in editor and 'name="below_collectability"' in editor
        field = re.search(r'name="csrf" value="([^"]+)"', editor).group(1)
        rule = {"csrf": field, "op": "add", "name": "offer-collectable", "action": "offer", "min_collectability": "0.92"}
        preview = client.post("/rules/preview", data=rule)
        assert preview.status_code == 200
        assert preview.text.count("<td>no rule</td><td>offer-collectable: offer</td>") == 1  # the blog, 0.95
        assert client.post("/rules/apply", data=rule).status_code == 303
        assert "min collectability 0.92" in client.get("/rules").text
        refused = client.post("/rules/preview", data=dict(rule, min_collectability="2"))
        assert refused.status_code == 422 and "min_collectability must be between 0 and 1" in refused.text
    assert store.owner_rules(store.owner_by_name("alice")["id"]) == \
        [{"action": "offer", "min_collectability": 0.92, "name": "offer-collectable"}]
