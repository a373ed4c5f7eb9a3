"""Policies end to end: a real workspace, a real RDAP service and a real SMTP server on loopback,
and an injected clock that moves the case through offer, wait and escalation."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from enforcement_servers import NETWORK_ABUSE, REGISTRAR_ABUSE, SmtpServer, WebServer
from evidence_case import build_env
from support import invoke_cli

from detector import config
from detector.enforcement import cases, policy
from detector.enforcement.run import enforce
from detector.errors import ConfigError
from detector.licensing import settlement
from detector.licensing.settlement import Visitor
from detector.provenance import ledger

# The loopback SMTP server takes AUTH without TLS, which aiosmtpd rightly warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "enforcement.md"
T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)


def documented_policy() -> dict:
    """The [enforcement] example shipped in docs/enforcement.md, parsed as config.toml would be."""
    block = re.search(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL).group(1)
    return tomllib.loads(block)


def settings_for(web: WebServer, smtp: SmtpServer, **enforcement) -> config.Settings:
    data = documented_policy()
    data["enforcement"].update({"offer_url": "https://portal.example/offers/{offer_id}", **enforcement})
    data["recipients"] = {"rdap_ip_url": web.url, "rdap_domain_url": web.url, "allow_private": True}
    data["smtp"] = {"host": "127.0.0.1", "port": smtp.port, "starttls": False, "username": SmtpServer.USER,
                    "password_file": "smtp-password"}
    return config.from_dict(data)


def with_rules(settings: config.Settings, *rules: config.PolicyRule) -> config.Settings:
    return replace(settings, enforcement=replace(settings.enforcement, rules=rules))


@pytest.fixture
def web():
    with WebServer(domains=("localhost",)) as server:
        yield server


@pytest.fixture
def smtp():
    with SmtpServer(refuse={"nobody@hosting.example.net"}) as server:
        yield server


def commercial_case(tmp_path, web, smtp, settings: config.Settings | None = None, **enforcement):
    """A match scoring 0.97 on a commercial site served by `web` (its host resolves, on loopback)."""
    env = build_env(tmp_path, settings=settings or settings_for(web, smtp, **enforcement))
    (env.ws.home / "smtp-password").write_text(SmtpServer.PASSWORD + "\n")
    page = f"http://localhost:{web.server.server_address[1]}/products/mug"
    env.store.db["matches"].update(env.match_id, {"page_url": page, "score": 0.97})
    return env


def test_policy_offers_by_rdap_contact_then_escalates_to_a_notice_after_21_days(tmp_path, web, smtp):
    env = commercial_case(tmp_path, web, smtp)
    ws, store, settings, match_id = env.ws, env.store, env.settings, env.match_id

    (planned,) = enforce(ws, store, settings, T0, dry_run=True)
    assert (planned.rule, planned.action, planned.recipient, planned.recipient_source) == \
        ("offer-commercial", "offer", NETWORK_ABUSE, "rdap_ip")
    assert planned.why == ["decision match", "score 0.97 >= 0.95", "site commercial", "latest offer none"]
    assert planned.outcome == f"would send an offer to {NETWORK_ABUSE} (rdap_ip)"
    assert store.offers([match_id]) == [] and smtp.messages == [] and store.match(match_id)["status"] == "new"

    (offered,) = enforce(ws, store, settings, T0, dry_run=False)
    ((sender, to, message),) = smtp.messages
    (offer,) = store.offers([match_id])
    assert (sender, to, message["To"]) == ("alice@example.org", [NETWORK_ABUSE], NETWORK_ABUSE)
    assert message["Subject"] == "Licence offer for the use of Castle at dusk on localhost"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert offer["letter"].strip() in text and f"https://portal.example/offers/{offer['id']}" in text
    assert sorted(a.get_filename() for a in message.iter_attachments()) == \
        [f"match-{match_id}.html", f"match-{match_id}.pdf"]
    assert (offer["status"], offer["sent_at"], offer["commercial"]) == ("sent", "2025-04-01T09:00:00Z", 1)
    (delivery,) = store.deliveries([match_id])
    assert (delivery["status"], delivery["recipient"], delivery["offer_id"], delivery["at"]) == \
        ("sent", NETWORK_ABUSE, offer["id"], "2025-04-01T09:00:00Z")
    assert delivery["response"] == "250 2.0.0 queued as Q1" and delivery["message_id"] == message["Message-ID"]
    assert offered.outcome == f"sent an offer to {NETWORK_ABUSE}: 250 2.0.0 queued as Q1"
    match = store.match(match_id)
    assert (match["status"], match["note"]) == ("confirmed", "policy rule offer-commercial")

    assert enforce(ws, store, settings, T0 + timedelta(days=10), dry_run=False) == []  # unpaid, but only 10 days
    assert len(smtp.messages) == 1

    (escalated,) = enforce(ws, store, settings, T0 + timedelta(days=22), dry_run=False)
    assert (escalated.rule, escalated.action) == ("escalate-unpaid-offer", "dmca")
    assert escalated.why == ["latest offer sent", "offer 22 days old >= 21"]
    (notice,) = store.notices([match_id])
    (_, to, message) = smtp.messages[1]
    assert to == [NETWORK_ABUSE] and message["Subject"] == "DMCA notice: infringing image on localhost"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert notice["body"].strip() in text
    # the offer is still open: the notice e-mail says where the use can be licensed instead
    assert f"can still be licensed instead of the image being removed: the offer, and how to accept and pay it, " \
        f"are at https://portal.example/offers/{offer['id']}" in text.replace("\n", " ")
    assert notice["created_at"] == "2025-04-23T09:00:00Z"
    assert f"To: {NETWORK_ABUSE}, The designated agent of the service provider hosting localhost" in notice["body"]

    (again,) = enforce(ws, store, settings, T0 + timedelta(days=40), dry_run=False)
    assert again.held == "a DMCA notice was already sent" and len(smtp.messages) == 2

    entries = [e for e in ledger.entries(store, [ledger.match_subject(match_id)]) if e["kind"] == "enforce"]
    assert [(e["at"], e["payload"].count('"rule":"' + rule + '"')) for e, rule in
            zip(entries, ["offer-commercial", "escalate-unpaid-offer"])] == \
        [("2025-04-01T09:00:00Z", 1), ("2025-04-23T09:00:00Z", 1)]
    assert ledger.verify(store) == []
    assert web.requests.count("/ip/127.0.0.1") + web.requests.count("/ip/::1") == 1  # cached for the next runs


def test_a_refused_recipient_is_recorded_and_the_same_offer_is_sent_again_after_cooling(tmp_path, web, smtp):
    web.ip_record["entities"][1]["vcardArray"][1][2][3] = "nobody@hosting.example.net"
    env = commercial_case(tmp_path, web, smtp, cooling_days=3)
    env.settings = with_rules(env.settings, config.PolicyRule(name="offer-commercial", action="offer", min_score=0.95))
    (failed,) = enforce(env.ws, env.store, env.settings, T0, dry_run=False)
    (delivery,) = env.store.deliveries([env.match_id])
    assert delivery["status"] == "failed" and "550" in delivery["response"] and "mailbox unavailable" in delivery["response"]
    assert failed.outcome.startswith("sending to nobody@hosting.example.net failed: SMTPRecipientsRefused")
    (offer,) = env.store.offers([env.match_id])
    assert offer["status"] == "draft" and offer["draft_reason"] == failed.outcome  # why it is a draft, kept
    held = [json.loads(e["payload"]) for e in ledger.entries(env.store, [ledger.match_subject(env.match_id)])
            if e["kind"] == "offer"]
    assert held[-1] == {"offer_id": offer["id"], "status": "draft", "draft_reason": failed.outcome}

    env.store.replace_recipient_lookups("localhost", [])  # the provider fixed its contact; look it up again
    web.ip_record["entities"][1]["vcardArray"][1][2][3] = NETWORK_ABUSE
    (cooling,) = enforce(env.ws, env.store, env.settings, T0 + timedelta(days=1), dry_run=False)
    assert cooling.held == "cooling period: rule offer-commercial acted on 2025-04-01; nothing more before 2025-04-04"
    (resent,) = enforce(env.ws, env.store, env.settings, T0 + timedelta(days=4), dry_run=False)
    assert resent.recipient == NETWORK_ABUSE and [o["id"] for o in env.store.offers([env.match_id])] == [offer["id"]]
    assert env.store.offer(offer["id"])["status"] == "sent" and len(smtp.messages) == 1
    assert env.store.offer(offer["id"])["draft_reason"] is None


def test_an_address_that_refused_the_mail_does_not_hide_the_next_one_found(tmp_path, web, smtp):
    entities = web.ip_record["entities"]
    entities[1]["vcardArray"][1][2][3] = "nobody@hosting.example.net"  # listed first, refused by the server
    entities[1]["vcardArray"][1].append(["email", {}, "text", NETWORK_ABUSE])
    env = commercial_case(tmp_path, web, smtp, cooling_days=3)
    env.settings = with_rules(env.settings, config.PolicyRule(name="offer-commercial", action="offer", min_score=0.95))
    (failed,) = enforce(env.ws, env.store, env.settings, T0, dry_run=False)
    assert failed.recipient == "nobody@hosting.example.net" and "SMTPRecipientsRefused" in failed.outcome
    (planned,) = enforce(env.ws, env.store, env.settings, T0 + timedelta(days=4), dry_run=True)
    (resent,) = enforce(env.ws, env.store, env.settings, T0 + timedelta(days=4), dry_run=False)
    assert planned.recipient == resent.recipient == NETWORK_ABUSE
    assert [to for _, to, _ in smtp.messages] == [[NETWORK_ABUSE]]


@pytest.mark.parametrize(("change", "held"), [
    ({"status": "authorized"}, "an authorised use"),
    ({"decision": "review", "score": 0.97}, "a review-band match: a person decides"),
    ({"presence": "removed"}, "the copy is already gone"),
])
def test_hard_limits_hold_back_what_a_rule_would_do(tmp_path, web, smtp, change, held):
    env = commercial_case(tmp_path, web, smtp)
    env.store.db["matches"].update(env.match_id, change)
    settings = with_rules(env.settings, config.PolicyRule(name="offer-anything", action="offer"))
    (step,) = enforce(env.ws, env.store, settings, T0, dry_run=False)
    assert step.held == held and smtp.messages == [] and env.store.offers([env.match_id]) == []


def test_an_offer_on_its_own_page_is_held_while_recipients_could_not_open_or_pay_it(tmp_path, web, smtp):
    env = commercial_case(tmp_path, web, smtp, offer_url="")  # the offer's own page, at the loopback default
    (step,) = enforce(env.ws, env.store, env.settings, T0, dry_run=False)
    assert step.held.startswith("no offer its recipient could take up: licensing.public_url is http://127.0.0.1:8000")
    assert "; and neither licensing.payment_link nor licensing.bank_transfer is set" in step.held
    assert smtp.messages == [] and env.store.offers([env.match_id]) == []


def test_the_owners_daily_cap_holds_back_the_next_action(tmp_path, web, smtp):
    env = commercial_case(tmp_path, web, smtp, daily_cap_owner=0)
    (step,) = enforce(env.ws, env.store, env.settings, T0, dry_run=False)
    assert step.held == "the owner's daily cap of 0 automated actions is reached" and smtp.messages == []


def test_the_recipients_daily_cap_counts_deliveries_of_the_last_24_hours(tmp_path, web, smtp):
    env = commercial_case(tmp_path, web, smtp, daily_cap_recipient=1)
    env.store.add_delivery({"owner_id": 1, "match_id": env.match_id, "recipient": NETWORK_ABUSE.upper(),
                            "message_id": "<x@y>", "status": "sent", "response": "250 ok",
                            "at": "2025-04-01T08:00:00Z"})
    (step,) = enforce(env.ws, env.store, env.settings, T0, dry_run=True)
    assert step.held == f"the daily cap of 1 e-mails to {NETWORK_ABUSE} is reached"
    (later,) = enforce(env.ws, env.store, env.settings, T0 + timedelta(days=1), dry_run=True)
    assert later.held is None


def test_a_rule_with_an_unknown_action_or_owner_is_named():
    rules = config.from_dict({"enforcement": {"rules": [{"name": "x", "action": "sue"}]}}).enforcement
    with pytest.raises(ConfigError) as refused:
        policy.check_rules(rules, {"alice"})
    assert str(refused.value) == ("enforcement.rules[1] (x): action = 'sue' is not known; use one of: 'offer', "
                                  "'dmca', 'dsa', 'review', 'ignore'.")
    rules = config.from_dict({"enforcement": {"rules": [{"name": "y", "owner": "Alise"}]}}).enforcement
    with pytest.raises(ConfigError, match=r"enforcement.rules\[1\] \(y\): owner 'Alise' is not known; known owners: "
                                          "alice, bob."):
        policy.check_rules(rules, {"bob", "alice"})


def test_a_registrar_contact_is_found_through_the_domains_rdap_record(tmp_path, web, smtp):
    from detector.enforcement import recipients

    env = commercial_case(tmp_path, web, smtp)
    found = recipients.lookup(env.store, env.settings.recipients, "http://localhost:1/x", T0)
    assert [(c.source, c.address) for c in found.contacts()] == \
        [("rdap_ip", NETWORK_ABUSE), ("rdap_domain", REGISTRAR_ABUSE)]
    assert found.country == "DE" and [(r.source, r.address) for r in found.rows[-2:]] == \
        [("security_txt", ""), ("contact_page", "")]


def test_case_and_compliance_count_days_from_the_notice_to_the_removal(tmp_path, web, smtp):
    env = commercial_case(tmp_path, web, smtp)
    enforce(env.ws, env.store, env.settings, T0, dry_run=False)
    enforce(env.ws, env.store, env.settings, T0 + timedelta(days=21), dry_run=False)  # the DMCA notice
    env.store.set_match_presence(env.match_id, presence="removed", presence_at="2025-04-25T09:00:00Z",
                                 presence_detail="the image answered HTTP 404", removed_at="2025-04-25T09:00:00Z")
    (row,) = cases.cases(env.store)
    assert (row["host"], row["matches"], row["removed"], row["notices"], row["offers"], row["emails_sent"]) == \
        ("localhost", 1, 1, 1, 1, 2)
    assert row["median_days_to_removal"] == 3.0
    one = cases.case(env.store, "LOCALHOST")
    assert [m["days_to_removal"] for m in one["matches"]] == [3.0]
    assert [(a["rule"], a["action"]) for a in one["actions"]] == [("offer-commercial", "offer"),
                                                                 ("escalate-unpaid-offer", "dmca")]
    assert cases.compliance(env.store) == [{"recipient": NETWORK_ABUSE, "notices_sent": 1, "removed": 1,
                                            "median_days_to_removal": 3.0}]
    assert cases.compliance(env.store, owner_id=env.store.ensure_owner("bob")["id"]) == []

    shown = invoke_cli("cases", "--site", "localhost", "--format", "json", home=env.ws.home)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)[0]["matches"][0]["presence"] == "removed"
    plan = invoke_cli("enforce", "--dry-run", "--format", "json", home=env.ws.home)
    assert plan.returncode == 0, plan.stderr
    (step,) = json.loads(plan.stdout)
    assert (step["rule"], step["held"]) == ("escalate-unpaid-offer", "the copy is already gone")
    assert step["why"] == "latest offer sent" + "; offer " + str(step["facts"]["offer_days"]) + " days old >= 21"
    invoke_cli("recipients", "localhost", home=env.ws.home)  # today the T0 lookup is stale: looked up again
    asked = len(web.requests)
    shown = invoke_cli("recipients", "localhost", home=env.ws.home)  # and now cached
    assert shown.returncode == 0, shown.stderr
    assert f"Notices go to: {NETWORK_ABUSE} (rdap_ip)" in shown.stdout and len(web.requests) == asked


def test_an_offer_goes_to_the_sites_security_txt_contact_and_overrides_replace_every_lookup(tmp_path, smtp):
    from detector.enforcement import recipients

    text = b"# our contacts\nContact: mailto:security@site.example\nContact: https://site.example/contact\n" \
           b"Contact: mailto:evil@site.example\r\nBcc: x@y.z\n"
    with WebServer(files={"/.well-known/security.txt": text}) as site:
        env = commercial_case(tmp_path, site, smtp)
        page = f"http://localhost:{site.server.server_address[1]}/products/mug"
        found = recipients.lookup(env.store, env.settings.recipients, page, T0)
    assert [(c.source, c.address) for c in found.contacts()] == [
        ("rdap_ip", NETWORK_ABUSE), ("security_txt", "security@site.example"), ("security_txt", "evil@site.example")]
    assert found.best("offer").address == "security@site.example" and found.best("notice").address == NETWORK_ABUSE
    assert found.rows[1] == recipients.Contact("", "rdap_domain", found.rows[1].detail, "2025-04-01T09:00:00Z")
    assert "answered HTTP 404" in found.rows[1].detail

    overridden = replace(env.settings.recipients, overrides={"LOCALHOST": "legal@owner.example"})
    chosen = recipients.lookup(env.store, overridden, page, T0)
    assert [(c.source, c.address) for c in chosen.contacts()] == [("override", "legal@owner.example")]


def test_security_txt_is_not_fetched_from_a_private_address_unless_allowed(tmp_path, smtp):
    from detector.enforcement import recipients

    with WebServer(files={"/.well-known/security.txt": b"Contact: mailto:a@site.example\n"}) as site:
        env = commercial_case(tmp_path, site, smtp)
        strict = replace(env.settings.recipients, allow_private=False)
        found = recipients.lookup(env.store, strict, f"http://127.0.0.1:{site.server.server_address[1]}/p", T0)
        assert "/.well-known/security.txt" not in site.requests
    (row,) = [r for r in found.rows if r.source == "security_txt"]
    assert row.address == "" and "is not a public address (recipients.allow_private)" in row.detail


def test_the_nightly_scan_runs_the_policy_when_configured(tmp_path):
    rules = (config.PolicyRule(name="look-first", action="review"),)
    settings = config.Settings(enforcement=config.EnforcementSettings(run_after_scan=True, rules=rules))
    env = build_env(tmp_path, settings=settings.with_embedder("none"))
    scanned = invoke_cli("scan", "--no-crawl", "--json", home=env.ws.home)
    assert scanned.returncode == 0, scanned.stderr
    (step,) = json.loads(scanned.stdout)["enforcement"]
    assert (step["match_id"], step["rule"], step["outcome"]) == (env.match_id, "look-first", "left for a person to review")

    with env.ws.lock("enforce", env.ws.enforce_lock_path):  # an enforce run from cron is still sending
        scanned = invoke_cli("scan", "--no-crawl", "--json", home=env.ws.home)
    assert scanned.returncode == 0, scanned.stderr
    assert "enforcement" not in json.loads(scanned.stdout)
    assert json.loads(scanned.stdout)["enforcement_skipped"].endswith("another enforce is running. Wait for it to "
                                                                      "finish (or stop it) and run this again.")


def test_mail_goes_over_starttls_to_a_relay_signed_by_the_configured_ca(tmp_path, web):
    from enforcement_servers import self_signed

    from detector.enforcement import mailer

    cert, key = self_signed(tmp_path)
    with SmtpServer(certificate=(cert, key)) as relay:
        env = commercial_case(tmp_path, web, relay)
        trusted = replace(env.settings.smtp, starttls=True, ca_file=str(cert))
        letter = mailer.Letter(env.match_id, 1, "alice@example.org", NETWORK_ABUSE, "Notice", "text")
        sent = mailer.send(env.ws, env.store, trusted, letter, T0)
        untrusted = mailer.send(env.ws, env.store, replace(trusted, ca_file=""), letter, T0)
        plain = mailer.send(env.ws, env.store, replace(trusted, starttls=False), letter, T0)
    assert sent["status"] == "sent" and relay.handler.encrypted == [True]
    assert untrusted["status"] == "failed" and "CERTIFICATE_VERIFY_FAILED" in untrusted["response"]
    assert plain["status"] == "failed" and "AUTH extension not supported" in plain["response"]  # not before TLS
    assert len(relay.messages) == 1 and [d["status"] for d in env.store.deliveries([env.match_id])] == \
        ["sent", "failed", "failed"]



PAYER = Visitor(name="Carla Buyer", organisation="Mug Shop", email="carla@shop.example", ip="192.0.2.7")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _view(env, offer_id: int, at: datetime) -> None:
    settlement.view(env.store, offer_id, PAYER, at=_stamp(at))


def _counter_below_floor(env, offer_id: int, at: datetime) -> None:
    assert settlement.counter(env.store, env.settings, offer_id, 1, PAYER, at=_stamp(at)).kind == "proposed"


def _accept(env, offer_id: int, at: datetime) -> None:
    settlement.accept(env.store, env.settings, offer_id, PAYER, at=_stamp(at))


def _pay(env, offer_id: int, at: datetime) -> None:
    amount = env.store.offer(offer_id)["amount_minor"]
    settlement.record_payment(env.store, env.settings, offer_id, amount, reference="T-1", received_at=_stamp(at))


@pytest.mark.parametrize(("move", "status"), [(_view, "viewed"), (_counter_below_floor, "countered")])
def test_an_offer_opened_or_argued_on_its_page_but_unpaid_escalates_after_21_days(tmp_path, web, smtp, move, status):
    env = commercial_case(tmp_path, web, smtp)
    enforce(env.ws, env.store, env.settings, T0, dry_run=False)
    (offer,) = env.store.offers([env.match_id])
    move(env, offer["id"], T0 + timedelta(days=2))
    assert env.store.offer(offer["id"])["status"] == status
    assert enforce(env.ws, env.store, env.settings, T0 + timedelta(days=20), dry_run=False) == []

    (step,) = enforce(env.ws, env.store, env.settings, T0 + timedelta(days=22), dry_run=False)
    assert (step.rule, step.action, step.held) == ("escalate-unpaid-offer", "dmca", None)
    assert step.why == [f"latest offer {status}", "offer 22 days old >= 21"]
    assert [n["kind"] for n in env.store.notices([env.match_id])] == ["dmca"] and len(smtp.messages) == 2


@pytest.mark.parametrize(("move", "status", "held"), [
    (_accept, "accepted", "the offer is accepted: the use is being licensed"),
    (_pay, "paid", "an authorised use"),  # the paid licence made the use authorised
])
def test_an_accepted_or_paid_offer_stops_escalation_even_under_a_careless_rule(tmp_path, web, smtp, move, status,
                                                                               held):
    env = commercial_case(tmp_path, web, smtp)
    enforce(env.ws, env.store, env.settings, T0, dry_run=False)
    (offer,) = env.store.offers([env.match_id])
    move(env, offer["id"], T0 + timedelta(days=2))
    assert env.store.offer(offer["id"])["status"] == status
    # the documented policy escalates only sent, viewed or countered offers: nothing fits
    assert enforce(env.ws, env.store, env.settings, T0 + timedelta(days=22), dry_run=False) == []
    # a rule that forgets the offer condition is held back by the hard limit
    careless = with_rules(env.settings, config.PolicyRule(name="notice-after-21-days", offer_days=21, action="dmca"))
    (step,) = enforce(env.ws, env.store, careless, T0 + timedelta(days=22), dry_run=False)
    assert step.held == held and env.store.notices([env.match_id]) == [] and len(smtp.messages) == 1


def test_an_offer_condition_naming_an_unknown_state_is_refused():
    rules = config.from_dict({"enforcement": {"rules": [{"name": "z", "offer": "sent, opened", "action": "dmca"}]}})
    with pytest.raises(ConfigError) as refused:
        policy.check_rules(rules.enforcement, {"alice"})
    assert str(refused.value).startswith("enforcement.rules[1] (z): offer = 'sent, opened' is not known; use one or "
                                         "more of none, draft, sent, viewed,")
