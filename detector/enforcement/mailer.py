"""Send a notice or an offer by e-mail over SMTP, and record the delivery whatever happens.

A delivery row (and a ledger entry) holds the recipient, the Message-ID, the time and the
server's answer to the message (`250 ...`), or, for a failure (a refused recipient, a server
that cannot be reached, a failed login), the error; a failure is recorded and returned, not
raised, so one bad address does not stop a run. Bounces that arrive later, by mail, are read by
detector.enforcement.bounces.
"""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from detector.config import SmtpSettings
from detector.errors import ConfigError
from detector.provenance import ledger
from detector.workspace import Workspace
from detector.workspace.store import Store


@dataclass(frozen=True)
class Letter:
    """What to send: the text, the files attached, and what it is about."""

    match_id: int
    owner_id: int
    sender: str
    recipient: str
    subject: str
    body: str
    attachments: tuple[Path, ...] = ()
    notice_id: int | None = None
    offer_id: int | None = None


def compose(letter: Letter, at: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = letter.sender
    message["To"] = letter.recipient
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(at)
    message["Message-ID"] = make_msgid(domain=letter.sender.rpartition("@")[2])
    message.set_content(letter.body)
    for path in letter.attachments:
        kind, _ = mimetypes.guess_type(path.name)
        maintype, subtype = (kind or "application/octet-stream").split("/", 1)
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return message


def _workspace_file(ws: Workspace, name: str, value: str, remedy: str) -> Path:
    path = Path(value).expanduser()
    path = path if path.is_absolute() else ws.home / path
    if not path.is_file():
        raise ConfigError(f"smtp.{name} {value!r}: no file at {path}. {remedy}")
    return path


def _password(ws: Workspace, settings: SmtpSettings) -> str:
    path = _workspace_file(ws, "password_file", settings.password_file, "Put the SMTP password in that file, "
                           "or clear smtp.username to send without logging in.")
    return path.read_text(encoding="utf-8").strip()


def _tls(ws: Workspace, settings: SmtpSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.ca_file:
        context.load_verify_locations(_workspace_file(ws, "ca_file", settings.ca_file, "Give the PEM file of the "
                                                      "CA that signed the SMTP server's certificate, or clear it."))
    return context


def _transmit(ws: Workspace, settings: SmtpSettings, message: EmailMessage) -> str:
    """Send `message`; returns the server's answer to it (SMTPException or OSError on failure)."""
    context = _tls(ws, settings)
    connect = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context) \
        if settings.ssl else smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with connect as smtp:
        smtp.ehlo()
        if settings.starttls and not settings.ssl:
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, _password(ws, settings))
        code, answer = smtp.mail(message["From"])
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, answer, message["From"])
        code, answer = smtp.rcpt(message["To"])
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({message["To"]: (code, answer)})
        code, answer = smtp.data(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))  # SMTP wants CRLF
        if code != 250:
            raise smtplib.SMTPDataError(code, answer)
        return f"{code} {answer.decode('utf-8', errors='replace')}"


def send(ws: Workspace, store: Store, settings: SmtpSettings, letter: Letter, at: datetime) -> dict:
    """Send `letter` and record the delivery (status 'sent' or 'failed'); returns the delivery row."""
    if not settings.host:
        raise ConfigError("smtp.host is empty, so nothing can be sent by e-mail; set [smtp] in config.toml.")
    message = compose(letter, at)
    try:
        response, status = _transmit(ws, settings, message), "sent"
    except (smtplib.SMTPException, OSError) as e:
        response, status = f"{type(e).__name__}: {e}", "failed"
    stamp = at.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    record = {"owner_id": letter.owner_id, "match_id": letter.match_id, "notice_id": letter.notice_id,
              "offer_id": letter.offer_id, "recipient": letter.recipient, "message_id": message["Message-ID"],
              "status": status, "response": response, "at": stamp}
    with store.atomic():
        record["id"] = store.add_delivery(record)
        ledger.append(store, "delivery", ledger.match_subject(letter.match_id),
                      {k: v for k, v in record.items() if k not in ("owner_id", "match_id")}, at=stamp)
    return record
