"""Settling offers in a real workspace: sent -> viewed -> countered -> accepted -> paid -> statement."""

import csv
import io
import json
import random
import sqlite3
from dataclasses import replace
from decimal import Decimal

import pytest
from evidence_case import build_env

from detector import config
from detector.errors import ActionRefused, UsageError
from detector.licensing import contributors, documents, links, negotiation, offers, settlement, statements, work_rules
from detector.provenance import ledger
from detector.workspace.schema import MIGRATIONS
from detector.workspace.store import Store

AT = "2026-11-02T09:00:00Z"
BUYER = settlement.Visitor("Rita Reader", "Mugs & Co", "rita@mugs.example", "203.0.113.7", "pytest")


def licensing_settings(**changes) -> config.Settings:
    return replace(config.Settings(), licensing=replace(config.LicensingSettings(), **changes))


def test_an_offer_walks_from_sent_to_paid_to_a_contributor_statement(tmp_path):
    settings = licensing_settings(commission_percent=10.0, public_url="https://licences.example/")
    env = build_env(tmp_path, settings=settings)
    contributors.set_contributors(env.store, env.asset_id, ["Ann Lee=60", "Bo Chan=40"], effective_from="2026-01-01")
    # a later change, in force only after the payment below: it must not touch that payment's split
    contributors.set_contributors(env.store, env.asset_id, ["Ann Lee=50", "Bo Chan=30", "Cy Dee=20"],
                                  effective_from="2026-11-15")

    sent = settlement.send_offer(env.ws, env.store, settings, env.match_id, at=AT)
    assert sent.offer["status"] == "sent" and sent.url == f"https://licences.example/o/{sent.token}"
    assert links.resolve(env.store, env.ws.keys_dir, sent.token) == sent.offer["id"]
    offer_id = sent.offer["id"]
    assert (sent.offer["amount_minor"], sent.offer["early_amount_minor"]) == (18750, 15000)

    assert settlement.view(env.store, offer_id, BUYER, at="2026-11-03T10:00:00Z")["status"] == "viewed"
    # price today 150.00: floor 60 % = 90.00, accept 80 % = 120.00; 50.00 is answered once with the floor
    first = settlement.counter(env.store, settings, offer_id, 5000, BUYER, at="2026-11-04T10:00:00Z")
    assert (first.kind, first.amount_minor) == ("proposed", 9000)
    again = settlement.counter(env.store, settings, offer_id, 8000, BUYER, at="2026-11-04T10:05:00Z")
    assert (again.kind, again.amount_minor) == ("stands", 9000)
    accepted = settlement.accept(env.store, settings, offer_id, BUYER, at="2026-11-05T10:00:00Z")
    assert (accepted["amount_minor"], accepted["invoice_number"], accepted["ip"]) == (9000, "INV-1-00001", "203.0.113.7")
    assert accepted["terms"]["domain"] == "shop.example.com" and accepted["terms"]["price"] == "90.00"
    invoice = documents.invoice_html(env.store, settings, offer_id)
    assert "INV-1-00001" in invoice and "EUR 90.00" in invoice and "Mugs &amp; Co" in invoice

    paid = settlement.record_payment(env.store, settings, offer_id, 9000, reference="INV-1-00001",
                                     received_at="2026-11-10T08:00:00Z")
    # 10 % commission = 9.00, then 81.00 by 60/40 (the shares in force on 2026-11-10)
    assert [(p["contributor"], p["amount_minor"]) for p in paid.parts] == [
        (None, 900), ("Ann Lee", 4860), ("Bo Chan", 3240)]
    assert paid.offer["status"] == "paid" and paid.offer["paid_at"] == "2026-11-10T08:00:00Z"
    assert (paid.licence["domain"], paid.licence["ends_at"]) == ("shop.example.com", "2027-11-10T08:00:00Z")
    assert env.store.match(env.match_id)["status"] == "authorized"
    assert env.store.licensed_domains("2027-01-01T00:00:00Z") == {env.asset_id: ["shop.example.com"]}
    assert env.store.licensed_domains("2027-11-11T00:00:00Z") == {}
    assert "In force: the fee was paid." in documents.certificate_html(env.store, settings, offer_id)

    rows = list(csv.DictReader(io.StringIO(statements.as_csv(statements.statement(env.store, "2026-11")))))
    assert [(r["contributor"], r["share"], r["payment"], r["amount"], r["running_total"]) for r in rows] == [
        ("Ann Lee", "60%", "90.00", "48.60", "48.60"), ("Bo Chan", "40%", "90.00", "32.40", "32.40"),
        ("agency commission", "10%", "90.00", "9.00", "9.00")]
    assert statements.statement(env.store, "2026-12") == []
    page = statements.as_html(statements.statement(env.store, "2026-11"), "2026-11")
    assert "<h2>Ann Lee</h2>" in page and "<td>48.60</td>" in page and "<h2>agency commission</h2>" in page
    with pytest.raises(UsageError, match="--period must be a month like 2026-11, got '2026-13'"):
        statements.statement(env.store, "2026-13")

    entries = [(e["kind"], json.loads(e["payload"])) for e in ledger.entries(env.store, [ledger.match_subject(env.match_id)])]
    assert [p["status"] for kind, p in entries if kind == "offer"] == [
        "draft", "sent", "viewed", "countered", "countered", "accepted", "paid"]
    assert [p["split"] for kind, p in entries if kind == "payment"] == [
        [["agency commission", "10%", "9.00"], ["Ann Lee", "60", "48.60"], ["Bo Chan", "40", "32.40"]]]
    accepted_entry = next(p for kind, p in entries if p.get("status") == "accepted")
    assert accepted_entry["by"]["email"] == "rita@mugs.example" and accepted_entry["terms"]["price"] == "90.00"
    assert ledger.verify(env.store) == []


def test_payments_add_up_before_the_offer_is_paid_and_shares_follow_the_receipt_date(tmp_path):
    env = build_env(tmp_path)
    contributors.set_contributors(env.store, env.asset_id, ["Ann=1", "Bo=1", "Cy=1"], effective_from="2026-01-01")
    sent = settlement.send_offer(env.ws, env.store, env.settings, env.match_id, at=AT)
    part = settlement.record_payment(env.store, env.settings, sent.offer["id"], 10000, received_at="2026-11-05T00:00:00Z")
    assert part.offer["status"] == "sent" and (part.paid_minor, part.due_minor) == (10000, 15000)
    assert [p["amount_minor"] for p in part.parts] == [3334, 3333, 3333]
    rest = settlement.record_payment(env.store, env.settings, sent.offer["id"], 5000, received_at="2026-11-06T00:00:00Z")
    assert rest.offer["status"] == "paid" and rest.licence is not None
    with pytest.raises(ActionRefused, match=f"Offer {sent.offer['id']} is paid; a payment is recorded against"):
        settlement.record_payment(env.store, env.settings, sent.offer["id"], 1)
    # relative weights show as the percentage each contributor gets
    assert {r["share"] for r in statements.statement(env.store, "2026-11")} == {"33.33%"}


def test_a_counter_above_the_standing_answer_settles_at_the_counter_and_one_above_the_price_settles_nothing(tmp_path):
    env = build_env(tmp_path)
    sent = settlement.send_offer(env.ws, env.store, env.settings, env.match_id, at=AT)
    offer_id = sent.offer["id"]
    # price today 150.00: floor 90.00, accept 120.00; 50.00 is answered with the floor
    assert settlement.counter(env.store, env.settings, offer_id, 5000, BUYER, at=AT).amount_minor == 9000
    above_price = settlement.counter(env.store, env.settings, offer_id, 99900, BUYER, at=AT)
    # more than the price: nothing is settled; the standing 90.00 is what the buyer may accept
    assert (above_price.kind, above_price.amount_minor) == ("above", 9000)
    assert env.store.offer(offer_id)["status"] == "countered" and env.store.acceptance(offer_id) is None
    reply = settlement.counter(env.store, env.settings, offer_id, 11000, BUYER, at=AT)
    assert (reply.kind, reply.amount_minor) == ("accepted", 11000)
    assert env.store.acceptance(offer_id)["amount_minor"] == 11000
    assert [(c["amount_minor"], c["answer"], c["answer_minor"]) for c in env.store.counter_offers(offer_id)] == [
        (5000, "proposed", 9000), (99900, "above", 9000), (11000, "accepted", 11000)]


def test_legal_documents_show_web_strings_without_bidi_or_control_characters_even_when_stored_with_them(tmp_path):
    env = build_env(tmp_path)
    offer_id = settlement.send_offer(env.ws, env.store, env.settings, env.match_id, at=AT).offer["id"]
    settlement.accept(env.store, env.settings, offer_id, BUYER, at=AT)
    # an acceptance recorded before names were cleaned on the way in: the documents clean it on the way out
    env.store.db["acceptances"].update(offer_id, {
        "name": "Eve\u202egnp.exe\x00", "organisation": "Evil\r\nPaid in full"})
    for html in (documents.invoice_html(env.store, env.settings, offer_id),
                 documents.certificate_html(env.store, env.settings, offer_id)):
        assert "Eve gnp.exe" in html and "Evil Paid in full" in html
        assert "\u202e" not in html and "\x00" not in html


def test_no_rule_ever_sells_below_the_floor():
    """Over random prices, owner rules and a work's own rules (each level set or not), the floor in force
    is the work's when it has one, and no answer is below it."""
    chance = random.Random(15)
    for _ in range(3000):
        price = chance.randint(1, 10_000_000)
        owner = replace(config.LicensingSettings(), floor_percent=chance.uniform(0, 100),
                        accept_percent=chance.uniform(0, 100))
        own = {"floor_percent": chance.choice([None, chance.uniform(0, 100)]),
               "accept_percent": chance.choice([None, chance.uniform(0, 100)])}
        rules = work_rules.applied(owner, own)
        floor_pct = own["floor_percent"] if own["floor_percent"] is not None else owner.floor_percent
        assert rules.floor_percent == floor_pct
        limits = negotiation.bounds(price, rules)
        assert limits.floor_minor >= price * Decimal(str(floor_pct)) / 100 and limits.accept_minor >= limits.floor_minor
        standing = None
        for counter in sorted(chance.randint(0, price * 2) for _ in range(3)):
            reply = negotiation.answer(limits, counter, standing)
            assert limits.floor_minor <= reply.amount_minor <= price
            if reply.kind == "accepted":
                break
            standing = reply.amount_minor


def test_a_works_own_floor_overrides_its_owners_and_every_change_is_in_the_ledger(tmp_path):
    env = build_env(tmp_path)
    work_rules.set_rules(env.store, env.asset_id, floor_percent=75.0)
    sent = settlement.send_offer(env.ws, env.store, env.settings, env.match_id, at=AT)
    # price today 150.00: the work's floor 75 % = 112.50 (the owner's 60 % would be 90.00); accept 80 % = 120.00
    reply = settlement.counter(env.store, env.settings, sent.offer["id"], 5000, BUYER, at="2026-11-03T00:00:00Z")
    assert (reply.kind, reply.amount_minor) == ("proposed", 11250)

    work_rules.set_rules(env.store, env.asset_id, accept_percent=95.0)  # the floor returns to the owner's
    again = settlement.send_offer(env.ws, env.store, env.settings, env.match_id, at=AT)
    # accept 95 % = 142.50: 130.00 is no longer enough; half-way between them, 136.25, is proposed
    reply = settlement.counter(env.store, env.settings, again.offer["id"], 13000, BUYER, at="2026-11-03T00:00:00Z")
    assert (reply.kind, reply.amount_minor) == ("proposed", 13625)
    assert work_rules.describe(env.settings.licensing, work_rules.current(env.store, env.asset_id)) == \
        "floor 60% (owner), accept 95% (this work)"

    work_rules.set_rules(env.store, env.asset_id)
    assert work_rules.current(env.store, env.asset_id) is None
    entries = [json.loads(e["payload"]) for e in ledger.entries(env.store, [ledger.asset_subject(env.asset_id)])
               if e["kind"] == "negotiation"]
    assert [(e["floor_percent"], e["accept_percent"]) for e in entries] == [(75.0, None), (None, 95.0), (None, None)]
    with pytest.raises(UsageError, match="--floor must be a percent of the offer's price from 0 to 100, got 120"):
        work_rules.set_rules(env.store, env.asset_id, floor_percent=120.0)
    assert ledger.verify(env.store) == []


def test_a_counter_at_the_accept_level_is_accepted_at_once(tmp_path):
    env = build_env(tmp_path)
    sent = settlement.send_offer(env.ws, env.store, env.settings, env.match_id, at=AT)
    reply = settlement.counter(env.store, env.settings, sent.offer["id"], 12000, BUYER, at="2026-11-03T00:00:00Z")
    assert (reply.kind, reply.amount_minor) == ("accepted", 12000)
    offer = env.store.offer(sent.offer["id"])
    assert offer["status"] == "accepted" and offers.amount_due(offer) == "120.00"
    assert env.store.acceptance(sent.offer["id"])["amount_minor"] == 12000


def test_expired_and_revoked_links_and_bad_input_are_refused(tmp_path):
    env = build_env(tmp_path)
    sent = settlement.send_offer(env.ws, env.store, env.settings, env.match_id, at=AT)
    with pytest.raises(ActionRefused, match="This offer is expired; it can no longer be accepted"):
        settlement.accept(env.store, env.settings, sent.offer["id"], BUYER, at="2026-12-03T00:00:00Z")
    fresh = settlement.send_offer(env.ws, env.store, env.settings, env.match_id)
    with pytest.raises(UsageError, match="Give an email address like name@example.org; got 'rita'"):
        settlement.accept(env.store, env.settings, fresh.offer["id"], replace(BUYER, email="rita"))
    assert settlement.revoke_links(env.store, fresh.offer["id"]) == 1
    from detector.errors import NotFound
    for token in (fresh.token, fresh.token[:-1] + ("A" if fresh.token[-1] != "A" else "B"), "../../etc"):
        with pytest.raises(NotFound, match="This offer link is not valid"):
            links.resolve(env.store, env.ws.keys_dir, token)
    with pytest.raises(UsageError, match="Contributor 'Ann' must be NAME=SHARE with a share above 0"):
        contributors.set_contributors(env.store, env.asset_id, ["Ann"])
    with pytest.raises(UsageError, match="Contributor 'Ann' is listed twice"):
        contributors.set_contributors(env.store, env.asset_id, ["Ann=1", "Ann=2"])


def test_offers_written_before_minor_units_stay_readable(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        db.executescript(script)
    db.execute("INSERT INTO meta VALUES ('schema_version', '3')")
    db.execute("INSERT INTO owners(id, name, created_at) VALUES (1, 'alice', 'x')")
    db.execute("INSERT INTO assets(id, owner_id, sha256, filename, width, height, format, frames, byte_size, "
               "registered_at) VALUES (1, 1, 'aa', 'a.jpg', 10, 10, 'JPEG', 1, 1, 'x')")
    db.execute("INSERT INTO matches(id, asset_id, owner_id, sha256, page_url, image_url, score, decision, "
               "first_seen, last_seen) VALUES (1, 1, 1, 'bb', 'https://a.example/', 'https://a.example/i', 1, "
               "'match', 'x', 'x')")
    db.execute("INSERT INTO offers(match_id, owner_id, licence, commercial, currency, amount, early_amount, status, "
               "created_at, discount_until, expires_at, letter) VALUES (1, 1, 'web', 0, 'EUR', '1000000.01', "
               "'518.40', 'sent', 'x', 'x', 'x', 'letter')")
    db.commit()
    db.close()
    offer = Store(path).offer(1)
    assert (offer["amount_minor"], offer["early_amount_minor"], offer["amount"]) == (100000001, 51840, "1000000.01")
