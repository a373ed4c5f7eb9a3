"""The server-rendered pages: sign-in, dashboard, matches, assets, upload, notices and offers.

Every page needs a signed-in session (else a redirect to /signin); every POST carries the
session's CSRF token in a hidden field and is refused without it. Pages are plain HTML forms
and links; the only script is the match page's keyboard shortcuts, a static file of this site
(the Content-Security-Policy allows no other), and every page works without it.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.background import BackgroundTask

from detector.errors import CopyhoundError, ImageRefused, NotFound, UsageError
from detector.evidence.review import REVIEW_STATUSES
from detector.licensing import owner_pricing
from detector.output import host, human_time, relative_time
from detector.text import oneline, safe_href
from detector.tokens import authenticate
from detector.web import actions, casework
from detector.web.auth import session_of, session_principal
from detector.web.charts import dashboard_charts
from detector.web.errors import status_for
from detector.web.images import SIZES, rendition
from detector.web.sessions import COOKIE, LIFETIME_S, Session
from detector.workspace.store import DECISIONS, MATCH_STATUSES

router = APIRouter(include_in_schema=False)
templates = Environment(loader=PackageLoader("detector.web", "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True))
# Strings from the web may carry bidi overrides and control characters; URLs become links only when http(s).
templates.filters["oneline"] = oneline
templates.filters["href"] = safe_href


def code_spans(text: str) -> Markup:
    """Help text of our own settings, its `backticked` names shown as code (everything else escaped)."""
    parts = str(escape(text)).split("`")
    return Markup("".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts)))


templates.filters["code"] = code_spans


def when(value: str | None) -> Markup:
    """A stored time as lists show it: '3 h ago', with the exact time (UTC) in a <time> element's
    datetime and its tooltip; empty for None, any other text escaped as it is."""
    if not value:
        return Markup("")
    shown = relative_time(value, datetime.now(UTC))
    if shown == value:
        return escape(value)
    exact = human_time(value)  # '2026-12-06 01:13', with its offset where it is not UTC
    zoned = " +" in exact or " -" in exact
    return Markup('<time datetime="{}" title="{}">{}</time>').format(value, exact if zoned else f"{exact} UTC", shown)


templates.filters["when"] = when

# Messages a redirect may ask a page to show (by key, so a URL cannot inject text).
DONE = {"reviewed": "Review saved and entered in the ledger.", "registered": "Work registered.",
        "already": "That file was already registered; showing the existing work.",
        "profile": "Profile saved.", "offer": "Offer status saved and entered in the ledger.",
        "authorized": "Licensed use saved: its unreviewed matches are now marked authorized, and later ones will be.",
        "link": "A new offer page link was issued.", "revoked": "The offer page's links were revoked.",
        "payment": "Payment recorded, split among the contributors and entered in the ledger.",
        "contributors": "Contributors saved and entered in the ledger.",
        "screenshot": "Screenshot of the page taken, stored as a WARC record and entered in the ledger.",
        "pricing": "Pricing saved and entered in the ledger; new offers use it.",
        "rules": "Rules saved and entered in the ledger; `copyhound enforce` follows them from now on.",
        "negotiation": "Negotiation rules saved and entered in the ledger.",
        "released": "Hold released and entered in the ledger; the enforcement rules apply to this match again.",
        "not-mine": "Marked not mine: the match is rejected and this image is never flagged for the work again.",
        "licensed": "Saved and entered in the ledger; copies that credit it are held for review."}
FILTERS = ("status", "decision", "owner", "asset", "since", "min_score", "domain", "held", "credited")


class CsrfRefused(Exception):
    pass


def render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    session = context.pop("session", None) or session_of(request)
    portal = request.app.state.portal
    html = templates.get_template(name).render(
        csrf=portal.sessions.csrf(session) if session else "", path=request.url.path,
        done=DONE.get(request.query_params.get("done", "")), **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def set_session(response: Response, request: Request, session: Session) -> Response:
    response.set_cookie(COOKIE, request.app.state.portal.sessions.dump(session), max_age=LIFETIME_S,
                        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


async def checked_form(request: Request) -> dict:
    """The posted form, after checking its CSRF token against the session's."""
    form = await request.form()
    if not request.app.state.portal.sessions.csrf_ok(session_of(request), form.get("csrf")):
        raise CsrfRefused()
    return form


def _local(target: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirects)."""
    return target if target and target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- signing in and out ----------------------------------------------------------------------------

@router.get("/signin")
def signin_page(request: Request, next: str = "/"):
    session = session_of(request)
    fresh = session is None
    if fresh:
        session = request.app.state.portal.sessions.new()
    response = render(request, "signin.html", session=session, next=_local(next), error=None, principal=None)
    return set_session(response, request, session) if fresh else response


@router.post("/signin")
async def signin(request: Request):
    form = await request.form()
    portal = request.app.state.portal
    session, target = session_of(request), _local(form.get("next"))
    if session is None:
        return render(request, "signin.html", 400, next=target, principal=None,
                      error="Your browser sent no session cookie; allow cookies for this site and reload this page.")
    if not portal.sessions.csrf_ok(session, form.get("csrf")):
        raise CsrfRefused()
    with portal.store() as store:
        try:
            principal = authenticate(store, str(form.get("token") or ""))
        except NotFound as e:
            return render(request, "signin.html", 401, next=target, principal=None, error=str(e))
    return set_session(_see(target), request, portal.sessions.new(principal.token_id))


@router.post("/signout")
async def signout(request: Request):
    await checked_form(request)
    response = _see("/signin")
    response.delete_cookie(COOKIE, path="/")
    return response


# -- reading ---------------------------------------------------------------------------------------

@router.get("/")
def dashboard(request: Request):
    session, who = session_principal(request)
    with request.app.state.portal.store() as store:
        data = actions.dashboard(store, who)
        charts = dashboard_charts(store, who.owner_id)
    return render(request, "dashboard.html", session=session, principal=who, charts=charts, **data)


@router.get("/matches")
def matches(request: Request):
    session, who = session_principal(request)
    raw = {k: request.query_params.get(k, "") for k in FILTERS}
    sort = request.query_params.get("sort", "")
    context = {"session": session, "principal": who, "filters": raw, "statuses": MATCH_STATUSES, "decisions": DECISIONS,
               "sorts": actions.SORTS, "sort": sort}
    try:
        limit, offset = actions.paging(request.query_params.get("limit"), request.query_params.get("offset"))
        with request.app.state.portal.store() as store:
            filters = actions.match_filter(who, **raw)
            page = actions.list_matches(store, who, filters, limit, offset, sort)
    except UsageError as e:
        return render(request, "matches.html", 422, error=str(e), page=None, **context)
    kept = {k: v for k, v in dict(raw, sort=sort).items() if v}
    links = {
        "prev": f"?{urlencode({**kept, 'offset': offset - limit, 'limit': limit})}" if offset > 0 else None,
        "next": f"?{urlencode({**kept, 'offset': offset + limit, 'limit': limit})}"
        if offset + limit < page.total else None,
    }
    return render(request, "matches.html", error=None, page=page, links=links, **context)


@router.get("/matches/{match_id}")
def match(request: Request, match_id: int):
    session, who = session_principal(request)
    portal = request.app.state.portal
    with portal.store() as store:
        detail = actions.match_detail(store, who, match_id)
        owner = store.owner(detail["owner_id"])
        missing = casework.missing_for(owner)
        next_id = casework.next_to_review(store, who, match_id)
        pricing = owner_pricing.rules_for(store, portal.settings.pricing, owner)
    try:
        copy = rendition(portal.ws, portal.settings.intake, detail["sha256"], "view")
        copy_problem = None
    except (ImageRefused, NotFound) as e:
        copy, copy_problem = None, str(e)
    return render(request, "match.html", session=session, principal=who, m=detail, copy=copy,
                  copy_problem=copy_problem, review_statuses=REVIEW_STATUSES,
                  licences=sorted(pricing.base_fees), default_licence=pricing.default_licence,
                  missing=missing, next_id=next_id, site=host(detail["page_url"]))


@router.get("/assets")
def assets(request: Request):
    session, who = session_principal(request)
    try:
        limit, offset = actions.paging(request.query_params.get("limit"), request.query_params.get("offset"))
    except UsageError as e:
        return render(request, "error.html", 422, session=session, principal=who, message=str(e))
    with request.app.state.portal.store() as store:
        page = actions.list_assets(store, who, None, limit, offset)
    return render(request, "assets.html", session=session, principal=who, page=page)


@router.get("/assets/{asset_id}")
def asset(request: Request, asset_id: int):
    session, who = session_principal(request)
    with request.app.state.portal.store() as store:
        detail = actions.asset_detail(store, who, asset_id)
    return render(request, "asset.html", session=session, principal=who, a=detail)


@router.get("/notices/{notice_id}")
def notice(request: Request, notice_id: int):
    session, who = session_principal(request)
    with request.app.state.portal.store() as store:
        row = store.notice(notice_id, owner_id=who.owner_id)
    return render(request, "document.html", session=session, principal=who, kind="Notice", doc=row,
                  text=row["body"])


@router.get("/img/{kind}/{item_id}/{size}")
def image(request: Request, kind: str, item_id: int, size: str):
    _, who = session_principal(request)
    portal = request.app.state.portal
    if kind not in ("asset", "match") or size not in SIZES:
        raise NotFound(f"No image at {request.url.path}.")
    with portal.store() as store:
        row = store.asset(item_id, who.owner_id) if kind == "asset" else store.match(item_id, who.owner_id)
    path = rendition(portal.ws, portal.settings.intake, row["sha256"], size).path
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


# -- acting ----------------------------------------------------------------------------------------

@router.post("/matches/{match_id}/review")
async def review(request: Request, match_id: int):
    _, who = session_principal(request)
    form = await checked_form(request)
    with request.app.state.portal.store() as store:
        actions.review(store, who, match_id, str(form.get("status") or ""), form.get("note"))
    return _see(f"/matches/{match_id}?done=reviewed")


@router.post("/matches/{match_id}/notice")
async def notice_create(request: Request, match_id: int):
    _, who = session_principal(request)
    form = await checked_form(request)
    portal = request.app.state.portal
    with portal.store() as store:
        row = actions.make_notice(portal, store, who, match_id, str(form.get("kind") or "dmca"))
    return _see(f"/notices/{row['id']}")


@router.post("/matches/{match_id}/offer")
async def offer_create(request: Request, match_id: int):
    _, who = session_principal(request)
    form = await checked_form(request)
    portal = request.app.state.portal
    with portal.store() as store:
        use = {"commercial": True, "non-commercial": False}.get(str(form.get("use") or ""))
        row = actions.make_offer(portal, store, who, match_id, form.get("licence"), use)
    return _see(f"/offers/{row['id']}")


@router.post("/matches/{match_id}/bundle")
async def bundle(request: Request, match_id: int):
    _, who = session_principal(request)
    await checked_form(request)
    portal = request.app.state.portal
    with portal.store() as store:
        path = actions.export_bundle(portal, store, who, match_id)
    return FileResponse(path, media_type="application/zip", filename=path.name,
                        background=BackgroundTask(shutil.rmtree, path.parent, ignore_errors=True))


@router.get("/upload")
def upload_page(request: Request):
    session, who = session_principal(request)
    return render(request, "upload.html", session=session, principal=who, error=None,
                  max_bytes=request.app.state.portal.settings.intake.max_bytes)


@router.post("/upload")
async def upload(request: Request):
    session, who = session_principal(request)
    form = await checked_form(request)
    portal = request.app.state.portal
    upload = form.get("file")
    try:
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise UsageError("Choose an image file to upload.")
        data = await upload.read(portal.settings.intake.max_bytes + 1)
        with portal.store() as store:
            result = actions.register_upload(portal, store, who, upload.filename, data,
                                             owner=form.get("owner"), title=form.get("title"),
                                             creator=form.get("creator"), license_url=form.get("license_url"))
    except CopyhoundError as e:
        return render(request, "upload.html", status_for(e), session=session, principal=who, error=str(e),
                      max_bytes=portal.settings.intake.max_bytes)
    return _see(f"/assets/{result['asset_id']}?done={result['status']}")


def signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _see(f"/signin?next={quote(target, safe='')}")
