"""Build the portal's ASGI app for one workspace."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from detector import __version__
from detector.config import Settings
from detector.errors import CopyhoundError
from detector.web import (
    api,
    cases,
    credits,
    licensing_api,
    licensing_pages,
    monitoring,
    offer_page,
    pages,
    rules,
    screenshots,
    ui,
)
from detector.web.auth import Unauthorized
from detector.web.errors import body_for, status_for
from detector.web.gate import AuthBeforeBody
from detector.web.portal import Portal
from detector.web.ratelimit import PerAddress
from detector.web.security import BodyLimit, SecurityHeaders
from detector.workspace import Workspace

# Room for the multipart framing and the form's text fields around an image of intake.max_bytes;
# also the most any other body (JSON, a sign-in or review form) may be.
FORM_OVERHEAD = 64 * 1024
# The routes that take an image upload; every other body is small.
UPLOAD_PATHS = frozenset({"/api/assets", "/upload"})
# What a validation error may quote of the input it refused (a 15 MB note must not come back).
ECHO_CHARS = 120


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


def _describe_validation(error: dict) -> str:
    where = " ".join(str(part) for part in error.get("loc", ()) if part != "body") or "request"
    received = ""
    if "input" in error and not isinstance(error["input"], dict):
        text = repr(error["input"])
        received = f" (got {text[:ECHO_CHARS]}…, {len(text)} characters)" if len(text) > ECHO_CHARS else f" (got {text})"
    return f"{where}: {error.get('msg', 'invalid')}{received}"


def create_app(ws: Workspace, settings: Settings | None = None):
    """The portal for workspace `ws`: JSON API under /api (OpenAPI at /openapi.json) and the pages.

    Returns the ASGI app with security headers, the request-size limit and the API's
    authenticate-before-reading gate applied around it.
    """
    settings = settings or ws.settings()
    app = FastAPI(title="copyhound portal", version=__version__, docs_url=None, redoc_url=None,
                  description="Registered works, their matches on the web, reviews and evidence. "
                              "Authenticate with `Authorization: Bearer TOKEN`.")
    app.state.portal = Portal(ws, settings)
    app.include_router(api.router)
    app.include_router(cases.router)
    app.include_router(ui.router)
    app.include_router(pages.router)
    app.include_router(rules.router)
    app.include_router(credits.router)
    app.include_router(licensing_api.router)
    app.include_router(licensing_pages.router)
    app.include_router(offer_page.router)
    app.include_router(screenshots.router)
    app.include_router(monitoring.router)
    app.state.offer_rate_limit = PerAddress(settings.licensing.page_requests_per_minute,
                                            settings.portal.rate_limit_storage)
    app.mount("/static", StaticFiles(packages=[("detector.web", "static")]), name="static")

    @app.exception_handler(CopyhoundError)
    async def copyhound_error(request: Request, error: CopyhoundError):
        if _is_api(request):
            return JSONResponse(body_for(error), status_code=status_for(error))
        return ui.render(request, "error.html", status_for(error), principal=None, message=str(error))

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, error: Unauthorized):
        if _is_api(request):
            return JSONResponse({"error": error.message}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="copyhound"'})
        return ui.signin_redirect(request)

    @app.exception_handler(ui.CsrfRefused)
    async def csrf_refused(request: Request, error: ui.CsrfRefused):
        return ui.render(request, "error.html", 403, principal=None,
                         message="This form was not sent from this site's page (its CSRF token is missing "
                                 "or stale). Go back, reload the page and send it again.")

    app.add_exception_handler(offer_page.TooMany, offer_page.too_many)
    app.add_exception_handler(offer_page.Expired, offer_page.expired)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        problems = [_describe_validation(e) for e in error.errors()]
        return JSONResponse({"error": "; ".join(problems), "problems": problems}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        if _is_api(request):
            return JSONResponse({"error": str(error.detail)}, status_code=error.status_code,
                                headers=getattr(error, "headers", None))
        return ui.render(request, "error.html", error.status_code, principal=None, message=str(error.detail))

    gated = AuthBeforeBody(app, app.state.portal)
    served = SecurityHeaders(BodyLimit(gated, settings.intake.max_bytes + FORM_OVERHEAD, FORM_OVERHEAD,
                                       upload_paths=UPLOAD_PATHS))
    if settings.portal.trusted_proxies:  # X-Forwarded-For names the client only when a trusted proxy sent it
        served = ProxyHeadersMiddleware(served, list(settings.portal.trusted_proxies))
    return served
