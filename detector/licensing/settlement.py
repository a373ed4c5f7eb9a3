"""Settling an offer: send it with a public link, then what its recipient and its owner do with it.

`send_offer` is the one call that turns a match into an offer on its way (priced, its letter
written, a live page link, status sent); enforcement policies call it. The page's moves (view,
accept, counter, decline) and the owner's or the payment provider's payment go through here, so
each is checked the same way and entered in the ledger. A payment is split among the work's
contributors by the shares in force on the day it was received; once the offer is paid in full,
its domain becomes an authorised use of the work for the licence's term.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from detector.config import LicensingSettings, Settings
from detector.errors import ActionRefused, UsageError
from detector.evidence.review import review_match
from detector.licensing import contributors, links, money, negotiation, offers, work_rules
from detector.licensing.demand import bare_host
from detector.licensing.splits import split
from detector.provenance import ledger
from detector.text import oneline
from detector.workspace import Workspace
from detector.workspace.store import Store, utc_now


@dataclass(frozen=True)
class Sent:
    offer: dict
    token: str
    url: str
    letter: Path


def send_offer(ws: Workspace, store: Store, settings: Settings, match_id: int, *, licence: str | None = None,
               commercial: bool | None = None, owner_id: int | None = None, at: str | None = None) -> Sent:
    """Price and write an offer for a match, give it a public page link and mark it sent.

    `commercial` None: commercial use is detected from the captured page (pricing.detect_commercial)."""
    tokens: list[str] = []

    def page(offer_id: int) -> str:  # the letter names the page, so its link is issued as the offer is made
        tokens.append(links.issue(store, ws.keys_dir, offer_id))
        return page_url(settings, store, store.offer(offer_id), tokens[0])

    made = offers.make_offer(ws, store, settings, match_id, licence=licence, commercial=commercial,
                             owner_id=owner_id, at=at, page=page)
    sent = offers.set_offer_status(store, made.record["id"], "sent", at=at)
    return Sent(sent, tokens[0], page_url(settings, store, sent, tokens[0]), made.path)


def page_link(ws: Workspace, store: Store, settings: Settings, offer_id: int) -> str:
    """The URL of the offer's live page link, issuing one when it has none (its status is left as is)."""
    token = links.token_of(store, ws.keys_dir, offer_id) or links.issue(store, ws.keys_dir, offer_id)
    return page_url(settings, store, store.offer(offer_id), token)


def page_url(settings: Settings, store: Store, offer: dict, token: str) -> str:
    return links.url(rules_for(settings, store, offer).public_url, token)


def rules_for(settings: Settings, store: Store, offer: dict) -> LicensingSettings:
    return settings.licensing.for_owner(store.owner(offer["owner_id"])["name"])


def new_link(ws: Workspace, store: Store, offer_id: int, *, owner_id: int | None = None,
             revoke_old: bool = False) -> str:
    """A new page link for an offer (a draft is marked sent); with `revoke_old`, earlier links die."""
    offer = store.offer(offer_id, owner_id)
    if offer["status"] not in ("draft",) + offers.OPEN + ("accepted", "paid"):
        raise ActionRefused(f"Offer {offer_id} is {offer['status']}; its page cannot be opened again. "
                            f"Make a new offer with `copyhound offer {offer['match_id']}`.")
    with store.atomic():
        if revoke_old:
            revoke_links(store, offer_id)
        token = links.issue(store, ws.keys_dir, offer_id)
        # the ledger says a link was issued, never the link itself: bundles carry these entries
        ledger.append(store, "offer", ledger.match_subject(offer["match_id"]), {"offer_id": offer_id, "link_issued": True})
    if offer["status"] == "draft":
        offers.set_offer_status(store, offer_id, "sent")
    return token


def revoke_links(store: Store, offer_id: int, *, owner_id: int | None = None) -> int:
    """Kill every live page link of an offer; entered in the ledger. Returns how many were live."""
    offer = store.offer(offer_id, owner_id)
    at = utc_now()
    with store.atomic():
        count = store.revoke_offer_links(offer_id, at)
        ledger.append(store, "offer", ledger.match_subject(offer["match_id"]),
                      {"offer_id": offer_id, "links_revoked": count}, at=at)
    return count


# -- the recipient's moves on the page -------------------------------------------------------------

@dataclass(frozen=True)
class Visitor:
    """Who acts on the page: what they typed, and where the request came from."""

    name: str = ""
    organisation: str = ""
    email: str = ""
    ip: str = ""
    user_agent: str = ""


_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']{1,190}\.[A-Za-z]{2,}$")


def checked_identity(visitor: Visitor) -> Visitor:
    """What the visitor typed, as it goes into the acceptance, the invoice and the certificate: bidi
    overrides, control characters (NUL included) and line breaks removed, so a name cannot reorder
    or forge the text of a legal document."""
    name, organisation, email = (oneline(v) for v in (visitor.name, visitor.organisation, visitor.email))
    if not name or len(name) > 200:
        raise UsageError("Your name is needed to accept (at most 200 characters).")
    if len(organisation) > 200:
        raise UsageError("The organisation may be at most 200 characters.")
    if not _EMAIL.match(email):
        raise UsageError(f"Give an email address like name@example.org; got {email[:80]!r}.")
    return Visitor(name, organisation, email, oneline(visitor.ip)[:64], oneline(visitor.user_agent)[:300])


def live(store: Store, offer_id: int, at: str | None = None) -> dict:
    """The offer, marked expired first when its date has passed while it was still open."""
    at = at or utc_now()
    offers.expire_due(store, [store.offer(offer_id)["match_id"]], at=at)
    return store.offer(offer_id)


def view(store: Store, offer_id: int, visitor: Visitor, at: str | None = None) -> dict:
    """The page was opened: a sent offer becomes viewed (once)."""
    at = at or utc_now()
    offer = live(store, offer_id, at)
    if offer["status"] == "sent":
        offer = offers.set_offer_status(store, offer_id, "viewed", at=at, details={"ip": visitor.ip})
    return offer


def _open_offer(store: Store, offer_id: int, at: str) -> dict:
    offer = live(store, offer_id, at)
    if offer["status"] not in offers.OPEN:
        raise ActionRefused(f"This offer is {offer['status']}; it can no longer be accepted, declined or "
                            "countered here.")
    return offer


def accept(store: Store, settings: Settings, offer_id: int, visitor: Visitor, at: str | None = None,
           price_minor: int | None = None) -> dict:
    """Accept the offer for who `visitor` says they are; records the exact terms and price and an invoice
    number (the owner's next). Returns the acceptance.

    The offer is read inside the write transaction, so of two acceptances at once the second finds it
    accepted and is refused."""
    at = at or utc_now()
    who = checked_identity(visitor)
    with store.atomic():
        offer = _open_offer(store, offer_id, at)
        price = offers.due_minor(offer, at) if price_minor is None else price_minor
        match = store.match(offer["match_id"])
        asset = store.asset(match["asset_id"])
        rules = rules_for(settings, store, offer)
        terms = {
            "licence": offer["licence"], "commercial": bool(offer["commercial"]), "domain": licensed_domain(match),
            "page_url": match["page_url"], "image_url": match["image_url"], "term_days": rules.licence_term_days,
            "work": {"asset_id": asset["id"], "title": asset.get("title") or asset["filename"],
                     "sha256": asset["sha256"]},
            "currency": offer["currency"], "price": money.text(price),
        }
        seq = store.next_invoice_seq(offer["owner_id"])
        number = f"{rules.invoice_prefix}{offer['owner_id']}-{seq:05d}"
        record = {"offer_id": offer_id, "owner_id": offer["owner_id"], "name": who.name,
                  "organisation": who.organisation or None, "email": who.email, "ip": who.ip or None,
                  "user_agent": who.user_agent or None, "terms": terms, "amount_minor": price,
                  "invoice_seq": seq, "invoice_number": number, "at": at}
        store.add_acceptance(record)
        store.update_offer(offer_id, standing_minor=price)
        offers.set_offer_status(store, offer_id, "accepted", at=at, details={
            "by": {"name": who.name, "organisation": who.organisation, "email": who.email},
            "ip": who.ip, "user_agent": who.user_agent, "terms": terms, "invoice": number})
    return store.acceptance(offer_id)


def counter(store: Store, settings: Settings, offer_id: int, amount_minor: int, visitor: Visitor,
            at: str | None = None) -> negotiation.Answer:
    """Answer a counter-offer at once by the owner's rules; record it; accept when the rules do (at the
    amount countered: the buyer offered it). The standing proposal is read inside the write transaction."""
    at = at or utc_now()
    who = checked_identity(visitor)
    with store.atomic():
        offer = _open_offer(store, offer_id, at)
        quoted = offer["early_amount_minor"] if at <= offer["discount_until"] else offer["amount_minor"]
        match = store.match(offer["match_id"])
        limits = negotiation.bounds(quoted, work_rules.rules_for_work(store, rules_for(settings, store, offer),
                                                                      match["asset_id"]))
        reply = negotiation.answer(limits, amount_minor, offer["standing_minor"])
        store.add_counter_offer({"offer_id": offer_id, "amount_minor": amount_minor, "answer": reply.kind,
                                 "answer_minor": reply.amount_minor, "at": at})
        if reply.kind != "above":  # a counter above the price proposes nothing; what stood still stands
            store.update_offer(offer_id, standing_minor=reply.amount_minor)
        offers.set_offer_status(store, offer_id, "countered", at=at, details={
            "counter": money.text(amount_minor), "answer": reply.kind, "answer_amount": money.text(reply.amount_minor),
            "by": {"name": who.name, "organisation": who.organisation, "email": who.email}, "ip": who.ip})
        if reply.kind == "accepted":
            accept(store, settings, offer_id, who, at=at, price_minor=reply.amount_minor)
    return reply


def decline(store: Store, offer_id: int, visitor: Visitor, at: str | None = None) -> dict:
    at = at or utc_now()
    _open_offer(store, offer_id, at)
    return offers.set_offer_status(store, offer_id, "declined", at=at, details={"ip": visitor.ip[:64]})


# -- payment ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Payment:
    id: int
    offer: dict
    amount_minor: int
    paid_minor: int       # paid against the offer so far, this payment included
    due_minor: int
    parts: list[dict]
    licence: dict | None  # the licence granted when this payment completed the offer

    @property
    def excess_minor(self) -> int:
        """How much more than due has been paid (0 unless overpaid): the owner refunds or keeps it."""
        return max(0, self.paid_minor - self.due_minor)


def record_payment(store: Store, settings: Settings, offer_id: int, amount_minor: int, *,
                   reference: str | None = None, currency: str | None = None, received_at: str | None = None,
                   source: str = "owner", owner_id: int | None = None) -> Payment:
    """Record a payment against an offer, split it, and when the offer is paid in full grant the licence.

    The offer's status and what was paid before are read inside the write transaction, so payments
    at once (on SQLite or PostgreSQL) add up: the one that completes the offer sees the others. A
    provider's payment (`source` webhook) arriving after the offer was paid is money received: it
    is recorded, in full as an overpayment, where an owner typing one is refused."""
    received_at = received_at or utc_now()
    if amount_minor <= 0:
        raise UsageError(f"--amount must be above 0, got {money.text(amount_minor)}.")
    reference = oneline(reference)[:100] or None
    with store.atomic():
        offer = store.offer(offer_id, owner_id)
        payable = offers.OPEN + ("accepted",) + (("paid",) if source == "webhook" else ())
        if offer["status"] not in payable:
            raise ActionRefused(f"Offer {offer_id} is {offer['status']}; a payment is recorded against a sent, "
                                "viewed, countered or accepted offer.")
        if received_at < offer["created_at"]:
            raise UsageError(f"The payment was received before offer {offer_id} was made ({received_at} < "
                             f"{offer['created_at']}); check --received.")
        if currency is not None and currency.upper() != offer["currency"]:
            raise UsageError(f"The payment is in {currency}, but offer {offer_id} is priced in {offer['currency']}.")
        match = store.match(offer["match_id"])
        asset = store.asset(match["asset_id"])
        rules = rules_for(settings, store, offer)
        shares = contributors.shares_on(store, asset, received_at)
        divided = split(amount_minor, shares, Decimal(str(rules.commission_percent)))
        parts = ([{"contributor": None, "share": f"{rules.commission_percent:g}%",
                   "amount_minor": divided.commission_minor}] if divided.commission_minor else [])
        parts += [{"contributor": p.contributor, "share": str(p.share), "amount_minor": p.amount_minor}
                  for p in divided.parts]
        due = offers.due_minor(offer, received_at)
        paid = sum(p["amount_minor"] for p in store.payments(offer_id)) + amount_minor
        excess = max(0, paid - due)
        payment_id = store.add_payment({"offer_id": offer_id, "owner_id": offer["owner_id"],
                                        "currency": offer["currency"], "amount_minor": amount_minor,
                                        "reference": reference, "source": source, "received_at": received_at},
                                       parts)
        entry = {"offer_id": offer_id, "payment_id": payment_id, "currency": offer["currency"],
                 "amount": money.text(amount_minor), "reference": reference, "source": source,
                 "split": [[p["contributor"] or "agency commission", p["share"], money.text(p["amount_minor"])]
                           for p in parts]}
        if excess:
            entry["overpaid"] = money.text(min(excess, amount_minor))
        ledger.append(store, "payment", ledger.match_subject(offer["match_id"]), entry, at=received_at)
        granted = None
        if paid >= due and offer["status"] != "paid":
            if offer["standing_minor"] is None:
                store.update_offer(offer_id, standing_minor=due)
            offers.set_offer_status(store, offer_id, "paid", at=received_at, payment=True,
                                    details={"paid": money.text(paid), "due": money.text(due)})
            granted = _grant_licence(store, rules, offer, match, received_at)
        return Payment(payment_id, store.offer(offer_id), amount_minor, paid, due, parts, granted)


def overpaid_minor(store: Store, offer: dict) -> int:
    """How much more than due was paid against a paid offer (0 when not overpaid)."""
    if offer["status"] != "paid":
        return 0
    return max(0, sum(p["amount_minor"] for p in store.payments(offer["id"])) - offers.due_minor(offer))


def licensed_domain(match: dict) -> str:
    """The domain a licence for this match covers: the page's host without `www.` (sub-domains included)."""
    return bare_host(match["page_url"])


def _grant_licence(store: Store, rules: LicensingSettings, offer: dict, match: dict, at: str) -> dict:
    ends = datetime.fromisoformat(at).astimezone(UTC) + timedelta(days=rules.licence_term_days)
    record = {"offer_id": offer["id"], "asset_id": match["asset_id"], "domain": licensed_domain(match),
              "starts_at": at, "ends_at": ends.replace(microsecond=0).isoformat().replace("+00:00", "Z")}
    store.add_licence(record)
    if match["status"] != "authorized":
        review_match(store, match["id"], "authorized", f"licensed by paid offer {offer['id']} until "
                     f"{record['ends_at'][:10]}", actor=f"offer {offer['id']}")
    return store.licence(offer["id"])


def payment_link(rules: LicensingSettings, amount_minor: int, currency: str, reference: str) -> str | None:
    """The owner's payment link with amount, currency and reference filled in (URL-encoded), or None."""
    if not rules.payment_link:
        return None
    try:
        return rules.payment_link.format(amount=quote(money.text(amount_minor)), currency=quote(currency),
                                         reference=quote(reference, safe=""))
    except (KeyError, IndexError, ValueError) as e:
        raise UsageError(f"licensing.payment_link {rules.payment_link!r} may use only {{amount}}, {{currency}} "
                         f"and {{reference}} ({e}). Fix config.toml.") from e
