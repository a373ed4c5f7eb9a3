"""The casework pages: the owner's profile, notices, offers, sites (one page per infringing site:
its matches with bulk review, and its case: notices, offers, e-mails, outcomes), licensed uses,
and report downloads. Plain HTML forms and links, like `ui`;
filters and paging live in the query string so every list view can be bookmarked.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from detector.errors import ConfigError, CopyhoundError, NotFound, UsageError
from detector.evidence.profile import PROFILE_FIELDS
from detector.licensing import offers, owner_pricing
from detector.web import actions, casework
from detector.web.auth import session_principal
from detector.web.errors import status_for
from detector.web.ui import checked_form, render

router = APIRouter(include_in_schema=False)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def pager(request: Request, page: actions.Page) -> dict:
    """Previous/next links that keep the page's filters."""
    kept = {k: v for k, v in request.query_params.items() if k not in ("offset", "limit") and v}

    def link(offset: int) -> str:
        return "?" + urlencode({**kept, "offset": offset, "limit": page.limit})

    return {"prev": link(max(0, page.offset - page.limit)) if page.offset > 0 else None,
            "next": link(page.offset + page.limit) if page.offset + page.limit < page.total else None}


def _paging(request: Request) -> tuple[int, int]:
    return actions.paging(request.query_params.get("limit"), request.query_params.get("offset"))


# -- the owner's profile -------------------------------------------------------------------------

@router.get("/profile")
def profile_page(request: Request, owner: str | None = None, next: str | None = None):
    session, who = session_principal(request)
    portal = request.app.state.portal
    with portal.store() as store:
        if who.is_admin and not owner:
            return render(request, "profile.html", session=session, principal=who, owner=None,
                          owners=store.owners(), missing={}, error=None, request_next="")
        row = casework.owner_for(store, who, owner)
        pricing = casework.pricing_fields(store, portal.settings.pricing, row)
    return render(request, "profile.html", session=session, principal=who, owner=row, owners=[],
                  missing=casework.missing_for(row), error=None, request_next=_match_path(next), pricing=pricing,
                  pricing_error=None)


def _match_path(target: str | None) -> str:
    """Only a match page may be returned to after saving the profile (no open redirects)."""
    target = target or ""
    return target if target.startswith("/matches/") and target[len("/matches/"):].isdigit() else ""


@router.post("/profile")
async def profile_save(request: Request):
    session, who = session_principal(request)
    form = await checked_form(request)
    portal = request.app.state.portal
    owner_name = form.get("owner") if who.is_admin else None
    with portal.store() as store:
        try:
            row = casework.save_profile(store, who, owner_name, form)
        except UsageError as e:
            row = casework.owner_for(store, who, owner_name)
            unsaved = dict(row, **{f: form.get(f) for f in PROFILE_FIELDS})
            return render(request, "profile.html", 422, session=session, principal=who, owner=unsaved, owners=[],
                          missing=casework.missing_for(row), error=str(e), request_next=_match_path(form.get("next")),
                          pricing=casework.pricing_fields(store, portal.settings.pricing, row), pricing_error=None)
    back = _match_path(form.get("next"))
    if back:
        return _see(back + "?done=profile")  # back to the match whose notice needed the profile
    suffix = f"&owner={quote(row['name'])}" if who.is_admin else ""
    return _see(f"/profile?done=profile{suffix}")


@router.post("/profile/pricing")
async def pricing_save(request: Request):
    session, who = session_principal(request)
    form = await checked_form(request)
    portal = request.app.state.portal
    owner_name = form.get("owner") if who.is_admin else None
    with portal.store() as store:
        try:
            row = casework.save_pricing(store, who, owner_name, portal.settings.pricing, form)
        except (UsageError, ConfigError) as e:
            row = casework.owner_for(store, who, owner_name)
            typed = {name: str(form.get(f"pricing.{name}") or "") for name in owner_pricing.EDITABLE}
            typed.update({f"base_fees.{kind}": str(form.get(f"pricing.base_fees.{kind}") or "")
                          for kind in casework.licence_types(store, portal.settings.pricing, row)})
            return render(request, "profile.html", 422, session=session, principal=who, owner=row, owners=[],
                          missing=casework.missing_for(row), error=None, request_next="", pricing_error=str(e),
                          pricing=casework.pricing_fields(store, portal.settings.pricing, row, typed))
    suffix = f"&owner={quote(row['name'])}" if who.is_admin else ""
    return _see(f"/profile?done=pricing{suffix}#pricing")


# -- notices and offers --------------------------------------------------------------------------

@router.get("/notices")
def notices_page(request: Request):
    session, who = session_principal(request)
    filters = {k: request.query_params.get(k, "") for k in ("kind", "match")}
    context = {"session": session, "principal": who, "filters": filters, "kinds": casework.NOTICE_KINDS}
    try:
        limit, offset = _paging(request)
        with request.app.state.portal.store() as store:
            page = casework.list_notices(store, who, filters["kind"], filters["match"], limit, offset)
    except UsageError as e:
        return render(request, "notices.html", 422, error=str(e), page=None, **context)
    return render(request, "notices.html", error=None, page=page, links=pager(request, page), **context)


@router.get("/offers")
def offers_page(request: Request):
    session, who = session_principal(request)
    filters = {k: request.query_params.get(k, "") for k in ("status", "match")}
    context = {"session": session, "principal": who, "filters": filters, "statuses": offers.STATUSES,
               "transitions": offers.OWNER_MOVES}
    try:
        limit, offset = _paging(request)
        with request.app.state.portal.store() as store:
            page = casework.list_offers(store, who, filters["status"], filters["match"], limit, offset)
    except UsageError as e:
        return render(request, "offers.html", 422, error=str(e), page=None, **context)
    return render(request, "offers.html", error=None, page=page, links=pager(request, page),
                  request_query=request.url.query, **context)


@router.post("/offers/{offer_id}/status")
async def offer_status(request: Request, offer_id: int):
    _, who = session_principal(request)
    form = await checked_form(request)
    with request.app.state.portal.store() as store:
        casework.set_offer_status(store, who, offer_id, str(form.get("status") or ""))
    back = str(form.get("back") or "")
    return _see((back if back.startswith("/offers") and not back.startswith("//") else "/offers")
                + ("&" if "?" in back else "?") + "done=offer")


# -- reports -------------------------------------------------------------------------------------

@router.get("/matches/{match_id}/report.{kind}")
def report(request: Request, match_id: int, kind: str):
    _, who = session_principal(request)
    if kind not in ("html", "pdf"):
        raise NotFound(f"No report format {kind!r}; use report.html or report.pdf.")
    portal = request.app.state.portal
    with portal.store() as store:
        body, media = casework.report(portal, store, who, match_id, kind)
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="copyhound-match-{match_id}.{kind}"',
        "Cache-Control": "no-store"})


# -- sites and licensed uses ---------------------------------------------------------------------

@router.get("/sites")
def sites_page(request: Request):
    session, who = session_principal(request)
    try:
        limit, offset = _paging(request)
    except UsageError as e:
        return render(request, "error.html", 422, session=session, principal=who, message=str(e))
    with request.app.state.portal.store() as store:
        page = casework.list_sites(store, who, limit, offset)
        uses = casework.authorized_uses(store, who)
    return render(request, "sites.html", session=session, principal=who, page=page, links=pager(request, page),
                  uses=uses, error=None)


@router.get("/sites/{host}")
def site_page(request: Request, host: str):
    session, who = session_principal(request)
    with request.app.state.portal.store() as store:
        rows, case = casework.site_case(store, who, host)
    return render(request, "site.html", session=session, principal=who, host=case["host"], rows=rows, case=case,
                  unreviewed=sum(m["status"] == "new" for m in rows))


@router.post("/sites/{host}/review")
async def site_review(request: Request, host: str):
    _, who = session_principal(request)
    form = await checked_form(request)
    with request.app.state.portal.store() as store:
        casework.review_site(store, who, host, str(form.get("status") or ""), form.get("note"))
    return _see(f"/sites/{quote(host.lower())}?done=reviewed")


@router.post("/authorize")
async def authorize(request: Request):
    session, who = session_principal(request)
    form = await checked_form(request)
    portal = request.app.state.portal
    try:
        with portal.store() as store:
            casework.authorize(store, who, form.get("owner"), form.get("pattern"), form.get("note"))
    except CopyhoundError as e:
        with portal.store() as store:
            page = casework.list_sites(store, who, actions.DEFAULT_LIMIT, 0)
            uses = casework.authorized_uses(store, who)
        return render(request, "sites.html", status_for(e), session=session, principal=who, page=page,
                      links=pager(request, page), uses=uses, error=str(e))
    return _see("/sites?done=authorized")
