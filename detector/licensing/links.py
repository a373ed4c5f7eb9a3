"""The public offer page's link: a random nonce and its HMAC-SHA256 under a workspace key.

A token is `NONCE.MAC`: 128 random bits nobody can guess, signed so that a forged token is turned
away before the database is asked. The nonce is stored with its offer; revoking it (or expiry of
the offer) kills the link for good, and a new link gets a new nonce. No token ever names an offer id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from pathlib import Path

from detector.errors import NotFound
from detector.licensing.keys import secret_file
from detector.workspace.store import Store

KEY_FILE = "offer-links.key"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$")
DEAD = "This offer link is not valid: it was mistyped, revoked or replaced. Ask the sender for a current link."


def _mac(key: bytes, nonce: str) -> str:
    digest = hmac.new(key, f"offer-link:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(store: Store, keys_dir: Path, offer_id: int) -> str:
    """A new link token for an offer (earlier links stay valid until revoked)."""
    nonce = secrets.token_urlsafe(16)
    store.add_offer_link(offer_id, nonce)
    return f"{nonce}.{_mac(secret_file(keys_dir / KEY_FILE), nonce)}"


def token_of(store: Store, keys_dir: Path, offer_id: int) -> str | None:
    """The token of the offer's newest live link, or None when it has none."""
    link = store.live_offer_link(offer_id)
    return f"{link['nonce']}.{_mac(secret_file(keys_dir / KEY_FILE), link['nonce'])}" if link else None


def resolve(store: Store, keys_dir: Path, token: str) -> int:
    """The offer id a live token opens; NotFound (one message for every cause) otherwise."""
    if not _TOKEN.match(token or ""):
        raise NotFound(DEAD)
    nonce, mac = token.split(".")
    if not hmac.compare_digest(mac, _mac(secret_file(keys_dir / KEY_FILE), nonce)):
        raise NotFound(DEAD)
    link = store.offer_link(nonce)
    if link is None or link["revoked_at"] is not None:
        raise NotFound(DEAD)
    return link["offer_id"]


def url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/o/{token}"
