"""What the portal's casework pages do (profile, notices, offers, sites, reports, licensed uses),
written once and scoped to the principal like `actions`: another owner's id raises NotFound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from detector.config import PricingSettings, documented_fields, toml_value
from detector.enforcement import cases
from detector.errors import NotFound, UsageError
from detector.evidence import profile
from detector.evidence.case import load_case
from detector.evidence.report import build, render_html, render_pdf
from detector.evidence.review import Authorization, authorize_use, review_match
from detector.licensing import offers, owner_pricing
from detector.licensing.amounts import with_amounts
from detector.tokens import Principal
from detector.web.actions import Page, parse_int
from detector.web.portal import Portal
from detector.workspace.store import MATCH_STATUSES, Store

NOTICE_KINDS = ("dmca", "dsa")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
MAX_PROFILE_FIELD = 2000


def _blank(value) -> str | None:
    return None if value is None or not str(value).strip() else str(value).strip()


def owner_for(store: Store, principal: Principal, name: str | None) -> dict:
    """The owner a page acts on: a token's own owner, or for an admin the one named (UsageError if none)."""
    if not principal.is_admin:
        if _blank(name) is not None and name.strip() != principal.owner:
            raise NotFound(f"No owner named {name.strip()!r}.")
        return store.owner(principal.owner_id)
    if _blank(name) is None:
        raise UsageError("Name the owner: an admin token acts for every owner.")
    return store.owner_by_name(name.strip())


def save_profile(store: Store, principal: Principal, owner_name: str | None, form) -> dict:
    """Set the owner's profile from a posted form (every field; a blank one clears it); returns the owner."""
    owner = owner_for(store, principal, owner_name)
    values = {f: str(form.get(f) or "") for f in profile.PROFILE_FIELDS}
    long = [f for f, v in values.items() if len(v) > MAX_PROFILE_FIELD]
    if long:
        raise UsageError(f"{', '.join(long)} is longer than {MAX_PROFILE_FIELD} characters; shorten it.")
    return profile.set_profile(store, owner["name"], **values)


@dataclass(frozen=True)
class PricingField:
    name: str
    help: str
    effective: str      # the value offers use now, as TOML text
    override: str       # the owner's own value as typed ('' when the config's applies)
    #: base_fees only: (licence type, own fee as typed, fee that applies now), a field each
    fees: tuple[tuple[str, str, str], ...] | None = None


#: A licence type an owner may add in the portal: a short name, as the config's table keys are written.
_LICENCE_TYPE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def pricing_texts(form, licence_types: list[str]) -> dict[str, str]:
    """The pricing form as `owner_pricing.set_overrides` takes it: NAME -> value as typed, the base fees
    (a field per licence type, and one new type) joined into their table."""
    texts = {name: str(form.get(f"pricing.{name}") or "") for name in owner_pricing.EDITABLE if name != "base_fees"}
    fees = {kind: str(form.get(f"pricing.base_fees.{kind}") or "").strip() for kind in licence_types}
    new_type = str(form.get("pricing.base_fees.new_type") or "").strip()
    new_fee = str(form.get("pricing.base_fees.new_fee") or "").strip()
    if new_type or new_fee:
        if not _LICENCE_TYPE.fullmatch(new_type) or not new_fee:
            raise UsageError(f"A new licence type needs a short name (lower-case letters, digits, - or _), got "
                             f"{new_type[:40]!r}, and a fee.")
        fees[new_type] = new_fee
    texts["base_fees"] = "{ " + ", ".join(f"{kind} = {fee}" for kind, fee in fees.items() if fee) + " }" \
        if any(fees.values()) else ""
    return texts


def licence_types(store: Store, pricing: PricingSettings, owner: dict) -> list[str]:
    return sorted(owner_pricing.rules_for(store, pricing, owner).base_fees)


def pricing_fields(store: Store, pricing: PricingSettings, owner: dict, typed: dict | None = None) -> list[PricingField]:
    """The pricing settings an owner may override, with what applies now; `typed` keeps a refused form."""
    helps = {name: text for section, name, _, text in documented_fields() if section == "pricing"}
    rules = owner_pricing.rules_for(store, pricing, owner)
    own = owner_pricing.overrides(store, owner["id"])
    def text(value) -> str:  # as `config set` takes it: text as is, anything else in TOML
        return value if isinstance(value, str) else toml_value(value)

    own_fees = own.get("base_fees", {})
    fees = tuple((kind, str(typed.get(f"base_fees.{kind}", "")) if typed is not None
                  else (toml_value(own_fees[kind]) if kind in own_fees else ""), toml_value(fee))
                 for kind, fee in sorted(rules.base_fees.items()))
    return [PricingField(name, helps[name], text(getattr(rules, name)),
                         typed.get(name, "") if typed is not None else (text(own[name]) if name in own else ""),
                         fees if name == "base_fees" else None)
            for name in owner_pricing.EDITABLE]


def save_pricing(store: Store, principal: Principal, owner_name: str | None, pricing: PricingSettings, form) -> dict:
    """Set the owner's pricing overrides from a posted form (a blank field: the config's value)."""
    owner = owner_for(store, principal, owner_name)
    texts = pricing_texts(form, licence_types(store, pricing, owner))
    owner_pricing.set_overrides(store, pricing, owner, texts, actor=principal.actor)
    return owner


def missing_for(owner: dict) -> dict[str, list[str]]:
    """Per document (dmca, dsa, offer), the profile fields it needs that are still empty."""
    return {doc: [f for f in fields if not (owner.get(f) or "").strip()] for doc, fields in profile.NEEDED.items()}


def list_notices(store: Store, principal: Principal, kind, match, limit: int, offset: int) -> Page:
    kind = _blank(kind)
    if kind is not None and kind not in NOTICE_KINDS:
        raise UsageError(f"kind must be one of {', '.join(NOTICE_KINDS)}, got {kind!r}.")
    rows, total = store.find_notices(owner_id=principal.owner_id, match_id=parse_int("match", match, 1), kind=kind,
                                     limit=limit, offset=offset)
    return Page(rows, total, limit, offset)


def list_offers(store: Store, principal: Principal, status, match, limit: int, offset: int) -> Page:
    status = _blank(status)
    if status is not None and status not in offers.STATUSES:
        raise UsageError(f"status must be one of {', '.join(offers.STATUSES)}, got {status!r}.")
    rows, total = store.find_offers(owner_id=principal.owner_id, match_id=parse_int("match", match, 1),
                                    status=status, limit=limit, offset=offset)
    return Page([with_amounts(store, row) for row in rows], total, limit, offset)


def set_offer_status(store: Store, principal: Principal, offer_id: int, status: str) -> dict:
    return offers.set_offer_status(store, offer_id, status, owner_id=principal.owner_id)


def report(portal: Portal, store: Store, principal: Principal, match_id: int, kind: str) -> tuple[bytes, str]:
    """Match `match_id`'s evidence report as (bytes, media type): the HTML, or the PDF printed from it."""
    built = build(load_case(portal.ws, store, match_id, principal.owner_id), portal.settings)
    if kind == "pdf":
        return render_pdf(built), "application/pdf"
    return render_html(built).encode("utf-8"), "text/html; charset=utf-8"


def authorize(store: Store, principal: Principal, owner_name: str | None, pattern, note) -> Authorization:
    owner = owner_for(store, principal, owner_name)
    return authorize_use(store, owner["id"], str(pattern or ""), _blank(note),
                         actor=principal.actor)


def authorized_uses(store: Store, principal: Principal) -> list[dict]:
    owners = [store.owner(principal.owner_id)] if not principal.is_admin else store.owners()
    return [dict(use, owner=o["name"]) for o in owners for use in store.authorized_uses(o["id"])]


def site_host(host: str) -> str:
    host = (host or "").strip().lower()
    if not _HOST.match(host):
        raise UsageError(f"A site is a host name like shop.example.com, got {host[:80]!r}.")
    return host


def list_sites(store: Store, principal: Principal, limit: int, offset: int) -> Page:
    """One page of the sites with matches, each with its review counts and its case summary."""
    rows, total = store.sites(principal.owner_id, limit, offset)
    rows = [row | cases.summary(row["host"], store.site_matches(principal.owner_id, row["host"]), store)
            for row in rows]
    return Page(rows, total, limit, offset)


def site_case(store: Store, principal: Principal, host: str) -> tuple[list[dict], dict]:
    """Every match on exactly this host and the host's case (NotFound when the principal has none there)."""
    host = site_host(host)
    matches = cases.site_matches(store, host, principal.owner_id)
    return matches, cases.case_of(store, host, matches)


def review_site(store: Store, principal: Principal, host: str, status: str, note) -> list[int]:
    """Review every unreviewed match on the host at once (each in the ledger); returns their ids."""
    if status not in MATCH_STATUSES or status == "new":
        raise UsageError(f"status must be confirmed, rejected or authorized, got {status!r}.")
    ids = store.site_match_ids(principal.owner_id, site_host(host), status="new")
    actor = principal.actor
    for match_id in ids:
        review_match(store, match_id, status, _blank(note), owner_id=principal.owner_id, actor=actor)
    return ids


def next_to_review(store: Store, principal: Principal, after: int) -> int | None:
    """The next unreviewed match after `after` (wrapping to the first), for the match page's 'next'."""
    ids = store.unreviewed_match_ids(principal.owner_id)
    later = [i for i in ids if i > after]
    return (later or [i for i in ids if i != after] or [None])[0]
