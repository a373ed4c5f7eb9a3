"""The invoice and the licence certificate of an accepted offer, as self-contained HTML and as PDF/A
printed from that HTML (detector.evidence.pdf, the evidence report's printer).

Both are rendered from what was recorded at acceptance (the exact terms and price) and the owner's
legal details and [licensing] tax fields; prices include tax, which the invoice shows apart:
tax = gross x rate / (100 + rate), rounded half-up to the cent, and net = gross - tax.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from detector.config import Settings
from detector.errors import ActionRefused
from detector.evidence.case import environment
from detector.evidence.pdf import print_html
from detector.licensing import money
from detector.licensing.settlement import payment_link, rules_for
from detector.workspace.store import Store


@dataclass(frozen=True)
class TaxedAmount:
    gross_minor: int
    tax_minor: int
    net_minor: int
    rate: Decimal


def taxed(gross_minor: int, rate_percent: float) -> TaxedAmount:
    rate = Decimal(str(rate_percent))
    tax = int((Decimal(gross_minor) * rate / (100 + rate)).quantize(Decimal(1), ROUND_HALF_UP))
    return TaxedAmount(gross_minor, tax, gross_minor - tax, rate)


def _context(store: Store, settings: Settings, offer_id: int, owner_id: int | None) -> dict:
    offer = store.offer(offer_id, owner_id)
    accepted = store.acceptance(offer_id)
    if accepted is None:
        raise ActionRefused(f"Offer {offer_id} has not been accepted, so it has no invoice or certificate yet.")
    rules = rules_for(settings, store, offer)
    paid = sum(p["amount_minor"] for p in store.payments(offer_id))
    amount = accepted["amount_minor"]
    return {
        "offer": offer, "owner": store.owner(offer["owner_id"]), "acceptance": accepted, "terms": accepted["terms"],
        "rules": rules, "tax": taxed(amount, rules.tax_percent), "money": money.show, "currency": offer["currency"],
        "paid_minor": paid, "licence": store.licence(offer_id),
        "pay_link": payment_link(rules, max(0, amount - paid), offer["currency"], accepted["invoice_number"]),
    }


def invoice_html(store: Store, settings: Settings, offer_id: int, owner_id: int | None = None) -> str:
    return environment().get_template("invoice.html.j2").render(**_context(store, settings, offer_id, owner_id))


def certificate_html(store: Store, settings: Settings, offer_id: int, owner_id: int | None = None) -> str:
    return environment().get_template("certificate.html.j2").render(**_context(store, settings, offer_id, owner_id))


def invoice_pdf(store: Store, settings: Settings, offer_id: int, owner_id: int | None = None) -> bytes:
    return print_html(invoice_html(store, settings, offer_id, owner_id))


def certificate_pdf(store: Store, settings: Settings, offer_id: int, owner_id: int | None = None) -> bytes:
    return print_html(certificate_html(store, settings, offer_id, owner_id))
