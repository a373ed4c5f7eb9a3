"""Who a request acts for: a Bearer token (API) or a signed session cookie (pages)."""

from __future__ import annotations

from fastapi import Request

from detector.errors import NotFound
from detector.tokens import Principal, active_principal, authenticate
from detector.web.sessions import COOKIE, Session


class Unauthorized(Exception):
    """No usable credentials: answered 401 (API) or by a redirect to the sign-in page (pages)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def api_principal(request: Request) -> Principal:
    """FastAPI dependency: the principal of the request's `Authorization: Bearer TOKEN` header."""
    return bearer_principal(request.app.state.portal, request.headers.get("authorization"))


def bearer_principal(portal, header: str | None) -> Principal:
    """The principal of an `Authorization` header's Bearer token; Unauthorized naming what is wrong.

    Also called before a request body is read (`detector.web.gate`), so it needs only the header.
    """
    if not header:
        raise Unauthorized("No API token: send the header 'Authorization: Bearer TOKEN' "
                           "(make a token with `copyhound tokens create --owner NAME`).")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized(f"The Authorization header must be 'Bearer TOKEN', got a {scheme!r} "
                           "scheme. Send the token after 'Bearer '.")
    if not token.strip():
        raise Unauthorized("The Authorization header says 'Bearer' but the token is missing: send "
                           "'Authorization: Bearer TOKEN'.")
    with portal.store() as store:
        try:
            return authenticate(store, token)
        except NotFound as e:
            raise Unauthorized(str(e)) from None


def session_of(request: Request) -> Session | None:
    return request.app.state.portal.sessions.load(request.cookies.get(COOKIE))


def session_principal(request: Request) -> tuple[Session, Principal]:
    """The signed-in session and its principal; Unauthorized when not signed in, expired or revoked."""
    session = session_of(request)
    if session is None or session.token_id is None:
        raise Unauthorized("Sign in with your API token to continue.")
    with request.app.state.portal.store() as store:
        principal = active_principal(store, session.token_id)
    if principal is None:
        raise Unauthorized("The token you signed in with was revoked; sign in with a current one.")
    return session, principal
