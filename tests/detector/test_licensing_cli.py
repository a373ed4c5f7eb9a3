"""The licensing commands on a real workspace: offer with its page, contributors, paid, statements."""

import csv
import io
import json
from dataclasses import replace
from datetime import date, timedelta
from urllib.parse import urlsplit

from evidence_case import build_env
from pypdf import PdfReader
from typer.testing import CliRunner

from detector.cli import app
from detector.config import Settings
from detector.errors import UsageError
from detector.provenance import ledger
from detector.workspace.store import Store, utc_now


def run(env, *args):
    result = CliRunner().invoke(app, [*args, "--home", str(env.ws.home)])
    return result


PUBLIC = "https://portal.example.com"


def _reachable() -> Settings:
    """Settings under which an offer can be opened and paid by its recipient, so `offer` sends it."""
    base = Settings()
    return replace(base, licensing=replace(base.licensing, public_url=PUBLIC,
                                           payment_link="https://pay.example/c?amount={amount}&ref={reference}"))


def test_offer_contributors_payment_and_statement_from_the_command_line(tmp_path):
    env = build_env(tmp_path, settings=_reachable())
    explained = run(env, "offer", str(env.match_id), "--explain")
    assert explained.exit_code == 0, explained.output
    assert "x displayed size" in explained.output and "= EUR 187.50" in explained.output
    assert env.store.offers([env.match_id]) == []  # a dry run records nothing

    made = run(env, "offer", str(env.match_id))
    assert made.exit_code == 0, made.output
    assert "EUR 187.50 (EUR 150.00 until" in made.output and "Offer page" in made.output
    link = made.output.split("Offer page")[1].split(": ", 1)[1].split()[0]
    assert link.startswith(f"{PUBLIC}/o/")
    letter = env.store.offer(env.store.offers([env.match_id])[0]["id"])["letter"]
    assert f"To accept it and pay, or to propose another price, open its page:\n\n   {link}\n" in letter
    offer_id = env.store.offers([env.match_id])[0]["id"]
    assert run(env, "offer-link", str(offer_id)).output.strip() == link

    shares = run(env, "contributors", "set", str(env.asset_id), "Ann Lee=60", "Bo Chan=40", "--from", "2020-01-01")
    assert shares.output.strip() == f"Work {env.asset_id}: Ann Lee 60, Bo Chan 40, in force from 2020-01-01."

    bad = run(env, "offer-status", str(offer_id), "paid", "--amount", "100.001")
    assert isinstance(bad.exception, UsageError) and "--amount must be an amount like 100.01" in str(bad.exception)
    early = run(env, "offer-status", str(offer_id), "paid", "--amount", "150.00", "--received", "2001-01-01")
    assert "was received before offer" in str(early.exception)
    paid = run(env, "offer-status", str(offer_id), "paid", "--amount", "150.00", "--reference", "INV-7")
    assert paid.exit_code == 0, paid.output
    assert "offer paid" in paid.output and "Ann Lee (60): EUR 90.00" in paid.output
    until = (date.fromisoformat(utc_now()[:10]) + timedelta(days=365)).isoformat()
    assert f"Licensed: shop.example.com may use the work until {until}" in paid.output

    statement = run(env, "statements", "--period", utc_now()[:7], "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(statement.output)))
    assert [(r["contributor"], r["reference"], r["amount"]) for r in rows] == [
        ("Ann Lee", "INV-7", "90.00"), ("Bo Chan", "INV-7", "60.00")]

    revoked = run(env, "offer-link", str(offer_id), "--revoke")
    assert revoked.output.strip() == f"Revoked 1 live link(s) of offer {offer_id}."


def test_contributors_can_be_given_at_registration(tmp_path, works_dir):
    home = tmp_path / "ws"
    CliRunner().invoke(app, ["init", "--home", str(home), "--embedder", "none"])
    done = CliRunner().invoke(app, ["register", str(works_dir / "coffee.jpg"), "--owner", "alice", "--contributor",
                                    "Ann Lee=60", "--contributor", "Bo Chan=40", "--home", str(home)])
    assert done.exit_code == 0, done.output
    shown = CliRunner().invoke(app, ["contributors", "show", "1", "--home", str(home)])
    assert shown.output.strip() == f"from {utc_now()[:10]}: Ann Lee 60, Bo Chan 40"
    bad = CliRunner().invoke(app, ["register", str(works_dir / "rocket.jpg"), "--contributor", "Ann", "--home", str(home)])
    assert isinstance(bad.exception, UsageError) and "Contributor 'Ann' must be NAME=SHARE" in str(bad.exception)
    assert len(Store(home / "copyhound.db").assets()) == 1  # nothing was registered


def test_a_works_negotiation_rules_are_set_shown_and_cleared_from_the_command_line(tmp_path):
    env = build_env(tmp_path)
    shown = run(env, "negotiation", "show", str(env.asset_id))
    assert shown.output.strip() == f"Work {env.asset_id}: floor 60% (owner), accept 80% (owner)."
    done = run(env, "negotiation", "set", str(env.asset_id), "--floor", "70", "--accept", "90")
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"Work {env.asset_id}: floor 70% (this work), accept 90% (this work)."
    none = run(env, "negotiation", "set", str(env.asset_id))
    assert isinstance(none.exception, UsageError) and "Give --floor PERCENT and/or --accept PERCENT" in str(none.exception)
    wrong = run(env, "negotiation", "set", str(env.asset_id), "--accept", "-5")
    assert isinstance(wrong.exception, UsageError) and "--accept must be a percent" in str(wrong.exception)
    cleared = run(env, "negotiation", "clear", str(env.asset_id))
    assert cleared.output.strip() == f"Work {env.asset_id}: floor 60% (owner), accept 80% (owner)."
    kinds = [e["kind"] for e in Store(env.ws.db_path).ledger_rows([f"asset:{env.asset_id}"])]
    assert kinds.count("negotiation") == 2


def test_statements_print_to_pdf(tmp_path):
    env = build_env(tmp_path, settings=_reachable())
    run(env, "contributors", "set", str(env.asset_id), "Ann Lee=60", "Bo Chan=40", "--from", "2020-01-01")
    offer_id = int(run(env, "offer", str(env.match_id)).output.split("Offer ")[1].split()[0])
    paid = run(env, "offer-status", str(offer_id), "paid", "--amount", "150.00", "--reference", "INV-PDF")
    assert paid.exit_code == 0, paid.output
    period = utc_now()[:7]
    printed = run(env, "statements", "--period", period, "--format", "pdf")
    assert printed.exit_code == 0, printed.output
    path = env.ws.output_dir / "statements" / f"statement-{period}.pdf"
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(path).pages)
    assert f"Royalty statement {period}" in text and "Ann Lee" in text and "90.00" in text and "INV-PDF" in text
    wrong = run(env, "statements", "--period", period, "--format", "docx")
    assert isinstance(wrong.exception, UsageError) and "use csv, html or pdf" in str(wrong.exception)


def test_contributors_set_refuses_shares_that_do_not_total_100_unless_allowed(tmp_path):
    env = build_env(tmp_path)
    typo = run(env, "contributors", "set", str(env.asset_id), "Ann Lee=60", "Bo Chan=4")
    assert isinstance(typo.exception, UsageError)
    assert str(typo.exception).startswith("The shares add up to 64, not 100.") and "--allow-partial" in str(typo.exception)
    assert env.store.contributor_shares(env.asset_id) == []
    weights = run(env, "contributors", "set", str(env.asset_id), "Ann=2.5", "Bo=0.5", "--allow-partial")
    assert weights.exit_code == 0, weights.output
    assert [row["shares"] for row in env.store.contributor_shares(env.asset_id)] == [[["Ann", "2.5"], ["Bo", "0.5"]]]


def test_an_offer_its_recipient_could_not_open_or_pay_is_kept_as_a_draft_with_the_reason(tmp_path):
    env = build_env(tmp_path)  # the default public_url is http://127.0.0.1:8000, and no payment method is set
    made = CliRunner().invoke(app, ["offer", str(env.match_id), "--home", str(env.ws.home)])
    assert made.exit_code == 0, made.output
    said = " ".join(made.output.split())
    offer = env.store.offers([env.match_id])[0]
    assert offer["status"] == "draft" and "Offer page" not in said
    assert f"Offer {offer['id']} kept as a draft, not sent: licensing.public_url is http://127.0.0.1:8000, a loopback" \
        in said
    assert "neither licensing.payment_link nor licensing.bank_transfer is set" in said
    assert f"`copyhound offer-status {offer['id']} sent`" in said
    assert "reply to alice@example.org" in offer["letter"] and "/o/" not in offer["letter"]
    listed = run(env, "offers", "--format", "json")
    (row,) = json.loads(listed.output)
    assert row["status"] == "draft" and row["draft_reason"].startswith("licensing.public_url is http://127.0.0.1:8000")
    assert "; and neither licensing.payment_link nor licensing.bank_transfer is set" in row["draft_reason"]
    (entry,) = [json.loads(e["payload"]) for e in ledger.entries(env.store, [ledger.match_subject(env.match_id)])
                if e["kind"] == "offer"]
    assert entry["draft_reason"] == row["draft_reason"]  # why it was held is on the record too
    table = CliRunner().invoke(app, ["offers", "--home", str(env.ws.home)], env={"COLUMNS": "80"}).output
    assert f"Offer {offer['id']} is a draft, not sent: licensing.public_url is" in " ".join(table.split())
    assert max(len(line) for line in table.splitlines()) <= 80
    host = urlsplit(env.store.match(env.match_id)["page_url"]).hostname
    case = CliRunner().invoke(app, ["cases", "--site", host, "--home", str(env.ws.home)], env={"COLUMNS": "80"}).output
    assert f"Offer {offer['id']} is a draft, not sent: licensing.public_url is" in " ".join(case.split())

    asked = run(env, "offer", str(env.match_id), "--draft")
    assert asked.exit_code == 0, asked.output
    assert env.store.offers([env.match_id])[-1]["draft_reason"] == "asked for with --draft"


def test_serve_warns_when_offers_could_not_be_opened_or_paid(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    env = build_env(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", "from detector.cli import main; main()", "serve", "--port",
                               str(port), "--home", str(env.ws.home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "COLUMNS": "400"})
    try:
        warnings = [server.stderr.readline() for _ in range(4)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    said = " ".join(warnings)
    assert "warning: licensing.public_url is http://127.0.0.1:8000, a loopback address" in said
    assert "warning: neither licensing.payment_link nor licensing.bank_transfer is set" in said
    assert f"offer links start with http://127.0.0.1:8000, not with http://127.0.0.1:{port}" in said
