"""The licence check in the portal: credit findings and holds on matches (their page and the lists), releasing
a hold, "not mine / not a copy", and the owner's list of where their works are licensed (from the profile).

Every change goes through the same functions as the CLI's (`detector.enforcement.holds`, `not_mine`,
`licensed`), so it is checked and entered in the ledger alike, and scoped to the token's owner.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from detector.enforcement import holds, licensed
from detector.enforcement.not_mine import mark_not_mine
from detector.errors import UsageError
from detector.tokens import Principal
from detector.web import casework
from detector.web.actions import parse_int
from detector.web.auth import session_principal
from detector.web.ui import checked_form, render
from detector.workspace.store import Store

router = APIRouter(include_in_schema=False)


@router.post("/matches/{match_id}/release")
async def release(request: Request, match_id: int):
    _, who = session_principal(request)
    await checked_form(request)
    with request.app.state.portal.store() as store:
        holds.release(store, match_id, owner_id=who.owner_id, actor=who.actor)
    return _see(f"/matches/{match_id}?done=released")


@router.post("/matches/{match_id}/not-mine")
async def not_mine(request: Request, match_id: int):
    _, who = session_principal(request)
    form = await checked_form(request)
    portal = request.app.state.portal
    with portal.store() as store:
        mark_not_mine(portal.ws, store, portal.settings, match_id, str(form.get("note") or ""),
                      owner_id=who.owner_id, actor=who.actor)
    return _see(f"/matches/{match_id}?done=not-mine")


@router.get("/profile/licensed")
def licensed_page(request: Request, owner: str | None = None):
    session, who = session_principal(request)
    with request.app.state.portal.store() as store:
        row = casework.owner_for(store, who, owner)
        return _page(request, session, who, store, row, None)


@router.post("/profile/licensed")
async def licensed_change(request: Request):
    session, who = session_principal(request)
    form = await checked_form(request)
    with request.app.state.portal.store() as store:
        row = casework.owner_for(store, who, form.get("owner") if who.is_admin else None)
        try:
            if form.get("remove"):
                licensed.remove(store, row, parse_int("remove", form.get("remove")), actor=who.actor)
            else:
                work = str(form.get("work") or "").strip()
                licensed.add(store, row, str(form.get("kind") or ""), str(form.get("value") or ""),
                             asset_id=parse_int("work", work) if work else None, note=str(form.get("note") or ""),
                             actor=who.actor)
        except UsageError as e:
            return _page(request, session, who, store, row, str(e), 422)
    suffix = f"&owner={quote(row['name'])}" if who.is_admin else ""
    return _see(f"/profile/licensed?done=licensed{suffix}")


def _page(request: Request, session, who: Principal, store: Store, owner: dict, error: str | None, status: int = 200):
    return render(request, "licensed.html", status, session=session, principal=who, owner=owner, error=error,
                  rows=store.licensed_sources(owner["id"]), kinds=licensed.KINDS, agencies=licensed.known_agencies())


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
