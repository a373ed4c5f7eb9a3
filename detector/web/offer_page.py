"""The public offer page: where the user of a copy sees the offer and accepts, declines or counters it.

Reached without signing in, at /o/TOKEN (detector.licensing.links): the token opens exactly one
offer, and every route here looks up nothing but that offer, so no other offer's data is
reachable. It is hostile ground: each address is rate-limited, every POST carries a CSRF token
bound to a signed cookie of its own (path /o/, so an owner's portal session is never touched),
everything shown is escaped, and a revoked or forged token answers 404 like a missing one. Once
its offer has expired a link opens nothing (410 Gone, naming only the expiry date and whom to ask
for a new offer): no price, picture, form or document of an expired offer is served.
Also here: the payment provider's signed webhook (POST /webhooks/payments).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from detector.errors import CopyhoundError, ImageRefused, NotFound
from detector.licensing import documents, links, money, offers, settlement, webhook
from detector.text import oneline
from detector.tokens import active_principal
from detector.web.auth import session_of
from detector.web.errors import body_for, status_for
from detector.web.images import rendition
from detector.web.security import csp_with_own_styles
from detector.web.ui import CsrfRefused, render

router = APIRouter(include_in_schema=False)
COOKIE = "copyhound_offer"
MAX_FORM_BYTES = 8 * 1024


class TooMany(Exception):
    pass


class Expired(Exception):
    """The link's offer has expired: the link is dead for good (410)."""


def _limited(request: Request) -> None:
    if not request.app.state.offer_rate_limit.allow(request.client.host if request.client else "?"):
        raise TooMany()


def too_many(request: Request, error: TooMany):
    return HTMLResponse("Too many requests from your address; wait a minute and try again.", status_code=429,
                        headers={"Retry-After": "60", "Cache-Control": "no-store"})


def expired(request: Request, error: Expired):
    return render(request, "error.html", 410, principal=None, message=str(error))


def _visitor(request: Request, form=None) -> settlement.Visitor:
    form = form or {}
    return settlement.Visitor(str(form.get("name") or ""), str(form.get("organisation") or ""),
                              str(form.get("email") or ""), request.client.host if request.client else "",
                              request.headers.get("user-agent", ""))


def _offer_id(request: Request, token: str) -> int:
    """The offer a live link opens; an open offer past its date is marked expired here, and then refused."""
    _limited(request)
    portal = request.app.state.portal
    with portal.store() as store:
        offer_id = links.resolve(store, portal.ws.keys_dir, token)
        offer = settlement.live(store, offer_id)
        if offer["status"] == "expired":
            owner = store.owner(offer["owner_id"])
            contact = oneline(owner.get("email") or owner["name"])
            raise Expired(f"This offer expired on {offer['expires_at'][:10]}; ask {contact} for a new one.")
    return offer_id


def _session(request: Request):
    return request.app.state.portal.sessions.load(request.cookies.get(COOKIE))


async def _form(request: Request) -> dict:
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > MAX_FORM_BYTES:
        raise CopyhoundError(f"Send the form from the offer page (at most {MAX_FORM_BYTES} bytes).")
    form = await request.form()
    if not request.app.state.portal.sessions.csrf_ok(_session(request), form.get("csrf")):
        raise CsrfRefused()
    return form


@router.get("/o/{token}")
def page(request: Request, token: str):
    offer_id = _offer_id(request, token)
    with request.app.state.portal.store() as store:
        if not _owner_preview(request, store, offer_id):
            settlement.view(store, offer_id, _visitor(request))
    return _show(request, token, offer_id)


def _owner_preview(request: Request, store, offer_id: int) -> bool:
    """True when the offer's owner (signed in to the portal) opens the page: that is no view by the recipient."""
    session = session_of(request)
    who = active_principal(store, session.token_id) if session and session.token_id else None
    return who is not None and (who.is_admin or who.owner_id == store.offer(offer_id)["owner_id"])


def _show(request: Request, token: str, offer_id: int, error: str | None = None, status_code: int = 200):
    portal = request.app.state.portal
    session = _session(request)
    fresh = session is None
    session = session or portal.sessions.new()
    with portal.store() as store:
        context = _page_context(store, portal.settings, store.offer(offer_id))
    response = render(request, "offer_page.html", status_code, session=session, principal=None, token=token,
                      error=error, **context)
    if fresh:
        response.set_cookie(COOKIE, portal.sessions.dump(session), httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/o/")
    return response


def _page_context(store, settings, offer: dict) -> dict:
    match = store.match(offer["match_id"])
    asset = store.asset(match["asset_id"])
    rules = settlement.rules_for(settings, store, offer)
    accepted = store.acceptance(offer["id"])
    counters = store.counter_offers(offer["id"])
    due = offers.due_minor(offer)
    paid = sum(p["amount_minor"] for p in store.payments(offer["id"]))
    pay = None
    if accepted and offer["status"] == "accepted":
        owed = max(0, accepted["amount_minor"] - paid)
        pay = {"reference": accepted["invoice_number"], "amount": money.show(owed, offer["currency"]),
               "link": settlement.payment_link(rules, owed, offer["currency"], accepted["invoice_number"]),
               "bank": rules.bank_transfer}
    return {
        "offer": offer, "match": match, "asset": {"title": asset.get("title") or asset["filename"],
                                                  "creator": asset.get("creator")},
        "owner": store.owner(offer["owner_id"]), "domain": settlement.licensed_domain(match),
        "term_days": rules.licence_term_days, "due": money.show(due, offer["currency"]),
        "full": money.show(offer["amount_minor"], offer["currency"]),
        "early": money.show(offer["early_amount_minor"], offer["currency"]),
        "open": offer["status"] in offers.OPEN, "accepted": accepted, "pay": pay,
        "last_counter": counters[-1] if counters else None, "money": money.show,
    }


@router.get("/o/{token}/{which}.jpg")
def picture(request: Request, token: str, which: str):
    offer_id = _offer_id(request, token)
    portal = request.app.state.portal
    if which not in ("work", "copy"):
        raise NotFound("No such picture.")
    with portal.store() as store:
        match = store.match(store.offer(offer_id)["match_id"])
        sha = store.asset(match["asset_id"])["sha256"] if which == "work" else match["sha256"]
    try:
        path = rendition(portal.ws, portal.settings.intake, sha, "thumb").path
    except ImageRefused as e:
        raise NotFound(f"The {which} picture cannot be shown ({e.reason}).") from None
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})


@router.post("/o/{token}/{move}")
async def act(request: Request, token: str, move: str):
    """accept, counter or decline; a refusal is shown on the page with what to do."""
    if move not in ("accept", "counter", "decline"):
        raise NotFound(f"No such action on an offer page: {move[:40]!r}.")
    offer_id = _offer_id(request, token)
    form = await _form(request)
    portal = request.app.state.portal
    visitor = _visitor(request, form)
    try:
        with portal.store() as store:
            if move == "accept":
                settlement.accept(store, portal.settings, offer_id, visitor)
            elif move == "counter":
                amount = money.parse(str(form.get("amount") or ""), "Your offer")
                settlement.counter(store, portal.settings, offer_id, amount, visitor)
            else:
                settlement.decline(store, offer_id, visitor)
    except CopyhoundError as e:
        if isinstance(e, NotFound):
            raise
        return _show(request, token, offer_id, str(e), status_for(e))
    return RedirectResponse(f"/o/{token}", status_code=303)


_DOCUMENTS = {"invoice": (documents.invoice_html, documents.invoice_pdf),
              "certificate": (documents.certificate_html, documents.certificate_pdf)}


@router.get("/o/{token}/{name}.pdf")
def document_pdf(request: Request, token: str, name: Literal["invoice", "certificate"]):
    """The invoice or licence certificate printed to PDF/A from the same HTML."""
    offer_id = _offer_id(request, token)
    portal = request.app.state.portal
    with portal.store() as store:
        pdf = _DOCUMENTS[name][1](store, portal.settings, offer_id)
    return Response(pdf, media_type="application/pdf", headers={
        "Cache-Control": "no-store", "Content-Disposition": f'inline; filename="{name}-{offer_id}.pdf"'})


@router.get("/o/{token}/{name}")
def document(request: Request, token: str, name: Literal["invoice", "certificate"]):
    offer_id = _offer_id(request, token)
    portal = request.app.state.portal
    with portal.store() as store:
        html = _DOCUMENTS[name][0](store, portal.settings, offer_id)
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "Content-Security-Policy": csp_with_own_styles(html)})


@router.post("/webhooks/payments")
async def payment_webhook(request: Request):
    _limited(request)
    portal = request.app.state.portal
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > webhook.MAX_BODY:
            return JSONResponse({"error": f"The body is over {webhook.MAX_BODY} bytes."}, status_code=413)
    try:
        with portal.store() as store:
            paid = webhook.receive(store, portal.settings, webhook.secret(portal.ws.keys_dir),
                                   request.headers.get(webhook.HEADER), body)
    except webhook.WebhookRefused as e:
        return JSONResponse({"error": str(e)}, status_code=e.status)
    except CopyhoundError as e:
        return JSONResponse(body_for(e), status_code=status_for(e))
    return JSONResponse({"payment_id": paid.id, "offer_status": paid.offer["status"],
                         "paid": money.text(paid.paid_minor), "due": money.text(paid.due_minor),
                         "excess": money.text(paid.excess_minor)})
