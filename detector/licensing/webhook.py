"""A payment provider's notification that an invoice was paid, signed with a shared secret.

The provider sends the JSON body with the header

    Copyhound-Signature: t=UNIX_SECONDS,v1=HEX

where HEX = HMAC-SHA256(secret, "UNIX_SECONDS." + body). A request is taken only when the
signature checks, its time is within `licensing.webhook_tolerance_s` of ours, and its event id
was never taken before (so a captured request cannot be replayed). The body:

    {"id": "evt_123", "reference": "INV-1-00001", "amount": "100.01", "currency": "EUR",
     "paid_at": "2026-11-20T10:00:00Z"}            (paid_at optional: the time received)

`reference` is the invoice number shown to the payer as the payment reference.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from detector.config import Settings
from detector.errors import CopyhoundError, NotFound
from detector.licensing import money
from detector.licensing.keys import secret_file
from detector.licensing.settlement import Payment, record_payment
from detector.workspace.store import Store

SECRET_FILE = "payment-webhook.key"
HEADER = "Copyhound-Signature"
MAX_BODY = 16 * 1024


class WebhookRefused(CopyhoundError):
    """A webhook request that is not taken; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def secret(keys_dir: Path) -> str:
    """The shared secret (hex) to give the payment provider."""
    return secret_file(keys_dir / SECRET_FILE).hex()


def sign(shared_secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(shared_secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(shared_secret: str, header: str | None, body: bytes, now: float, tolerance_s: int) -> None:
    """Refuse (401) a missing, malformed, wrong or stale signature."""
    fields = dict(part.strip().partition("=")[::2] for part in (header or "").split(",") if "=" in part)
    if "t" not in fields or "v1" not in fields or not fields["t"].isdigit():
        raise WebhookRefused(401, f"The {HEADER} header must be 't=UNIX_SECONDS,v1=HEX_HMAC_SHA256'.")
    if abs(now - int(fields["t"])) > tolerance_s:
        raise WebhookRefused(401, f"The signed time {fields['t']} is more than {tolerance_s} s from ours; "
                                  "send a fresh request (replays are refused).")
    expected = sign(shared_secret, int(fields["t"]), body).split("v1=")[1]
    if not hmac.compare_digest(expected, fields["v1"]):
        raise WebhookRefused(401, "The signature does not match the body under this workspace's webhook secret.")


@dataclass(frozen=True)
class Notice:
    event_id: str
    reference: str
    amount_minor: int
    currency: str
    paid_at: str | None


def parse(body: bytes) -> Notice:
    try:
        # A signed body is at most MAX_BODY bytes, but may still nest thousands deep: the parser's
        # RecursionError is a malformed body like any other.
        data = json.loads(body)
        if not isinstance(data, dict):
            raise TypeError(f"the body is a JSON {type(data).__name__}, not an object")
        event_id, reference = str(data["id"]), str(data["reference"])
        amount = money.parse(str(data["amount"]), "amount")
        currency, paid_at = str(data["currency"]).upper(), data.get("paid_at")
    except (ValueError, KeyError, TypeError, RecursionError, CopyhoundError) as e:
        raise WebhookRefused(422, "The body must be JSON with id, reference, amount (like \"100.01\") and "
                                  f"currency, and may have paid_at ({type(e).__name__}: {e}).") from None
    if not (0 < len(event_id) <= 200 and 0 < len(reference) <= 100):
        raise WebhookRefused(422, "id and reference must be 1 to 200 and 1 to 100 characters.")
    if paid_at is not None:
        try:
            paid_at = datetime.fromisoformat(str(paid_at)).astimezone(UTC).isoformat().replace("+00:00", "Z")
        except ValueError:
            raise WebhookRefused(422, f"paid_at must be an ISO 8601 time, got {paid_at!r}.") from None
    return Notice(event_id, reference, amount, currency, paid_at)


def receive(store: Store, settings: Settings, shared_secret: str, header: str | None, body: bytes,
            now: float | None = None) -> Payment:
    """Verify, parse, refuse a replay, and record the payment against the invoice it names."""
    if len(body) > MAX_BODY:
        raise WebhookRefused(413, f"The body is {len(body)} bytes; at most {MAX_BODY} are accepted.")
    now = datetime.now(UTC).timestamp() if now is None else now
    verify(shared_secret, header, body, now, settings.licensing.webhook_tolerance_s)
    notice = parse(body)
    received = datetime.fromtimestamp(now, UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    with store.atomic():
        if not store.take_webhook_event(notice.event_id, received):
            raise WebhookRefused(409, f"Event {notice.event_id!r} was received before; a replay is not taken again.")
        accepted = store.acceptance_by_invoice(notice.reference)
        if accepted is None:
            raise NotFound(f"No invoice numbered {notice.reference!r}.")
        return record_payment(store, settings, accepted["offer_id"], notice.amount_minor, reference=notice.reference,
                              currency=notice.currency, received_at=notice.paid_at or received, source="webhook")
