"""The page as it was seen, in the portal: a match's newest screenshot, shown to its owner only
(another owner's match answers 404, as everywhere), and a button that takes a new one, what
`copyhound screenshot MATCH` does, in the crawlers' child process with its SSRF rule."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from detector.errors import ActionRefused, NotFound
from detector.screenshots import shoot
from detector.tokens import Principal
from detector.web.auth import session_principal
from detector.web.portal import Portal
from detector.web.ui import checked_form
from detector.workspace.blobs import BlobStore

router = APIRouter(include_in_schema=False)


@router.get("/matches/{match_id}/screenshot.png")
def screenshot_png(request: Request, match_id: int):
    _, who = session_principal(request)
    portal = request.app.state.portal
    with portal.store() as store:
        store.match(match_id, who.owner_id)  # NotFound for a missing id and another owner's alike
        shot = store.latest_screenshot(match_id)
    blobs = BlobStore(portal.ws.blobs_dir)
    if shot is None or shot["sha256"] not in blobs:
        raise NotFound(f"Match {match_id} has no screenshot of its page"
                       + (" (its PNG is missing from the workspace's blobs/)" if shot else "")
                       + "; take one with the match page's Screenshot button or `copyhound screenshot "
                       f"{match_id}`.")
    return FileResponse(blobs.path(shot["sha256"]), media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})


def _shoot(portal: Portal, who: Principal, match_id: int) -> dict:
    """Screenshot the match's page now (blocking: seconds); private addresses only where the
    target that found the match allows them, as after a scan."""
    with portal.store() as store:
        store.match(match_id, who.owner_id)
        target = store.screenshot_subject(match_id)["target"]
        private_ok = target in {t.name for t in portal.settings.targets if t.allow_private}
        [row] = shoot(portal.ws.home, store, [match_id], {match_id} if private_ok else set(),
                      portal.settings.report.screenshot_timeout)
    return row


@router.post("/matches/{match_id}/screenshot")
async def take_screenshot(request: Request, match_id: int):
    _, who = session_principal(request)
    await checked_form(request)
    row = await run_in_threadpool(_shoot, request.app.state.portal, who, match_id)
    if row["status"] != "taken":
        raise ActionRefused(f"No screenshot of match {match_id}'s page was taken ({row['detail']}). The attempt is "
                            "recorded; try again later, or with `copyhound screenshot "
                            f"{match_id} --allow-private` if the page is on a site of your own.")
    return RedirectResponse(f"/matches/{match_id}?done=screenshot", status_code=303)
