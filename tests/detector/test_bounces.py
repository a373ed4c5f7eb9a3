"""Bounces read back from a real maildir holding real delivery status notifications (RFC 3464),
after the e-mails went out through a real SMTP server on loopback."""

from __future__ import annotations

import json
import mailbox
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from enforcement_servers import SmtpServer
from evidence_case import build_env
from support import invoke_cli, run_cli

from detector import config
from detector.config.edit import set_value
from detector.enforcement import bounces, cases, mailer
from detector.provenance import ledger

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)


def dsn(recipient: str, action: str, original_id: str | None, date: str = "Wed, 02 Apr 2025 10:00:00 +0000") -> bytes:
    """A bounce as Postfix writes one: a human part, the delivery status, the original's headers."""
    headers = f"From: alice@owner.example\r\nTo: {recipient}\r\nMessage-ID: {original_id}\r\n" if original_id else ""
    parts = [
        ("Content-Type: text/plain; charset=us-ascii\r\n\r\nI'm sorry to have to inform you that your message "
        "could not be delivered.\r\n"),
        ("Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.hosting.example\r\n"
        f"Arrival-Date: {date}\r\n\r\nFinal-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mail.hosting.example\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>:\r\n    Recipient address rejected: User unknown\r\n"),
    ]
    if headers:
        parts.append(f"Content-Type: text/rfc822-headers\r\n\r\n{headers}")
    body = "".join(f"--B0UND\r\n{p}\r\n" for p in parts) + "--B0UND--\r\n"
    return ("From: MAILER-DAEMON@mx.hosting.example (Mail Delivery System)\r\nTo: alice@owner.example\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nDate: {date}\r\n"
            "Message-ID: <bounce.1@mx.hosting.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B0UND\"\r\n\r\n"
            + body).encode()


def plain(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "someone@else.example", "alice@owner.example", subject
    message.set_content("Thanks for your offer, we will pay next week.")
    return message


@pytest.fixture
def sent(tmp_path):
    """A workspace whose match has two e-mails accepted by the SMTP server, and its maildir."""
    with SmtpServer() as smtp:
        smtp_settings = config.SmtpSettings(host="127.0.0.1", port=smtp.port, starttls=False,
                                            username=SmtpServer.USER, password_file="smtp-password",
                                            bounce_maildir="bounces")
        env = build_env(tmp_path, settings=replace(config.Settings(), smtp=smtp_settings).with_embedder("none"))
        (env.ws.home / "smtp-password").write_text(SmtpServer.PASSWORD)
        letters = [mailer.Letter(env.match_id, env.store.match(env.match_id)["owner_id"], "alice@owner.example",
                                 address, "Your use of my photograph", "Please license it.")
                   for address in ("abuse@hosting.example", "webmaster@site.example")]
        deliveries = [mailer.send(env.ws, env.store, env.settings.smtp, letter, T0) for letter in letters]
        assert [d["status"] for d in deliveries] == ["sent", "sent"] and len(smtp.messages) == 2
    box = mailbox.Maildir(env.ws.home / "bounces", create=True)
    return env, deliveries, box


def test_a_dsn_marks_the_delivery_bounced_once_by_message_id_or_recipient(sent):
    env, (first, second), box = sent
    box.add(dsn("abuse@hosting.example", "failed", first["message_id"]))
    box.add(dsn("webmaster@site.example", "failed", None))  # no original headers: matched by the recipient
    box.add(dsn("abuse@hosting.example", "delayed", first["message_id"]))  # still trying: not a bounce
    box.add(plain("Re: Your use of my photograph"))  # a reply is no bounce report

    checked = invoke_cli("deliveries", "check-bounces", "--format", "json", home=env.ws.home)
    assert checked.returncode == 0, checked.stderr
    marked = json.loads(checked.stdout)
    assert [(d["id"], d["recipient"], d["status"]) for d in marked] == [
        (first["id"], "abuse@hosting.example", "bounced"), (second["id"], "webmaster@site.example", "bounced")]
    assert marked[0]["bounced_at"] == "2025-04-02T10:00:00Z"
    assert marked[0]["bounce"] == "5.1.1 smtp; 550 5.1.1 <abuse@hosting.example>: Recipient address rejected: " \
                                  "User unknown"

    again = invoke_cli("deliveries", "check-bounces", "--format", "json", home=env.ws.home)
    assert again.returncode == 0 and json.loads(again.stdout) == []
    entries = [e for e in ledger.entries(env.store, [ledger.match_subject(env.match_id)]) if e["kind"] == "delivery"]
    assert [json.loads(e["payload"])["status"] for e in entries] == ["sent", "sent", "bounced", "bounced"]
    assert json.loads(entries[2]["payload"])["report_id"] == "<bounce.1@mx.hosting.example>"
    assert ledger.verify(env.store) == []

    (row,) = cases.cases(env.store)
    assert (row["emails_sent"], row["emails_bounced"]) == (0, 2)
    shown = invoke_cli("cases", "--site", "shop.example.com", home=env.ws.home)
    assert shown.returncode == 0 and "│ bounced │" in shown.stdout and "Recipient address rejected" in shown.stdout


def test_a_dsn_about_an_unknown_message_or_a_refused_one_changes_nothing(sent):
    env, (first, _), box = sent
    box.add(dsn("stranger@else.example", "failed", "<never-sent@owner.example>"))
    assert bounces.check(env.ws, env.store, env.settings.smtp) == []
    assert env.store.delivery(first["id"])["status"] == "sent"


def test_check_bounces_says_what_is_missing_and_the_scan_reads_the_mailbox(sent):
    env, (first, _), box = sent
    box.add(dsn("abuse@hosting.example", "failed", first["message_id"]))
    scanned = run_cli("scan", "--no-crawl", "--json", home=env.ws.home)
    assert scanned.returncode == 0, scanned.stderr
    assert json.loads(scanned.stdout)["bounced"] == 1 and env.store.delivery(first["id"])["status"] == "bounced"

    set_value(env.ws.config_path, "smtp.bounce_maildir", "nowhere")
    broken = invoke_cli("deliveries", "check-bounces", home=env.ws.home)
    assert broken.returncode != 0 and "smtp.bounce_maildir 'nowhere'" in broken.stderr
    assert "is not a maildir" in broken.stderr and "Traceback" not in broken.stderr

    set_value(env.ws.config_path, "smtp.bounce_maildir", "")
    unset = invoke_cli("deliveries", "check-bounces", home=env.ws.home)
    assert unset.returncode != 0 and "smtp.bounce_maildir is empty" in unset.stderr
