"""Where an owner's works are licensed, as the owner lists it: what a credit check looks for.

An owner lists, for all their works or for one work: the stock agencies that sell them (by name;
agencies copyhound knows, in `agencies.toml`, bring their usual credit lines and preview hosts), the
photographer's names as pages credit them, and URL prefixes (an agency's contributor page, a preview
server). Licensees' domains are `copyhound authorize`'s (`authorized_uses`), not listed here. Each
change is entered in the ledger (kind `owner_settings`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from detector.errors import NotFound, UsageError
from detector.provenance import ledger
from detector.workspace.store import Store

KINDS = ("agency", "photographer", "url")
MAX_VALUE = 200
#: Names shorter than this would match inside ordinary words of a caption.
MIN_NAME = 3
AGENCIES_FILE = Path(__file__).with_name("agencies.toml")


@dataclass(frozen=True)
class Agency:
    name: str
    credits: tuple[str, ...]
    hosts: tuple[str, ...]


@cache
def known_agencies() -> tuple[Agency, ...]:
    data = tomllib.loads(AGENCIES_FILE.read_text(encoding="utf-8"))
    return tuple(Agency(a["name"], tuple(a.get("credits", ())), tuple(a.get("hosts", ())))
                 for a in data.get("agency", []))


def agency_of_host(host: str) -> Agency | None:
    """The known agency that serves images from `host` (or a parent domain of it), if any."""
    host = host.lower()
    return next((a for a in known_agencies() for h in a.hosts if host == h or host.endswith("." + h)), None)


@dataclass(frozen=True)
class Terms:
    """What one work's credit check looks for: credit phrases (each with what it stands for) and URL prefixes."""

    phrases: tuple[tuple[str, str], ...]   # (phrase as credited, e.g. "Getty", what it is: "Getty Images, a listed agency")
    url_prefixes: tuple[str, ...]


def terms_for(store: Store, asset: dict) -> Terms:
    """The credits that name where `asset` is licensed: its owner's list for it (and for all their works),
    and the creator named in the work's own metadata."""
    phrases: list[tuple[str, str]] = []
    prefixes: list[str] = []
    creator = (asset.get("creator") or "").strip()
    if len(creator) >= MIN_NAME:
        phrases.append((creator, f"{creator}, the work's creator"))
    for row in store.licensed_sources(asset["owner_id"]):
        if row["asset_id"] not in (None, asset["id"]):
            continue
        value = row["value"]
        if row["kind"] == "photographer":
            phrases.append((value, f"{value}, a listed photographer's name"))
        elif row["kind"] == "agency":
            agency = _known(value)
            for phrase in (agency.credits if agency else ()) + (value,):
                phrases.append((phrase, f"{agency.name if agency else value}, a listed agency"))
        else:
            prefixes.append(value)
    return Terms(tuple(dict.fromkeys(phrases)), tuple(dict.fromkeys(prefixes)))


def _known(name: str) -> Agency | None:
    return next((a for a in known_agencies() if a.name.lower() == name.lower()), None)


def checked_value(kind: str, value: str) -> str:
    """`value` cleaned and checked for `kind` (UsageError naming it and the remedy)."""
    if kind not in KINDS:
        raise UsageError(f"A licensed source is one of {', '.join(KINDS)}, got {kind!r}.")
    value = " ".join((value or "").split())
    if not MIN_NAME <= len(value) <= MAX_VALUE or any(ord(c) < 32 for c in value):
        raise UsageError(f"The {kind} {value[:80]!r} must be {MIN_NAME} to {MAX_VALUE} printable characters.")
    if kind == "url":
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in value:
            raise UsageError(f"The url {value[:80]!r} is not an http(s) URL prefix; give one like "
                             "https://www.shutterstock.com/g/janedoe.")
    if kind == "agency":
        known = _known(value)
        value = known.name if known else value
    return value


def add(store: Store, owner: dict, kind: str, value: str, asset_id: int | None = None, note: str | None = None,
        actor: str = "cli") -> dict:
    """List one more place where `owner`'s works (or work `asset_id`) are licensed; the row."""
    value = checked_value(kind, value)
    if asset_id is not None:
        store.asset(asset_id, owner_id=owner["id"])  # NotFound for someone else's work
    note = (note or "").strip()[:MAX_VALUE] or None
    with store.atomic():
        source_id, created = store.add_licensed_source(owner["id"], asset_id, kind, value, note)
        if created:
            ledger.append(store, "owner_settings", ledger.owner_subject(owner["id"]), {
                "licensed_source": {"kind": kind, "value": value, "asset_id": asset_id, "note": note},
                "change": "added", "by": actor})
    return next(r for r in store.licensed_sources(owner["id"]) if r["id"] == source_id)


def remove(store: Store, owner: dict, source_id: int, actor: str = "cli") -> dict:
    with store.atomic():
        row = store.remove_licensed_source(owner["id"], source_id)
        if row is None:
            raise NotFound(f"No licensed source number {source_id} of {owner['name']}; "
                           "list them with `copyhound licensed list`.")
        ledger.append(store, "owner_settings", ledger.owner_subject(owner["id"]), {
            "licensed_source": {k: row[k] for k in ("kind", "value", "asset_id", "note")},
            "change": "removed", "by": actor})
    return row
