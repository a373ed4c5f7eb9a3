"""The public offer page and the payment webhook on a real portal (uvicorn on 127.0.0.1), over a workspace
of their own: one registered work (contributors 60/40), one copy found on a page whose URL carries markup.

HTTP-level tests use httpx like any visitor; the browser test drives headless Chromium through a
counter-offer, an acceptance and the pay link.
"""

from __future__ import annotations

import html
import io
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import redis
from PIL import Image
from pypdf import PdfReader

from detector import config, demo_site, tokens
from detector.errors import ConfigError
from detector.evidence import profile
from detector.licensing import contributors, settlement, statements, webhook
from detector.register import WorkInfo, register_files
from detector.web import create_app, ratelimit
from detector.workspace import Workspace, create_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, utc_now

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
HOSTILE_PAGE = 'https://shop.example.net/mugs?q="><script>alert(1)</script>'
PAGES = [HOSTILE_PAGE, "https://mugs.example.org/shop", "https://old.example.com/", "https://cafe.example.io/",
         "https://www.browser.example/menu", "https://api.example.net/x", "https://portal.example.net/y",
         "https://hostile.example.net/z", "https://spoof.example.net/s", "https://race.example.net/r"]
PAY = "https://pay.example/checkout?amount={amount}&currency={currency}&ref={reference}"
PROFILE = {"legal_name": "Alice Example Photography Ltd", "address": "1 Lens Street, Camtown",
           "email": "alice@example.org", "signature": "/s/ Alice Example", "jurisdiction": "Germany"}


@dataclass
class Shop:
    url: str
    ws: Workspace
    settings: config.Settings
    match_ids: list[int]  # one per test: paying an offer authorises its match
    asset_id: int
    token: str            # alice's API token

    def store(self) -> closing[Store]:
        return closing(Store(self.ws.db_path))

    def send(self, which: int, at: str | None = None) -> settlement.Sent:
        with self.store() as store:
            return settlement.send_offer(self.ws, store, self.settings, self.match_ids[which], at=at)


def _settings(**licensing) -> config.Settings:
    base = config.Settings().with_embedder("none")
    # The work is on one site per test here; without a demand increase every offer costs the same
    # (demand pricing has tests of its own), and the factor still shows in the breakdown.
    return replace(base, licensing=replace(base.licensing, **licensing),
                   pricing=replace(base.pricing, demand_increase=0.0))


@pytest.fixture(scope="module")
def shop(tmp_path_factory, serve) -> Shop:
    settings = _settings(payment_link=PAY, bank_transfer="Alice Example Ltd\nIBAN DE00 1234", tax_percent=19.0,
                         tax_id="DE123456789", page_requests_per_minute=10_000)
    ws, _ = create_workspace(tmp_path_factory.mktemp("offers") / "ws", settings)
    with closing(Store(ws.db_path)) as store:
        (outcome,) = register_files(ws, store, settings, None, [demo_site.WORKS_DIR / "coffee.jpg"], WorkInfo("alice"))
        profile.set_profile(store, "alice", **PROFILE)
        contributors.set_contributors(store, outcome.asset_id, ["Ann Lee=60", "Bo Chan=40"], effective_from="2020-01-01")
        out = io.BytesIO()
        demo_site.cropped(Image.open(demo_site.WORKS_DIR / "coffee.jpg").convert("RGB")).save(out, "JPEG")
        sha = BlobStore(ws.blobs_dir).put(out.getvalue())
        scan_id = store.start_scan({"targets": ["test"]})
        match_ids = []
        for page in PAGES:
            candidate_id = store.add_candidate({
                "scan_id": scan_id, "target": "test", "page_url": page, "image_url": f"{page}/c.jpg",
                "declared_width": 400, "declared_height": 300, "discovered_at": utc_now(), "fetched_at": utc_now(),
                "http_status": 200, "sha256": sha, "byte_size": len(out.getvalue()), "sniffed_format": "jpeg"})
            match_ids.append(store.record_match(asset=store.asset(outcome.asset_id),
                                                candidate=store.candidate(candidate_id), score=0.95,
                                                decision="match", signals={})[0])

        _, token = tokens.create_token(store, "alice", label="test")
    with serve(create_app(ws)) as url:
        yield Shop(url, ws, ws.settings(), match_ids, outcome.asset_id, token)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def _visit(client: httpx.Client, url: str) -> tuple[httpx.Response, str]:
    page = client.get(url)
    assert page.status_code == 200, page.text
    return page, _csrf(page.text)


def test_the_page_shows_the_offer_escaped_and_only_that_offer(shop):
    sent = shop.send(0)
    with httpx.Client(base_url=shop.url) as client:
        page, _ = _visit(client, f"/o/{sent.token}")
        text = page.text
        assert "Licence offer for “coffee”" in text and "Alice Example Photography Ltd" in text
        assert "<script>alert(1)</script>" not in text and "q=&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "Accept for EUR 150.00" in text and "EUR 187.50; EUR 150.00 if accepted by" in text
        assert "long side 400 px" in text and "365 days from payment" in text and f"used on {len(PAGES)} sites" in text
        assert page.headers["cache-control"] == "no-store" and "unsafe-inline" not in page.headers["content-security-policy"]
        work = client.get(f"/o/{sent.token}/work.jpg")
        assert work.status_code == 200 and work.headers["content-type"] == "image/jpeg"
        assert client.get(f"/o/{sent.token}/letter.jpg").status_code == 404
        # a POST without the page's CSRF token is refused, and nothing changes
        assert client.post(f"/o/{sent.token}/accept", data={"name": "x", "email": "x@y.example"}).status_code == 403
    with shop.store() as store:
        assert store.offer(sent.offer["id"])["status"] == "viewed"
        settlement.revoke_links(store, sent.offer["id"])
    forged = sent.token[:-2] + ("AA" if not sent.token.endswith("AA") else "BB")
    with httpx.Client(base_url=shop.url) as client:
        for token in (sent.token, forged, "1", "x" * 66):
            dead = client.get(f"/o/{token}")
            assert dead.status_code == 404 and "This offer link is not valid" in dead.text, token
        assert client.get(f"/o/{sent.token}/work.jpg").status_code == 404


def test_a_counter_below_the_floor_is_answered_with_the_floor_then_accepted_and_paid_by_webhook(shop):
    sent = shop.send(1)
    with httpx.Client(base_url=shop.url, follow_redirects=True) as client:
        _, csrf = _visit(client, f"/o/{sent.token}")
        who = {"csrf": csrf, "name": "Rita <b>Reader</b>", "organisation": "Mugs & Co", "email": "rita@mugs.example"}
        answered = client.post(f"/o/{sent.token}/counter", data={**who, "amount": "10.00"})
        # price 150.00: floor 60 % = 90.00, so 10.00 is answered with the floor
        assert "You offered EUR 10.00." in answered.text and "We can agree to EUR 90.00" in answered.text
        assert "Accept for EUR 90.00" in answered.text
        bad = client.post(f"/o/{sent.token}/counter", data={**who, "amount": "ten"})
        assert bad.status_code == 422 and "Your offer must be an amount like 100.01" in bad.text
        accepted = client.post(f"/o/{sent.token}/accept", data=who)
        assert "Accepted by Rita &lt;b&gt;Reader&lt;/b&gt; (Mugs &amp; Co)" in accepted.text
        reference = re.search(r'id="pay-reference">([^<]+)<', accepted.text).group(1)
        assert reference == "INV-1-00001"
        link = html.unescape(re.search(r'id="pay-link" href="([^"]+)"', accepted.text).group(1))
        assert link == "https://pay.example/checkout?amount=90.00&currency=EUR&ref=INV-1-00001"
        invoice = client.get(f"/o/{sent.token}/invoice").text
        # 90.00 including 19 % tax: tax 14.37 (90 x 19 / 119 = 14.369...), net 75.63
        assert "EUR 75.63" in invoice and "EUR 14.37" in invoice and "DE123456789" in invoice
        assert "Rita &lt;b&gt;Reader&lt;/b&gt;" in invoice
        assert "Comes into force when invoice INV-1-00001 is paid" in client.get(f"/o/{sent.token}/certificate").text
        printed = client.get(f"/o/{sent.token}/invoice.pdf")
        assert printed.status_code == 200 and printed.headers["content-type"] == "application/pdf"
        invoice_pdf = PdfReader(io.BytesIO(printed.content))
        text = " ".join(" ".join(page.extract_text().split()) for page in invoice_pdf.pages)  # money has nbsp
        assert "Invoice INV-1-00001" in text and "EUR 75.63" in text and "DE123456789" in text
        assert "Rita <b>Reader</b>" in text  # the typed name, printed as text, never as markup
        assert (invoice_pdf.xmp_metadata.pdfaid_part, invoice_pdf.xmp_metadata.pdfaid_conformance) == ("2", "B")
        certificate = PdfReader(io.BytesIO(client.get(f"/o/{sent.token}/certificate.pdf").content))
        assert "Comes into force when invoice INV-1-00001 is paid" in certificate.pages[0].extract_text()

    secret = webhook.secret(shop.ws.keys_dir)
    body = json.dumps({"id": "evt_1", "reference": reference, "amount": "90.00", "currency": "EUR"}).encode()

    def post(body: bytes, signature: str) -> httpx.Response:
        return httpx.post(f"{shop.url}/webhooks/payments", content=body,
                          headers={"Copyhound-Signature": signature, "Content-Type": "application/json"})

    now = int(time.time())
    assert post(body, webhook.sign("not-the-secret", now, body)).status_code == 401
    stale = post(body, webhook.sign(secret, now - 3600, body))
    assert stale.status_code == 401 and "more than 300 s from ours" in stale.json()["error"]
    tampered = post(body.replace(b"90.00", b"9.00"), webhook.sign(secret, now, body))
    assert tampered.status_code == 401
    signed = webhook.sign(secret, now, body)
    paid = post(body, signed)
    assert paid.status_code == 200, paid.text
    assert paid.json()["offer_status"] == "paid" and paid.json()["paid"] == "90.00"
    replay = post(body, signed)
    assert replay.status_code == 409 and "received before" in replay.json()["error"]
    unknown = json.dumps({"id": "evt_2", "reference": "INV-9-99999", "amount": "1.00", "currency": "EUR"}).encode()
    assert post(unknown, webhook.sign(secret, now, unknown)).status_code == 404

    with httpx.Client(base_url=shop.url) as client:
        assert "Paid: thank you." in client.get(f"/o/{sent.token}").text
        certificate = PdfReader(io.BytesIO(client.get(f"/o/{sent.token}/certificate.pdf").content))
        assert "In force: the fee was paid." in certificate.pages[0].extract_text()
    with shop.store() as store:
        match = store.match(shop.match_ids[1])
        rows = statements.statement(store, utc_now()[:7])
    assert match["status"] == "authorized"
    mine = [(r["contributor"], r["amount"]) for r in rows if r["reference"] == reference]
    assert mine == [("Ann Lee", "54.00"), ("Bo Chan", "36.00")]


def test_an_expired_offers_link_opens_nothing(shop):
    sent = shop.send(2, at="2020-01-01T00:00:00Z")
    with httpx.Client(base_url=shop.url) as client:
        page = client.get(f"/o/{sent.token}")
        assert page.status_code == 410
        assert "This offer expired on 2020-01-31; ask alice@example.org for a new one." in page.text
        assert "EUR" not in page.text and "coffee" not in page.text and 'name="csrf"' not in page.text
        for path in ("work.jpg", "copy.jpg", "invoice", "invoice.pdf", "certificate"):
            assert client.get(f"/o/{sent.token}/{path}").status_code == 410, path
        assert client.post(f"/o/{sent.token}/accept", data={"name": "x"}).status_code == 410
    with shop.store() as store:
        assert store.offer(sent.offer["id"])["status"] == "expired"


HOSTILE_AMOUNTS = ["1e309", "1e26", "100000000000000000", "1e-2", "+50", "\u0661\u0660\u0660", "1_000", "NaN"]


def test_hostile_amounts_and_deeply_nested_bodies_answer_4xx_never_500(shop):
    sent = shop.send(7)
    offer_id = sent.offer["id"]
    with httpx.Client(base_url=shop.url, follow_redirects=True) as client:
        _, csrf = _visit(client, f"/o/{sent.token}")
        who = {"csrf": csrf, "name": "Rita Reader", "email": "rita@mugs.example"}
        for amount in HOSTILE_AMOUNTS:
            answered = client.post(f"/o/{sent.token}/counter", data={**who, "amount": amount})
            assert answered.status_code == 422 and "Your offer must be an amount like 100.01" in answered.text, amount
    with httpx.Client(base_url=shop.url, headers={"Authorization": f"Bearer {shop.token}"}) as api:
        for amount in HOSTILE_AMOUNTS:
            paid = api.post(f"/api/offers/{offer_id}/payments", json={"amount": amount})
            assert paid.status_code == 422 and "amount must be an amount like 100.01" in paid.json()["error"], amount

    secret = webhook.secret(shop.ws.keys_dir)

    def post(body: bytes) -> httpx.Response:
        return httpx.post(f"{shop.url}/webhooks/payments", content=body, headers={
            "Copyhound-Signature": webhook.sign(secret, int(time.time()), body), "Content-Type": "application/json"})

    def event(n: int, amount: str) -> bytes:
        return (f'{{"id": "evt_hostile_{n}", "reference": "INV-1-00001", "currency": "EUR", '
                f'"amount": {amount}}}').encode()

    raw = ["1e309", "1e26", "100000000000000000", "-1", '"1e-2"', '"+50"', '"\\u0661\\u0660"', '[[[["1.00"]]]]']
    for n, amount in enumerate(raw):
        refused = post(event(n, amount))
        assert refused.status_code == 422 and "amount" in refused.json()["error"], amount
    for deep in (b"[" * 8000 + b"]" * 8000, event(99, "[" * 7000 + "]" * 7000), b'"just a string"'):
        refused = post(deep)
        assert refused.status_code == 422 and "must be JSON with id, reference" in refused.json()["error"]
    with shop.store() as store:
        assert store.payments(offer_id) == [] and store.counter_offers(offer_id) == []
        assert store.offer(offer_id)["status"] == "viewed"


SPOOFING = "\u202e\u2066\u200f\x00\x1b[31m\r\n\t"


def test_bidi_overrides_and_control_characters_never_reach_the_invoice_certificate_or_page(shop):
    sent = shop.send(8)
    with httpx.Client(base_url=shop.url, follow_redirects=True) as client:
        _, csrf = _visit(client, f"/o/{sent.token}")
        accepted = client.post(f"/o/{sent.token}/accept", data={
            "csrf": csrf, "name": f"Rita{SPOOFING}Reader", "organisation": f"Mugs{SPOOFING}Co",
            "email": "rita@mugs.example"})
        assert accepted.status_code == 200 and "Accepted by Rita [31m Reader (Mugs [31m Co)" in accepted.text
        documents = [accepted.text] + [client.get(f"/o/{sent.token}/{name}").text for name in ("invoice", "certificate")]
    with shop.store() as store:
        stored = store.acceptance(sent.offer["id"])
    assert (stored["name"], stored["organisation"]) == ("Rita [31m Reader", "Mugs [31m Co")
    for text in documents + [stored["name"], stored["organisation"]]:
        assert not any(c in text for c in "\u202e\u2066\u200f\x00\x1b\r"), text[:200]
    assert "Rita [31m Reader" in documents[1] and "Rita [31m Reader" in documents[2]


def test_offer_pages_are_rate_limited_per_address(shop, serve):
    sent = shop.send(3)
    strict = replace(shop.settings, licensing=replace(shop.settings.licensing, page_requests_per_minute=3))
    with serve(create_app(shop.ws, strict)) as url, httpx.Client(base_url=url) as client:
        codes = [client.get(f"/o/{sent.token}").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert client.post("/webhooks/payments", content=b"{}").status_code == 429
        # without trusted proxies a client cannot name its own address: rotating the header changes nothing
        rotated = [client.get(f"/o/{sent.token}", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
                   for n in range(5)]
        assert rotated == [429] * 5
    behind_proxy = replace(strict, portal=replace(strict.portal, trusted_proxies=("127.0.0.1",)))
    with serve(create_app(shop.ws, behind_proxy)) as url, httpx.Client(base_url=url) as client:
        def get(forwarded: str) -> int:
            return client.get(f"/o/{sent.token}", headers={"X-Forwarded-For": forwarded}).status_code
        # from a trusted proxy, the right-most address it did not add itself is the client's
        assert [get("198.51.100.1") for _ in range(4)] == [200, 200, 200, 429]
        assert get("198.51.100.2") == 200
        assert get("203.0.113.9, 198.51.100.1") == 429  # a client-supplied left part is not the client


def test_rate_limit_counters_expire_in_memory_and_in_redis(redis_url):
    memory = ratelimit.PerAddress(2, window_s=1)
    assert [memory.allow("203.0.113.1") for _ in range(3)] == [True, True, False]
    for n in range(5000):
        memory.allow(f"10.{n // 250}.{n % 250}.1")
    assert len(memory.storage.storage) >= 5000
    # a counter lives two windows; the next request after that sweeps the expired ones away
    deadline = time.monotonic() + 10
    while len(memory.storage.storage) > 2 and time.monotonic() < deadline:
        memory.allow("192.0.2.1")
        time.sleep(0.2)
    assert len(memory.storage.storage) <= 2 and memory.allow("203.0.113.1")

    shared = ratelimit.PerAddress(2, redis_url, window_s=60)
    other_process = ratelimit.PerAddress(2, redis_url, window_s=60)
    assert [shared.allow("203.0.113.5"), other_process.allow("203.0.113.5"), shared.allow("203.0.113.5")] == \
        [True, True, False]
    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.scan_iter("*203.0.113.5*")]
    assert keys and all(0 < client.ttl(k) <= 120 for k in keys)
    with pytest.raises(ConfigError, match="portal.rate_limit_storage 'nosuch://x'"):
        ratelimit.PerAddress(2, "nosuch://x")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
@pytest.mark.slow
def test_in_a_browser_counter_accept_and_pay_link(shop):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip)")
    sent = shop.send(4)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(sent.url.replace(shop.settings.licensing.public_url, shop.url))
        expect = sync_api.expect
        expect(page.locator("#offer-status")).to_have_text("viewed")
        counter = page.locator("#settle-form")
        counter.get_by_label("Your name").fill("Rita Reader")
        counter.get_by_label("Email").fill("rita@mugs.example")
        counter.get_by_label("Your offer").fill("130")
        counter.get_by_role("button", name="Make a counter-offer").click()
        # 130.00 is above 80 % of 150.00: accepted at once
        expect(page.locator("#offer-status")).to_have_text("accepted")
        expect(page.locator("#amount-due")).to_have_text("EUR 130.00")
        expect(page.locator("#pay-link")).to_have_attribute(
            "href", re.compile(r"^https://pay\.example/checkout\?amount=130\.00&currency=EUR&ref=INV-1-\d{5}$"))
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        assert errors == []
        browser.close()
    with shop.store() as store:
        assert store.acceptance(sent.offer["id"])["amount_minor"] == 13000


def test_the_owner_sends_pays_and_sets_contributors_through_the_api(shop):
    auth = {"Authorization": f"Bearer {shop.token}"}
    with httpx.Client(base_url=shop.url, headers=auth) as api:
        made = api.post(f"/api/matches/{shop.match_ids[5]}/offers", json={"send": True})
        assert made.status_code == 201, made.text
        offer = made.json()
        assert offer["status"] == "sent" and offer["page_url"].startswith("http://127.0.0.1:8000/o/")
        assert api.get(f"/api/offers/{offer['id']}/link").json()["url"] == offer["page_url"]
        bad = api.post(f"/api/offers/{offer['id']}/payments", json={"amount": "1.234"})
        assert bad.status_code == 422 and "amount must be an amount like 100.01" in bad.json()["error"]
        assert api.post(f"/api/offers/{offer['id']}/status", json={"status": "paid"}).status_code == 422
        part = api.post(f"/api/offers/{offer['id']}/payments", json={"amount": "100.00", "reference": "BANK-1"})
        assert part.status_code == 201 and part.json()["offer"]["status"] == "sent"
        assert [(p["contributor"], p["amount"]) for p in part.json()["split"]] == [("Ann Lee", "60.00"), ("Bo Chan", "40.00")]
        rest = api.post(f"/api/offers/{offer['id']}/payments", json={"amount": "60.00", "reference": "BANK-2"})
        assert rest.json()["offer"]["status"] == "paid" and rest.json()["licence"]["domain"] == "api.example.net"
        assert (rest.json()["paid"], rest.json()["due"], rest.json()["excess"]) == ("160.00", "150.00", "10.00")
        assert api.delete(f"/api/offers/{offer['id']}/link").json() == {"revoked": 1}
        assert httpx.get(offer["page_url"].replace("http://127.0.0.1:8000", shop.url)).status_code == 404

        changed = api.put(f"/api/assets/{shop.asset_id}/contributors",
                          json={"shares": ["Ann Lee=50", "Bo Chan=50"], "effective_from": "2999-01-01"})
        assert changed.status_code == 200 and changed.json()["effective_from"] == "2999-01-01"
        assert [s["effective_from"] for s in api.get(f"/api/assets/{shop.asset_id}/contributors").json()["items"]] \
            == ["2020-01-01", "2999-01-01"]
        refused = api.put(f"/api/assets/{shop.asset_id}/contributors", json={"shares": ["Ann Lee"]})
        assert refused.status_code == 422 and "must be NAME=SHARE" in refused.json()["error"]
        csv_text = api.get("/api/statements", params={"period": utc_now()[:7], "format": "csv"}).text
        assert "BANK-1" in csv_text and "BANK-2" in csv_text
    with httpx.Client(base_url=shop.url) as stranger:
        assert stranger.get(f"/api/offers/{offer['id']}/link").status_code == 401


def test_two_payments_posted_at_once_that_pay_an_offer_in_full_make_it_paid(shop):
    sent = shop.send(9)
    barrier = threading.Barrier(2)

    def pay(n: int) -> httpx.Response:
        with httpx.Client(base_url=shop.url, headers={"Authorization": f"Bearer {shop.token}"}, timeout=60) as api:
            barrier.wait()
            return api.post(f"/api/offers/{sent.offer['id']}/payments", json={"amount": "75.00", "reference": f"R{n}"})

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(pay, range(2)))
    assert [a.status_code for a in answers] == [201, 201]
    assert sorted(a.json()["paid"] for a in answers) == ["150.00", "75.00"]
    with shop.store() as store:
        assert store.offer(sent.offer["id"])["status"] == "paid" and store.licence(sent.offer["id"]) is not None


def test_the_owner_records_a_payment_in_the_portal(shop):
    sent = shop.send(6)
    with httpx.Client(base_url=shop.url, follow_redirects=True) as browser:
        signin = browser.get("/signin")
        browser.post("/signin", data={"csrf": _csrf(signin.text), "token": shop.token, "next": "/"})
        page = browser.get(f"/offers/{sent.offer['id']}")
        assert page.status_code == 200 and sent.url in page.text
        # the owner previewing the public page is no view by the recipient
        assert browser.get(f"/o/{sent.token}").status_code == 200
        assert 'id="offer-status">sent<' in browser.get(f"/offers/{sent.offer['id']}").text
        assert browser.get(f"/offers/{sent.offer['id']}?error=forged").text.count("forged") == 0
        too_little = browser.post(f"/offers/{sent.offer['id']}/payment",
                                  data={"csrf": _csrf(page.text), "amount": "-1", "reference": "x"})
        assert too_little.status_code == 422 and "Amount must be an amount like 100.01" in too_little.text
        paid = browser.post(f"/offers/{sent.offer['id']}/payment",
                            data={"csrf": _csrf(page.text), "amount": "155.00", "reference": "CASH-1"})
        assert "Payment recorded" in paid.text and 'id="offer-status">paid<' in paid.text
        assert "Ann Lee (60): EUR 93.00" in paid.text
        assert "Overpaid by EUR 5.00: more was received than the EUR 150.00 due" in paid.text
        asset = browser.get(f"/assets/{shop.asset_id}")
        saved = browser.post(f"/assets/{shop.asset_id}/contributors",
                             data={"csrf": _csrf(asset.text), "shares": "Ann Lee=70\nBo Chan=30", "effective_from": ""})
        assert "Contributors saved" in saved.text and "Ann Lee 70, Bo Chan 30" in saved.text


def test_a_works_own_floor_is_set_through_the_api_answers_on_the_page_and_is_cleared_in_the_portal(shop):
    auth = {"Authorization": f"Bearer {shop.token}"}
    with httpx.Client(base_url=shop.url, headers=auth) as api:
        rules = api.put(f"/api/assets/{shop.asset_id}/negotiation", json={"floor_percent": 75})
        assert rules.status_code == 200, rules.text
        assert rules.json() == {"asset_id": shop.asset_id, "own": {"floor_percent": 75.0, "accept_percent": None},
                                "floor_percent": 75.0, "accept_percent": 80.0}
        assert api.put(f"/api/assets/{shop.asset_id}/negotiation", json={"floor_percent": 120}).status_code == 422
        assert api.get("/api/assets/99999/negotiation").status_code == 404
    sent = shop.send(2)  # its earlier offer expired (test_an_expired_offers_link_opens_nothing)
    try:
        with httpx.Client(base_url=shop.url, follow_redirects=True) as client:
            _, csrf = _visit(client, f"/o/{sent.token}")
            answered = client.post(f"/o/{sent.token}/counter", data={
                "csrf": csrf, "name": "Rita Reader", "email": "rita@mugs.example", "amount": "10.00"})
            # price 150.00: the work's floor 75 % = 112.50 answers, not the owner's 60 % = 90.00
            assert "We can agree to EUR 112.50" in answered.text
    finally:
        with httpx.Client(base_url=shop.url, follow_redirects=True) as browser:
            signin = browser.get("/signin")
            browser.post("/signin", data={"csrf": _csrf(signin.text), "token": shop.token, "next": "/"})
            asset = browser.get(f"/assets/{shop.asset_id}")
            assert "This work's own rules: floor 75%, accept level as the owner's" in asset.text
            cleared = browser.post(f"/assets/{shop.asset_id}/negotiation",
                                   data={"csrf": _csrf(asset.text), "floor_percent": "", "accept_percent": ""})
            assert "Negotiation rules saved" in cleared.text and "The owner's rules" in cleared.text
            bad = browser.post(f"/assets/{shop.asset_id}/negotiation",
                               data={"csrf": _csrf(asset.text), "floor_percent": "lots"})
            assert bad.status_code == 422 and "Floor must be a percent like 70" in bad.text
    with httpx.Client(base_url=shop.url, headers=auth) as api:
        assert api.get(f"/api/assets/{shop.asset_id}/negotiation").json()["own"] is None
