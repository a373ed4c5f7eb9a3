"""The owner's licensing pages in the portal: an offer with its public link, payments and contributors.

Signed-in pages like the rest of the portal (detector.web.ui): every POST carries the session's
CSRF token, every lookup is scoped to the signed-in owner.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from detector.errors import CopyhoundError, UsageError
from detector.licensing import contributors, links, money, offers, settlement, work_rules
from detector.web.auth import session_principal
from detector.web.errors import status_for
from detector.web.ui import checked_form, render

router = APIRouter(include_in_schema=False)


def _offer_context(request: Request, store, who, offer_id: int) -> dict:
    portal = request.app.state.portal
    offer = store.offer(offer_id, owner_id=who.owner_id)
    token = links.token_of(store, portal.ws.keys_dir, offer_id)
    payments = [dict(p, parts=store.payment_splits(p["id"])) for p in store.payments(offer_id)]
    return {"doc": offer, "page_url": settlement.page_url(portal.settings, store, offer, token) if token else None,
            "acceptance": store.acceptance(offer_id), "counters": store.counter_offers(offer_id),
            "payments": payments, "licence": store.licence(offer_id), "money": money.show,
            "due": money.show(offers.due_minor(offer), offer["currency"]),
            "can_pay": offer["status"] in offers.OPEN + ("accepted",),
            "overpaid": settlement.overpaid_minor(store, offer)}


@router.get("/offers/{offer_id}")
def offer(request: Request, offer_id: int):
    return _offer_page(request, offer_id)


def _offer_page(request: Request, offer_id: int, error: str | None = None, status_code: int = 200):
    session, who = session_principal(request)
    with request.app.state.portal.store() as store:
        context = _offer_context(request, store, who, offer_id)
    return render(request, "offer.html", status_code, session=session, principal=who, error=error, **context)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.post("/offers/{offer_id}/link")
async def new_link(request: Request, offer_id: int):
    _, who = session_principal(request)
    form = await checked_form(request)
    portal = request.app.state.portal
    with portal.store() as store:
        settlement.new_link(portal.ws, store, offer_id, owner_id=who.owner_id, revoke_old=form.get("revoke_old") == "on")
    return _see(f"/offers/{offer_id}?done=link")


@router.post("/offers/{offer_id}/revoke")
async def revoke(request: Request, offer_id: int):
    _, who = session_principal(request)
    await checked_form(request)
    with request.app.state.portal.store() as store:
        settlement.revoke_links(store, offer_id, owner_id=who.owner_id)
    return _see(f"/offers/{offer_id}?done=revoked")


@router.post("/offers/{offer_id}/payment")
async def payment(request: Request, offer_id: int):
    _, who = session_principal(request)
    form = await checked_form(request)
    portal = request.app.state.portal
    try:
        with portal.store() as store:
            settlement.record_payment(store, portal.settings, offer_id,
                                      money.parse(str(form.get("amount") or ""), "Amount"),
                                      reference=str(form.get("reference") or ""), owner_id=who.owner_id)
    except CopyhoundError as e:
        return _offer_page(request, offer_id, str(e), status_for(e))
    return _see(f"/offers/{offer_id}?done=payment")


@router.post("/assets/{asset_id}/contributors")
async def set_contributors(request: Request, asset_id: int):
    _, who = session_principal(request)
    form = await checked_form(request)
    lines = [line.strip() for line in str(form.get("shares") or "").splitlines() if line.strip()]
    with request.app.state.portal.store() as store:
        contributors.set_contributors(store, asset_id, lines, effective_from=str(form.get("effective_from") or "")
                                      or None, owner_id=who.owner_id)
    return _see(f"/assets/{asset_id}?done=contributors")


@router.post("/assets/{asset_id}/negotiation")
async def set_negotiation_rules(request: Request, asset_id: int):
    _, who = session_principal(request)
    form = await checked_form(request)
    percents = {key: _optional_percent(form.get(key), label)
                for key, label in (("floor_percent", "Floor"), ("accept_percent", "Accept level"))}
    with request.app.state.portal.store() as store:
        work_rules.set_rules(store, asset_id, owner_id=who.owner_id, **percents)
    return _see(f"/assets/{asset_id}?done=negotiation")


def _optional_percent(value, label: str) -> float | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{label} must be a percent like 70 (or empty for the owner's), got {text[:20]!r}.") from None
