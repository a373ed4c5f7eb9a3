"""Licensing offers: the alternative to a takedown, where the user keeps the image and pays.

The price follows the owner's [pricing] rules (detector.config.PricingSettings):

    amount = base_fees[licence]
             x commercial_multiplier            (commercial use only)
             x size_multipliers[band]           (band of the copy's displayed long side)
             x (1 + monthly_increase x (months seen - 1))
             x min(max_sightings_multiplier, 1 + sighting_increase x (sightings - 1))
             x min(max_demand_multiplier, 1 + demand_increase x (sites - 1))
             x territory_multipliers[territory]   (else ['default'], else 1)
             x placement_multipliers[band]        (band of the share of the page width shown)
             x above_fold_multiplier              (the screenshot shows it in the first screen)

rounded half-up to cents; accepted within early_discount_days it costs early_discount_percent
less. Months seen = whole 30-day periods begun between first and last sighting (at least 1).
Sites, territory and (unless the owner says) commercial use are read by detector.licensing.demand,
placement by detector.licensing.placement.
Amounts are exact: integer minor units in the store (amount_minor), with the decimal string kept
beside them for letters and older readers. An offer moves along TRANSITIONS:

    draft -> sent -> viewed -> countered -> accepted -> paid

sent, viewed and countered may also go straight to accepted, paid, declined or expired; every change is recorded
with its date and entered in the ledger. detector.licensing settles offers: the public page,
negotiation, payments and the licence a payment grants.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from PIL import Image

from detector.config import PricingSettings, Settings
from detector.errors import ActionRefused, ConfigError, UsageError
from detector.evidence.case import Case, ensure_actionable, environment, evidence_summary, load_case
from detector.evidence.profile import ensure_profile
from detector.licensing import money, owner_pricing, placement
from detector.licensing.demand import assess
from detector.licensing.placement import Placement
from detector.provenance import ledger
from detector.text import oneline
from detector.workspace import Workspace
from detector.workspace.store import OFFER_STATUSES, Store, utc_now

STATUSES = OFFER_STATUSES  # the store keeps the list, so light readers (the CLI's help) need not load this module
OPEN = ("sent", "viewed", "countered")
TRANSITIONS = {
    "draft": ("sent", "expired"),
    "sent": ("viewed", "countered", "accepted", "paid", "declined", "expired"),
    "viewed": ("countered", "accepted", "paid", "declined", "expired"),
    "countered": ("countered", "accepted", "paid", "declined", "expired"),
    "accepted": ("paid",),
    "paid": (),
    "declined": (),
    "expired": (),
}
# Moves the recipient makes, which the offer's expiry ends.
_BEFORE_EXPIRY = ("viewed", "countered", "accepted")
# What an owner may record by hand: views and counters happen on the offer page, and an offer
# becomes paid only through a recorded payment (detector.licensing.settlement.record_payment).
OWNER_MOVES = {status: tuple(t for t in targets if t not in ("viewed", "countered", "paid"))
               for status, targets in TRANSITIONS.items()}
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Factor:
    name: str
    value: Decimal
    why: str


@dataclass(frozen=True)
class Quote:
    """A price and how it was reached; `amount` before and `early_amount` after the early discount."""

    currency: str
    licence: str
    commercial: bool
    base_fee: Decimal
    factors: tuple[Factor, ...]
    amount: Decimal
    early_amount: Decimal

    def breakdown(self) -> list[dict]:
        rows = [{"name": "base fee", "value": _plain(self.base_fee), "why": f"{self.licence} licence"}]
        return rows + [{"name": f.name, "value": _plain(f.value), "why": f.why} for f in self.factors]


def _plain(value: Decimal) -> str:
    """1.20 -> '1.2', 250.0 -> '250' (never exponent notation)."""
    return format(value.normalize(), "f")


def _decimal(value: float) -> Decimal:
    return Decimal(str(value))


def months_seen(first_seen: str, last_seen: str) -> int:
    """30-day periods begun between the first and last sighting; at least 1."""
    days = (_parse(last_seen) - _parse(first_seen)).total_seconds() / 86400
    return max(1, math.ceil(days / 30))


def size_band(rules: PricingSettings, long_side: int) -> int:
    """Index of the displayed-size band `long_side` falls in (a limit belongs to the band it ends)."""
    return next((i for i, limit in enumerate(rules.size_bands) if long_side <= limit), len(rules.size_bands))


def price(rules: PricingSettings, *, licence: str, commercial: bool, long_side: int,
          first_seen: str, last_seen: str, sightings: int, sites: int = 1,
          territory: tuple[str, str] = ("unknown", "territory not known"), commercial_why: str | None = None,
          placement: Placement | None = None) -> Quote:
    """The price of a licence under `rules` for a use of the given size, duration and sightings."""
    owner_pricing.check_rules(rules)
    if licence not in rules.base_fees:
        raise UsageError(f"--licence {licence!r} has no base fee; priced licence types: "
                         f"{', '.join(sorted(rules.base_fees))} (pricing.base_fees in config.toml).")
    band = size_band(rules, long_side)
    months = months_seen(first_seen, last_seen)
    bands = ["up to " + str(rules.size_bands[0]) if rules.size_bands else "any size"] + \
        [f"{lo + 1} to {hi}" for lo, hi in zip(rules.size_bands, rules.size_bands[1:])] + \
        ([f"above {rules.size_bands[-1]}"] if rules.size_bands else [])
    factors = [
        Factor("commercial use", _decimal(rules.commercial_multiplier) if commercial else Decimal(1),
               commercial_why or ("commercial use" if commercial else "non-commercial use")),
        Factor("displayed size", _decimal(rules.size_multipliers[band]),
               f"long side {long_side} px (band {bands[band]} px)"),
        Factor("duration", 1 + _decimal(rules.monthly_increase) * (months - 1),
               f"{months} month{'s' if months != 1 else ''} seen"),
        Factor("sightings", min(_decimal(rules.max_sightings_multiplier),
                                1 + _decimal(rules.sighting_increase) * (sightings - 1)),
               f"seen {sightings} time{'s' if sightings != 1 else ''}"),
        Factor("demand", min(_decimal(rules.max_demand_multiplier), 1 + _decimal(rules.demand_increase) * (sites - 1)),
               f"used on {sites} site{'s' if sites != 1 else ''}"),
        Factor("territory", _decimal(rules.territory_multipliers.get(territory[0],
                                                                     rules.territory_multipliers.get("default", 1.0))),
               territory[1]),
        *_placement_factors(rules, placement or Placement(None, "placement not assessed", None, "no screenshot")),
    ]
    base = _decimal(rules.base_fees[licence])
    exact = base
    for factor in factors:
        exact *= factor.value
    amount = exact.quantize(_CENT, ROUND_HALF_UP)
    early = (amount * (100 - _decimal(rules.early_discount_percent)) / 100).quantize(_CENT, ROUND_HALF_UP)
    return Quote(rules.currency, licence, commercial, base, tuple(factors), amount, early)


def _placement_factors(rules: PricingSettings, placement: Placement) -> list[Factor]:
    if placement.share is None:
        share = Factor("placement", Decimal(1), placement.share_why)
    else:
        band = next((i for i, limit in enumerate(rules.placement_bands) if placement.share <= _decimal(limit)),
                    len(rules.placement_bands))
        share = Factor("placement", _decimal(rules.placement_multipliers[band]), placement.share_why)
    fold = _decimal(rules.above_fold_multiplier) if placement.above_fold else Decimal(1)
    return [share, Factor("above the fold", fold, placement.fold_why)]


def displayed_long_side(case: Case) -> int:
    """The long side the copy was shown at: the page's declared width/height, else its pixel size."""
    c = case.candidate or {}
    declared = [v for v in (c.get("declared_width"), c.get("declared_height")) if v]
    if declared:
        return max(declared)
    if case.copy_bytes is None:
        raise ActionRefused(f"Match {case.match['id']}: the captured copy is not in the blob store and the "
                            "page declared no size, so its displayed size cannot be priced.")
    try:
        with Image.open(io.BytesIO(case.copy_bytes)) as image:  # reads the header only
            return max(image.size)
    except Exception as e:  # Pillow raises many types on bytes it cannot identify
        raise ActionRefused(f"Match {case.match['id']}: the captured copy's size cannot be read "
                            f"({type(e).__name__}: {e}), so it cannot be priced.") from e


@dataclass(frozen=True)
class Offer:
    record: dict
    quote: Quote
    path: Path


def make_offer(ws: Workspace, store: Store, settings: Settings, match_id: int, *, licence: str | None = None,
               commercial: bool | None = None, owner_id: int | None = None, at: str | None = None,
               out_dir: Path | None = None, page: Callable[[int], str] | None = None,
               draft_reason: str | None = None) -> Offer:
    """Price, render, record (status draft) and write a licensing offer letter for a match.

    `page` issues the new offer's public page link (given its id) and returns its URL, which the letter
    then names as the place to accept, pay or counter; without it the letter asks for a reply by e-mail.
    `draft_reason` says why the offer is to stay a draft rather than be sent (stored and in the ledger).

    Refused like a notice (rejected, authorized or unconfirmed borderline match; missing owner
    name or email). Writes match-ID-offer-OFFER.txt (or the template's extension) under `out_dir`
    (default output/offers).
    """
    case = load_case(ws, store, match_id, owner_id)
    ensure_actionable(case.match, "licensing offer")
    ensure_profile(case.owner, "offer")
    rules = owner_pricing.rules_for(store, settings.pricing, case.owner)
    quote = _quote(ws, store, case, rules, licence, commercial, settings.report.viewport)
    licence = quote.licence
    at = at or utc_now()
    created = _parse(at)
    record = {
        "match_id": match_id, "owner_id": case.owner["id"], "licence": licence, "commercial": int(quote.commercial),
        "currency": quote.currency, "amount": str(quote.amount), "early_amount": str(quote.early_amount),
        "amount_minor": money.from_decimal(quote.amount), "early_amount_minor": money.from_decimal(quote.early_amount),
        "breakdown": quote.breakdown(), "status": "draft", "created_at": at,
        "discount_until": _format(created + timedelta(days=rules.early_discount_days)),
        "expires_at": _format(created + timedelta(days=rules.expiry_days)), "draft_reason": draft_reason,
    }
    template = _template(ws, rules)
    with store.atomic():
        offer_id = store.add_offer(dict(record, letter=""))
        letter = _render_letter(template, case, settings, record, page(offer_id) if page else None)
        store.update_offer(offer_id, letter=letter)
        ledger.append(store, "offer", ledger.match_subject(match_id), {
            "offer_id": offer_id, "status": "draft", "currency": quote.currency, "amount": record["amount"],
            "early_amount": record["early_amount"], "expires_at": record["expires_at"],
            "letter_sha256": hashlib.sha256(letter.encode("utf-8")).hexdigest(),
            **({"draft_reason": draft_reason} if draft_reason else {}),
        }, at=at)
    folder = out_dir or ws.output_dir / "offers"
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".html" if template.name and ".htm" in template.name else ".txt"
    path = folder / f"match-{match_id}-offer-{offer_id}{suffix}"
    path.write_text(letter, encoding="utf-8")
    return Offer(store.offer(offer_id), quote, path)


def quote_match(ws: Workspace, store: Store, settings: Settings, match_id: int, *, licence: str | None = None,
                commercial: bool | None = None, owner_id: int | None = None) -> Quote:
    """The price an offer for this match would have now, and how it is reached; records nothing."""
    case = load_case(ws, store, match_id, owner_id)
    return _quote(ws, store, case, owner_pricing.rules_for(store, settings.pricing, case.owner), licence, commercial,
                  settings.report.viewport)


def _quote(ws: Workspace, store: Store, case: Case, rules: PricingSettings, licence: str | None,
           commercial: bool | None, viewport: tuple[int, ...]) -> Quote:
    """The quote for a case; `commercial` None means: detected from the page (pricing.detect_commercial);
    `viewport` is report.viewport, the window screenshots are taken in (placement's page width)."""
    m = case.match
    demand = assess(ws, store, m, case.candidate)
    if commercial is None:
        commercial = rules.detect_commercial and bool(demand.commercial_reasons)
        why = (f"commercial site detected: {', '.join(demand.commercial_reasons)}" if commercial
               else "no commercial signs on the page")
    else:
        why = f"{'commercial' if commercial else 'non-commercial'} use (set for this offer)"
    return price(rules, licence=licence or rules.default_licence, commercial=commercial,
                 long_side=displayed_long_side(case), first_seen=m["first_seen"], last_seen=m["last_seen"],
                 sightings=m["sightings"], sites=demand.sites, territory=(demand.territory, demand.territory_why),
                 commercial_why=why, placement=placement.assess(ws, store, m, case.candidate, case.copy_bytes,
                                                                (viewport[0], viewport[1])))


def _template(ws: Workspace, rules: PricingSettings) -> jinja2.Template:
    if not rules.letter_template:
        return environment().get_template("offer.txt.j2")
    path = Path(rules.letter_template).expanduser()
    path = path if path.is_absolute() else ws.home / path
    if not path.is_file():
        raise ConfigError(f"pricing.letter_template {rules.letter_template!r}: no file at {path}. Fix the path "
                          "in config.toml, or set it to \"\" for the built-in letter.")
    try:
        return environment(path.parent).get_template(path.name)
    except jinja2.TemplateError as e:
        raise ConfigError(f"pricing.letter_template {path} is not a valid Jinja2 template ({e}).") from e


def _render_letter(template: jinja2.Template, case: Case, settings: Settings, offer: dict,
                   page_url: str | None) -> str:
    """The letter; a replaced template gets: owner, asset, match, candidate, offer, host, evidence, date,
    page_url (the offer page, or None)."""
    m = case.match
    try:
        return template.render(
            owner=case.owner, asset=case.asset, match=m, candidate=case.candidate or {}, offer=offer,
            host=oneline(urlsplit(m["page_url"]).hostname or m["page_url"]),
            evidence=evidence_summary(case, settings), date=offer["created_at"][:10], page_url=page_url,
        )
    except jinja2.TemplateError as e:
        raise ConfigError(f"Offer letter template {template.name or 'offer.txt.j2'} failed to render ({e}); "
                          "the names it may use are owner, asset, match, candidate, offer, host, evidence, "
                          "date, page_url.") from e


def set_offer_status(store: Store, offer_id: int, status: str, *, owner_id: int | None = None,
                     at: str | None = None, details: dict | None = None, payment: bool = False) -> dict:
    """Move an offer to `status` along TRANSITIONS, recording the date, and enter it in the ledger.

    The recipient's moves (viewed, countered, accepted) are refused after expires_at; an acceptance's
    ledger entry carries `amount_due`. `details` (who, terms, counter amounts) go into the entry too.
    Only a recorded payment (`payment=True`) makes an offer paid.
    """
    if status not in STATUSES:
        raise UsageError(f"Offer status must be one of {', '.join(STATUSES)}, got {status!r}.")
    if status == "paid" and not payment:
        raise UsageError(f"Offer {offer_id} becomes paid when its payment is recorded: `copyhound offer-status "
                         f"{offer_id} paid --amount 100.01 --reference REF`, or the portal's offer page.")
    offer = store.offer(offer_id, owner_id)
    allowed = TRANSITIONS[offer["status"]]
    if status not in allowed:
        then = f"it can become {' or '.join(allowed)}" if allowed else "that is final"
        raise ActionRefused(f"Offer {offer_id} is {offer['status']}; {then}, not {status}.")
    at = at or utc_now()
    if status in _BEFORE_EXPIRY and at > offer["expires_at"]:
        raise ActionRefused(f"Offer {offer_id} expired on {offer['expires_at']}; make a new one with "
                            f"`copyhound offer {offer['match_id']}`, or record it as expired.")
    changes: dict = {"status": status}
    if offer["status"] == "draft":
        changes["draft_reason"] = None  # it is no longer held back; the ledger keeps why it was
    column = {"sent": "sent_at", "viewed": "viewed_at", "paid": "paid_at", "countered": None}.get(status, "decided_at")
    if column:
        changes[column] = at
    with store.atomic():
        updated = store.update_offer(offer_id, **changes)
        payload = {**(details or {}), "offer_id": offer_id, "status": status, "previous": offer["status"]}
        if status == "accepted":
            payload["amount_due"] = amount_due(updated)
        ledger.append(store, "offer", ledger.match_subject(offer["match_id"]), payload, at=at)
    return updated


def keep_draft(store: Store, offer_id: int, reason: str, *, at: str | None = None) -> dict:
    """Record why a draft offer was not sent after all (its e-mail failed, say), in the store and the ledger."""
    offer = store.offer(offer_id)
    if offer["status"] != "draft":
        raise ActionRefused(f"Offer {offer_id} is {offer['status']}, not a draft.")
    with store.atomic():
        updated = store.update_offer(offer_id, draft_reason=reason)
        ledger.append(store, "offer", ledger.match_subject(offer["match_id"]),
                      {"offer_id": offer_id, "status": "draft", "draft_reason": reason}, at=at or utc_now())
    return updated


def due_minor(offer: dict, at: str | None = None) -> int:
    """What the offer costs in minor units: the negotiated price if there is one, else the early amount
    when accepted (or, not yet accepted, at `at`) by discount_until, else the full amount."""
    if offer.get("standing_minor") is not None:
        return offer["standing_minor"]
    moment = offer.get("decided_at") if offer["status"] in ("accepted", "paid") and offer.get("decided_at") else None
    moment = moment or at or utc_now()
    return offer["early_amount_minor"] if moment <= offer["discount_until"] else offer["amount_minor"]


def amount_due(offer: dict) -> str | None:
    """What an accepted offer costs, as a decimal string; None before acceptance."""
    if offer["status"] not in ("accepted", "paid"):
        return None
    return money.text(due_minor(offer))


def expire_due(store: Store, match_ids: list[int] | None = None, at: str | None = None) -> list[int]:
    """Mark the draft or sent offers (of `match_ids`, or every one) whose expiry date has passed as
    expired, each in the ledger; returns their ids. Every scan runs it."""
    at = at or utc_now()
    offers = store.offers(match_ids) if match_ids is not None else store.open_offers()
    due = [o["id"] for o in offers if o["status"] in ("draft",) + OPEN and o["expires_at"] < at]
    for offer_id in due:
        set_offer_status(store, offer_id, "expired", at=at)
    return due


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).astimezone(UTC)


def _format(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
