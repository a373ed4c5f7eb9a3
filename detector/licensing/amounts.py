"""What an offer asks, what was agreed and what has been paid: the three amounts a list of offers shows,
and why each draft in the list was not sent.

An accepted offer may be agreed below its list price (a counter-offer, the negotiation's floor), so the
list price alone misleads; and an accepted offer is not settled until it is paid.
"""

from __future__ import annotations

from detector.licensing import money
from detector.workspace.store import Store


def with_amounts(store: Store, offer: dict) -> dict:
    """`offer` (a row of a list of offers) with `asked`, `agreed` and `paid` as text ('EUR 120.00'; agreed and
    paid empty until there is an acceptance or a payment) and `awaiting_payment`."""
    currency = offer["currency"]
    accepted = store.acceptance(offer["id"])
    paid_minor = sum(p["amount_minor"] for p in store.payments(offer["id"]))
    return dict(offer, asked=f"{currency} {offer['amount']}",
                agreed=money.show(accepted["amount_minor"], currency) if accepted else "",
                paid=money.show(paid_minor, currency) if paid_minor else "",
                awaiting_payment=offer["status"] == "accepted")


def draft_notes(offers: list[dict]) -> list[str]:
    """A line for each draft among `offers` that says why it was not sent (too long for a table's column)."""
    return [f"Offer {o['id']} is a draft, not sent: {o['draft_reason']}." for o in offers
            if o["status"] == "draft" and o.get("draft_reason")]
