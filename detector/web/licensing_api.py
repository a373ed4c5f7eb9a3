"""The JSON API of licensing: an offer's status, payments and page link; a work's contributors; statements.

Every route is scoped to the token's owner like the rest of /api (another owner's id answers 404).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from detector.licensing import contributors, links, money, offers, settlement, statements, work_rules
from detector.web.api import Id, Who

router = APIRouter(prefix="/api")


class StatusIn(BaseModel):
    status: Literal[tuple(s for s in offers.STATUSES if s not in ("draft", "paid"))] = Field(
        description="The new status; record a payment (POST .../payments) to make an offer paid.")


class PaymentIn(BaseModel):
    amount: str = Field(max_length=20, description="Amount received, e.g. '100.01'.")
    reference: str | None = Field(default=None, max_length=100)
    received_at: str | None = Field(default=None, description="ISO 8601; default now.")


class LinkIn(BaseModel):
    revoke_old: bool = Field(default=False, description="Revoke the offer's earlier links.")


class ContributorsIn(BaseModel):
    shares: list[Annotated[str, Field(max_length=220)]] = Field(max_length=100,
                                                                description='e.g. ["Ann Lee=60", "Bo Chan=40"]')
    effective_from: str | None = Field(default=None, description="YYYY-MM-DD; default today.")


def _portal(request: Request):
    return request.app.state.portal


@router.post("/offers/{offer_id}/status", summary="Record what happened to an offer (sent, declined, ...)")
def offer_status(request: Request, who: Who, offer_id: Id, body: StatusIn) -> dict:
    with _portal(request).store() as store:
        return offers.set_offer_status(store, offer_id, body.status, owner_id=who.owner_id)


@router.post("/offers/{offer_id}/payments", status_code=201, summary="Record a payment; split it; paid in full "
             "makes the offer paid and licenses its domain")
def payment(request: Request, who: Who, offer_id: Id, body: PaymentIn) -> dict:
    portal = _portal(request)
    with portal.store() as store:
        paid = settlement.record_payment(store, portal.settings, offer_id, money.parse(body.amount, "amount"),
                                         reference=body.reference, received_at=body.received_at,
                                         owner_id=who.owner_id)
    return {"payment_id": paid.id, "offer": paid.offer, "paid": money.text(paid.paid_minor),
            "due": money.text(paid.due_minor), "excess": money.text(paid.excess_minor), "licence": paid.licence,
            "split": [dict(p, amount=money.text(p["amount_minor"])) for p in paid.parts]}


@router.get("/offers/{offer_id}/link", summary="The offer page's live link (null when it has none)")
def link(request: Request, who: Who, offer_id: Id) -> dict:
    portal = _portal(request)
    with portal.store() as store:
        offer = store.offer(offer_id, owner_id=who.owner_id)
        token = links.token_of(store, portal.ws.keys_dir, offer_id)
        return {"url": settlement.page_url(portal.settings, store, offer, token) if token else None}


@router.post("/offers/{offer_id}/link", status_code=201, summary="Issue a new offer page link (a draft becomes sent)")
def new_link(request: Request, who: Who, offer_id: Id, body: LinkIn) -> dict:
    portal = _portal(request)
    with portal.store() as store:
        token = settlement.new_link(portal.ws, store, offer_id, owner_id=who.owner_id, revoke_old=body.revoke_old)
        return {"url": settlement.page_url(portal.settings, store, store.offer(offer_id), token)}


@router.delete("/offers/{offer_id}/link", summary="Revoke every live link of the offer page")
def revoke_link(request: Request, who: Who, offer_id: Id) -> dict:
    with _portal(request).store() as store:
        return {"revoked": settlement.revoke_links(store, offer_id, owner_id=who.owner_id)}


@router.get("/assets/{asset_id}/contributors", summary="A work's contributor share sets, oldest first")
def contributor_history(request: Request, who: Who, asset_id: Id) -> dict:
    with _portal(request).store() as store:
        return {"items": contributors.history(store, asset_id, owner_id=who.owner_id)}


@router.put("/assets/{asset_id}/contributors", summary="Set a work's contributors and shares from a date")
def set_contributors(request: Request, who: Who, asset_id: Id, body: ContributorsIn) -> dict:
    with _portal(request).store() as store:
        return contributors.set_contributors(store, asset_id, body.shares, effective_from=body.effective_from,
                                             owner_id=who.owner_id)


class NegotiationIn(BaseModel):
    floor_percent: float | None = Field(default=None, ge=0, le=100,
                                        description="The work's floor in percent of the price; null: the owner's.")
    accept_percent: float | None = Field(default=None, ge=0, le=100,
                                         description="The work's accept level in percent; null: the owner's.")


def _negotiation(store, settings, asset_id: int, owner_id: int | None) -> dict:
    own = work_rules.current(store, asset_id, owner_id)
    rules = settings.licensing.for_owner(store.asset(asset_id, owner_id)["owner"])
    effective = work_rules.applied(rules, own)
    return {"asset_id": asset_id, "own": {k: own[k] for k in ("floor_percent", "accept_percent")} if own else None,
            "floor_percent": effective.floor_percent, "accept_percent": effective.accept_percent}


@router.get("/assets/{asset_id}/negotiation", summary="A work's negotiation floor and accept level in force")
def negotiation_rules(request: Request, who: Who, asset_id: Id) -> dict:
    portal = _portal(request)
    with portal.store() as store:
        return _negotiation(store, portal.settings, asset_id, who.owner_id)


@router.put("/assets/{asset_id}/negotiation",
            summary="Set a work's own floor and accept level (both null: back to the owner's rules)")
def set_negotiation_rules(request: Request, who: Who, asset_id: Id, body: NegotiationIn) -> dict:
    portal = _portal(request)
    with portal.store() as store:
        work_rules.set_rules(store, asset_id, floor_percent=body.floor_percent, accept_percent=body.accept_percent,
                             owner_id=who.owner_id)
        return _negotiation(store, portal.settings, asset_id, who.owner_id)


@router.get("/statements", summary="Royalty statement rows of a month (JSON or CSV)")
def statement(request: Request, who: Who, period: Annotated[str, Query(max_length=7, description="e.g. 2026-11")],
              format: Literal["json", "csv"] = "json"):
    with _portal(request).store() as store:
        rows = statements.statement(store, period, who.owner_id)
    if format == "csv":
        return PlainTextResponse(statements.as_csv(rows), media_type="text/csv")
    return {"items": rows}
