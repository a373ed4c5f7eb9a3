"""`GET /api/status`: the workspace at a glance as JSON, for monitoring (what `copyhound status --format json`
prints): works, matches, last scan, notices and offers, indexes, the detection queue and its workers.

An owner's token sees its own works, matches and offers; the queue, workers and indexes are the
workspace's (they hold no owner's data).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from detector.status import workspace_status
from detector.tokens import Principal
from detector.web.auth import api_principal

router = APIRouter(prefix="/api")


@router.get("/status", summary="The workspace at a glance, with the detection queue and workers (monitoring)")
def status(request: Request, who: Annotated[Principal, Depends(api_principal)]) -> dict:
    portal = request.app.state.portal
    with portal.store() as store:
        return {s.name: s.rows for s in workspace_status(portal.ws, store, who.owner_id)}
