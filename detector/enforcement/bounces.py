"""Bounces: e-mails the SMTP server accepted that could not be delivered after all.

A mail server that gives up on a message later sends the sender a delivery status notification
(DSN, RFC 3464): a multipart/report whose message/delivery-status part says, per recipient, the
`Action` (`failed` is a bounce; `delayed`, `delivered`, `relayed` and `expanded` are not), the
`Status` code and the server's `Diagnostic-Code`, usually followed by the original message or
its headers. Each failed recipient is matched to the delivery by the original Message-ID, or,
when the report leaves the original out, to the latest e-mail sent to that address before the
report. A matched delivery is marked `bounced` (once: reading the mailbox again changes nothing)
and the change goes into the ledger as a `delivery` entry.

The mailbox is a maildir (smtp.bounce_maildir) that the sender's mail is delivered to; it is
only read, so other programs may keep using it.
"""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime
from pathlib import Path

from detector.config import SmtpSettings
from detector.errors import ConfigError
from detector.provenance import ledger
from detector.workspace import Workspace
from detector.workspace.store import Store, utc_now


@dataclass(frozen=True)
class Bounce:
    """One failed recipient of one DSN."""

    recipient: str
    original_message_id: str | None
    status: str
    diagnostic: str
    reported_at: str | None
    report_id: str


def maildir_path(ws: Workspace, settings: SmtpSettings) -> Path | None:
    """The configured bounce maildir (relative paths from the workspace), None when none is set."""
    if not settings.bounce_maildir:
        return None
    path = Path(settings.bounce_maildir).expanduser()
    path = path if path.is_absolute() else ws.home / path
    if not (path / "cur").is_dir() or not (path / "new").is_dir():
        raise ConfigError(f"smtp.bounce_maildir {settings.bounce_maildir!r}: {path} is not a maildir (it needs "
                          "cur/ and new/). Point it at the maildir the sender's mail is delivered to, or clear it.")
    return path


def read_maildir(path: Path) -> list[Bounce]:
    """Every failed recipient reported by the DSNs in the maildir (other messages are passed over)."""
    found: list[Bounce] = []
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.keys()):  # maildir names start with the arrival time: oldest first
        with box.get_file(key) as handle:
            found += parse_dsn(handle.read())
    return found


def parse_dsn(raw: bytes) -> list[Bounce]:
    """The failed recipients of one message, [] when it is not a delivery status report."""
    message = message_from_bytes(raw, policy=policy.default)
    if message.get_content_type() != "multipart/report" or \
            message.get_param("report-type", "").lower() != "delivery-status":
        return []
    status_part = next((p for p in message.iter_parts() if p.get_content_type() == "message/delivery-status"), None)
    if status_part is None:
        return []
    original = _original_message_id(message)
    reported_at = _date(message.get("Date"))
    report_id = str(message.get("Message-ID") or "").strip()
    bounces = []
    for fields in _recipient_groups(status_part):
        if str(fields.get("Action", "")).strip().lower() != "failed":
            continue
        recipient = _address(fields.get("Original-Recipient") or fields.get("Final-Recipient"))
        if recipient:
            bounces.append(Bounce(recipient, original, str(fields.get("Status", "")).strip(),
                                  " ".join(str(fields.get("Diagnostic-Code", "")).split()), reported_at, report_id))
    return bounces


def _recipient_groups(part: Message) -> list[Message]:
    """The per-recipient field groups (the first group is per message and names no recipient)."""
    groups = part.get_payload()
    return [g for g in groups if isinstance(g, Message) and (g.get("Final-Recipient") or g.get("Original-Recipient"))]


def _original_message_id(report: EmailMessage) -> str | None:
    for part in report.iter_parts():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()[0]
        elif kind == "text/rfc822-headers":
            inner = message_from_bytes(part.get_payload(decode=True) or b"", policy=policy.default)
        else:
            continue
        if inner.get("Message-ID"):
            return str(inner["Message-ID"]).strip()
    return None


def _address(field) -> str | None:
    """The address of an `rfc822; someone@example.org` recipient field."""
    if not field:
        return None
    kind, _, address = str(field).partition(";")
    address = address.strip().strip("<>")
    return address if kind.strip().lower() == "rfc822" and "@" in address else None


def _date(value) -> str | None:
    try:
        moment = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def record(store: Store, bounces: list[Bounce]) -> list[dict]:
    """Mark the deliveries these bounces are about as bounced (each once, in the ledger); returns them."""
    marked = []
    for bounce in bounces:
        delivery = _delivery_of(store, bounce)
        if delivery is None or delivery["status"] != "sent":  # unknown, refused at once, or bounced already
            continue
        detail = " ".join(x for x in (bounce.status, bounce.diagnostic) if x) or "delivery failed"
        at = bounce.reported_at or utc_now()
        with store.atomic():
            store.mark_delivery_bounced(delivery["id"], at, detail)
            ledger.append(store, "delivery", ledger.match_subject(delivery["match_id"]), {
                "id": delivery["id"], "status": "bounced", "recipient": delivery["recipient"],
                "message_id": delivery["message_id"], "bounce": detail, "report_id": bounce.report_id})
        marked.append(store.delivery(delivery["id"]))
    return marked


def _delivery_of(store: Store, bounce: Bounce) -> dict | None:
    """The delivery a bounce is about: by the original Message-ID (each e-mail has one recipient, so an
    alias's final address still finds it), else the latest e-mail sent to the address before the report."""
    if bounce.original_message_id:
        found = store.delivery_by_message_id(bounce.original_message_id)
        if found is not None:
            return found
    return store.latest_delivery_to(bounce.recipient, bounce.reported_at)


def check(ws: Workspace, store: Store, settings: SmtpSettings) -> list[dict] | None:
    """Read the configured bounce maildir and record its bounces; None when no maildir is configured."""
    path = maildir_path(ws, settings)
    return None if path is None else record(store, read_maildir(path))
