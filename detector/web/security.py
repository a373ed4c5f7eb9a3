"""Security headers on every response and the refusal of oversized request bodies as they stream.

Pure ASGI (not BaseHTTPMiddleware) so file downloads stream through untouched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

# No inline scripts or styles anywhere: one stylesheet, and one small script of this site's own (the match
# page's keyboard shortcuts; every page works without it).
CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def csp_with_own_styles(html: str) -> str:
    """The CSP, also allowing the <style> blocks of `html` by their SHA-256: for the invoice and certificate,
    self-contained documents whose PDF is printed from the same HTML. Only for HTML rendered from this
    site's own templates (a hash allows that exact text and nothing else)."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()}'"
                      for css in _STYLE.findall(html))
    return CSP.replace("style-src 'self'", f"style-src 'self' {hashes}") if hashes else CSP


HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in HEADERS if n not in present]
                message = dict(message, headers=list(message.get("headers", [])) + extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(Exception):
    """Raised into the app by the counted `receive` once a body passes its limit."""


class BodyLimit:
    """Refuse a request body over its limit with 413, whether or not it declares a length.

    A declared Content-Length over the limit is refused before anything is read; a body without
    one (chunked) is counted as it streams in and cut off at the limit, and whatever the app
    answers to the broken body is replaced by the 413. Multipart uploads to `upload_paths` may be
    `max_upload` bytes; every other body (JSON, forms, multipart anywhere else) `max_other`, which
    keeps a huge review note from ever being read, parsed and echoed back.
    """

    def __init__(self, app, max_upload: int, max_other: int, upload_paths: frozenset[str]):
        self.app, self.max_upload, self.max_other, self.upload_paths = app, max_upload, max_other, upload_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        multipart = (scope["path"] in self.upload_paths
                     and headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data"))
        limit = self.max_upload if multipart else self.max_other
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await _refuse(send, f"The request body is {int(length)} bytes", limit, multipart)

        received, tripped, started = 0, False, False

        async def counted_receive():
            nonlocal received, tripped
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    tripped = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message):
            nonlocal started
            if tripped:
                return  # the app's answer to a body cut short; the 413 below replaces it
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not tripped:
                raise
        if tripped and not started:
            await _refuse(send, f"The request body passed {limit} bytes", limit, multipart)


async def _refuse(send, what: str, limit: int, multipart: bool) -> None:
    remedy = ("Send a smaller image (intake.max_bytes plus form overhead)." if multipart else
              "Bodies other than image uploads are small JSON or form fields; send less.")
    body = json.dumps({"error": f"{what}; this portal accepts at most {limit} here. {remedy}",
                       "reason": "too_large"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
