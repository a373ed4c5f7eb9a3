"""Authenticate API requests that carry a body before a byte of that body is read.

FastAPI reads and parses a request's body (spooling uploads to disk) before it runs a route's
dependencies, so a token checked by a dependency comes too late to spare the server a huge
anonymous upload. This ASGI layer checks the Bearer token from the headers alone and answers 401
at once; the route's own dependency still decides what the token may do. The pages' POST routes
check their session before they read their forms, so they need no gate.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool

from detector.web.auth import Unauthorized, bearer_principal

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AuthBeforeBody:
    def __init__(self, app, portal):
        self.app, self.portal = app, portal

    async def __call__(self, scope, receive, send):
        if (scope["type"] == "http" and scope["method"] in BODY_METHODS
                and scope["path"].startswith("/api/")):
            header = next((v for n, v in scope.get("headers", []) if n == b"authorization"), None)
            try:
                # The token lookup reads the database: off the event loop, like the routes' own work.
                await run_in_threadpool(bearer_principal, self.portal,
                                        header.decode("latin-1") if header is not None else None)
            except Unauthorized as e:
                body = json.dumps({"error": e.message}).encode()
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="copyhound"'), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
