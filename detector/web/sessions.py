"""Signed session cookies and the CSRF tokens derived from them.

The cookie holds a random session id and (once signed in) the id of the API token used to sign
in, never the token itself, with an HMAC-SHA256 over both. The server keeps no session table:
each request re-checks that the token is still active, so revoking it ends its sessions too.
The CSRF token of a form is an HMAC of the session id, so it changes whenever the session does
(a new id is issued at sign-in, against session fixation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE = "copyhound_session"
LIFETIME_S = 12 * 3600


@dataclass(frozen=True)
class Session:
    sid: str
    token_id: int | None
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, secret: bytes):
        self._secret = secret

    def _mac(self, purpose: str, data: str) -> str:
        return _b64(hmac.new(self._secret, f"{purpose}:{data}".encode(), hashlib.sha256).digest())

    def new(self, token_id: int | None = None) -> Session:
        return Session(secrets.token_urlsafe(18), token_id, int(time.time()) + LIFETIME_S)

    def dump(self, session: Session) -> str:
        body = _b64(json.dumps({"sid": session.sid, "tid": session.token_id, "exp": session.expires}).encode())
        return f"{body}.{self._mac('session', body)}"

    def load(self, cookie: str | None) -> Session | None:
        """The session in `cookie`, or None when absent, tampered with, malformed or expired."""
        if not cookie or "." not in cookie:
            return None
        body, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        try:
            data = json.loads(_unb64(body))
            session = Session(str(data["sid"]), data["tid"], int(data["exp"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > time.time() else None

    def csrf(self, session: Session) -> str:
        return self._mac("csrf", session.sid)

    def csrf_ok(self, session: Session | None, submitted: str | None) -> bool:
        return session is not None and bool(submitted) and hmac.compare_digest(self.csrf(session), submitted)
