"""The JSON API under /api. Every list takes limit/offset and answers {total, limit, offset, items}.

Routes are thin: they parse, call `actions` with the token's principal and return its dicts.
"""

from __future__ import annotations

import shutil
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from detector.errors import NotFound
from detector.evidence.review import REVIEW_STATUSES
from detector.tokens import Principal
from detector.web import actions
from detector.web.auth import api_principal
from detector.web.images import SIZES, rendition
from detector.workspace.store import DECISIONS, MATCH_STATUSES

router = APIRouter(prefix="/api")
Who = Annotated[Principal, Depends(api_principal)]
# Ids are 64-bit integers in SQLite and PostgreSQL alike: a larger one is refused as input (422) rather
# than overflowing the database driver (a 500).
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=actions.MAX_LIMIT, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, description="Items skipped before this page.")]


def _portal(request: Request):
    return request.app.state.portal


class ReviewIn(BaseModel):
    status: Literal[REVIEW_STATUSES]
    note: str | None = Field(default=None, max_length=2000)


class NoticeIn(BaseModel):
    kind: Literal["dmca", "dsa"] = "dmca"


class OfferIn(BaseModel):
    licence: str | None = Field(default=None, description="Licence type; default: pricing.default_licence.")
    commercial: bool | None = Field(default=None, description="Commercial use; null: detected from the page.")
    send: bool = Field(default=False, description="Also give it a public offer page link and mark it sent.")


@router.get("/me", summary="Who the token acts for")
def me(request: Request, who: Who) -> dict:
    return {"token_id": who.token_id, "owner": who.owner, "admin": who.is_admin, "label": who.label}


@router.get("/assets", summary="Registered works")
def assets(request: Request, who: Who, owner: str | None = None,
           limit: Limit = actions.DEFAULT_LIMIT, offset: Offset = 0) -> dict:
    with _portal(request).store() as store:
        return actions.list_assets(store, who, owner, limit, offset).as_dict()


@router.get("/assets/{asset_id}", summary="One work with every sighting of it")
def asset(request: Request, who: Who, asset_id: Id) -> dict:
    with _portal(request).store() as store:
        return actions.asset_detail(store, who, asset_id)


@router.post("/assets", status_code=201, summary="Register an uploaded image as a work")
def register(request: Request, who: Who, file: Annotated[UploadFile, File(description="The image.")],
             owner: Annotated[str | None, Form(description="Owner (admin tokens only).")] = None,
             title: Annotated[str | None, Form()] = None, creator: Annotated[str | None, Form()] = None,
             license_url: Annotated[str | None, Form()] = None) -> dict:
    portal = _portal(request)
    limit = portal.settings.intake.max_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise actions.too_large(actions.safe_filename(file.filename), limit)
    with portal.store() as store:
        return actions.register_upload(portal, store, who, file.filename, data, owner=owner, title=title,
                                       creator=creator, license_url=license_url)


@router.get("/assets/{asset_id}/image", summary="The work as a JPEG (thumb or view size)",
            response_class=FileResponse)
def asset_image(request: Request, who: Who, asset_id: Id,
                size: Annotated[Literal[tuple(SIZES)], Query()] = "view"):
    portal = _portal(request)
    with portal.store() as store:
        sha = store.asset(asset_id, owner_id=who.owner_id)["sha256"]
    return FileResponse(rendition(portal.ws, portal.settings.intake, sha, size).path, media_type="image/jpeg")


@router.get("/matches", summary="Matches, filtered")
def matches(request: Request, who: Who, owner: str | None = None, asset: int | None = None,
            status: Literal[MATCH_STATUSES] | None = None, decision: Literal[DECISIONS] | None = None,
            since: Annotated[str | None, Query(description="YYYY-MM-DD or ISO 8601; seen since.")] = None,
            min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
            domain: Annotated[str | None, Query(description="Page host, sub-domains included.")] = None,
            held: Annotated[bool, Query(description="Only matches held for review now (credited, flood).")] = False,
            credited: Annotated[bool, Query(description="Only matches whose licence check found a credit.")] = False,
            sort: Annotated[Literal[tuple(actions.SORTS)], Query(
                description="id: oldest first; collectability: most worth acting on first.")] = "id",
            limit: Limit = actions.DEFAULT_LIMIT, offset: Offset = 0) -> dict:
    with _portal(request).store() as store:
        filters = actions.match_filter(who, owner=owner, asset=asset, status=status, decision=decision,
                                       since=since, min_score=min_score, domain=domain, held=held,
                                       credited=credited)
        return actions.list_matches(store, who, filters, limit, offset, sort).as_dict()


@router.get("/matches/{match_id}", summary="One match: signals, region, provenance, ledger, notices, offers")
def match(request: Request, who: Who, match_id: Id) -> dict:
    with _portal(request).store() as store:
        return actions.match_detail(store, who, match_id)


@router.get("/matches/{match_id}/image", summary="The captured copy as a JPEG", response_class=FileResponse)
def match_image(request: Request, who: Who, match_id: Id,
                size: Annotated[Literal[tuple(SIZES)], Query()] = "view"):
    portal = _portal(request)
    with portal.store() as store:
        sha = store.match(match_id, owner_id=who.owner_id)["sha256"]
    return FileResponse(rendition(portal.ws, portal.settings.intake, sha, size).path, media_type="image/jpeg")


@router.post("/matches/{match_id}/review", summary="Confirm, reject or authorize a match")
def review(request: Request, who: Who, match_id: Id, body: ReviewIn) -> dict:
    with _portal(request).store() as store:
        return actions.review(store, who, match_id, body.status, body.note)


@router.post("/matches/{match_id}/notices", status_code=201, summary="Draft a takedown notice")
def notice(request: Request, who: Who, match_id: Id, body: NoticeIn) -> dict:
    portal = _portal(request)
    with portal.store() as store:
        return actions.make_notice(portal, store, who, match_id, body.kind)


@router.post("/matches/{match_id}/offers", status_code=201, summary="Draft a licensing offer")
def offer(request: Request, who: Who, match_id: Id, body: OfferIn) -> dict:
    portal = _portal(request)
    with portal.store() as store:
        return actions.make_offer(portal, store, who, match_id, body.licence, body.commercial, send=body.send)


@router.get("/matches/{match_id}/bundle", summary="The signed evidence bundle (zip)",
            response_class=FileResponse)
def bundle(request: Request, who: Who, match_id: Id):
    portal = _portal(request)
    with portal.store() as store:
        path = actions.export_bundle(portal, store, who, match_id)
    return FileResponse(path, media_type="application/zip", filename=path.name,
                        background=BackgroundTask(shutil.rmtree, path.parent, ignore_errors=True))


@router.get("/notices", summary="Takedown notices, newest first")
def notices(request: Request, who: Who, match: int | None = None,
            limit: Limit = actions.DEFAULT_LIMIT, offset: Offset = 0) -> dict:
    with _portal(request).store() as store:
        rows, total = store.notices_page(who.owner_id, match, limit, offset)
        return actions.Page(rows, total, limit, offset).as_dict()


@router.get("/notices/{notice_id}", summary="One notice")
def notice_detail(request: Request, who: Who, notice_id: Id) -> dict:
    with _portal(request).store() as store:
        return store.notice(notice_id, owner_id=who.owner_id)


@router.get("/offers", summary="Licensing offers, newest first")
def offers(request: Request, who: Who, match: int | None = None,
           limit: Limit = actions.DEFAULT_LIMIT, offset: Offset = 0) -> dict:
    with _portal(request).store() as store:
        rows, total = store.offers_page(who.owner_id, match, limit, offset)
        return actions.Page(rows, total, limit, offset).as_dict()


@router.get("/offers/{offer_id}", summary="One offer")
def offer_detail(request: Request, who: Who, offer_id: Id) -> dict:
    with _portal(request).store() as store:
        return store.offer(offer_id, owner_id=who.owner_id)


@router.get("/scans", summary="Scans, newest first")
def scans(request: Request, who: Who, limit: Limit = actions.DEFAULT_LIMIT, offset: Offset = 0) -> dict:
    with _portal(request).store() as store:
        return actions.scans(store, who, limit, offset).as_dict()


@router.get("/scans/latest", summary="The newest scan")
def latest_scan(request: Request, who: Who) -> dict:
    with _portal(request).store() as store:
        items = actions.scans(store, who, 1, 0).items
    if not items:
        raise NotFound("No scan has run in this workspace yet; start one with `copyhound scan`.")
    return items[0]
