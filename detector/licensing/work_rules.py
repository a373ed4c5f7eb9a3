"""A work's own negotiation rules: a floor and an accept level that override its owner's.

An owner's [licensing] floor_percent and accept_percent apply to every work; a work may carry its
own (either or both), set from the CLI (`copyhound negotiation set`), the API or the portal. The
newest record wins; clearing it returns the work to its owner's rules. Every change is a ledger
entry (`negotiation`, subject `asset:ID`). The rules themselves (detector.licensing.negotiation)
never accept or propose less than the floor in force, whichever set it.
"""

from __future__ import annotations

from dataclasses import replace

from detector.config import LicensingSettings
from detector.errors import UsageError
from detector.provenance import ledger
from detector.workspace.store import Store, utc_now


def _percent(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not 0 <= value <= 100:
        raise UsageError(f"{name} must be a percent of the offer's price from 0 to 100, got {value:g}.")
    return float(value)


def set_rules(store: Store, asset_id: int, *, floor_percent: float | None = None,
              accept_percent: float | None = None, owner_id: int | None = None) -> dict:
    """Give a work its own floor and/or accept level (None: the owner's); both None clears them."""
    asset = store.asset(asset_id, owner_id)
    record = {"asset_id": asset["id"], "floor_percent": _percent("--floor", floor_percent),
              "accept_percent": _percent("--accept", accept_percent), "recorded_at": utc_now()}
    with store.atomic():
        store.add_work_negotiation(record)
        ledger.append(store, "negotiation", ledger.asset_subject(asset["id"]),
                      {k: record[k] for k in ("asset_id", "floor_percent", "accept_percent")},
                      at=record["recorded_at"])
    return record


def current(store: Store, asset_id: int, owner_id: int | None = None) -> dict | None:
    """The work's own rules in force, or None when it follows its owner's."""
    store.asset(asset_id, owner_id)
    row = store.work_negotiation(asset_id)
    if row is None or (row["floor_percent"] is None and row["accept_percent"] is None):
        return None
    return row


def applied(rules: LicensingSettings, own: dict | None) -> LicensingSettings:
    """The owner's `rules` with the work's own floor and accept level (where set) in their place."""
    if own is None:
        return rules
    return replace(rules, **{k: own[k] for k in ("floor_percent", "accept_percent") if own[k] is not None})


def rules_for_work(store: Store, rules: LicensingSettings, asset_id: int) -> LicensingSettings:
    return applied(rules, current(store, asset_id))


def describe(rules: LicensingSettings, own: dict | None) -> str:
    """'floor 70% (this work), accept 80% (owner)'."""
    effective = applied(rules, own)
    parts = []
    for key, label in (("floor_percent", "floor"), ("accept_percent", "accept")):
        source = "this work" if own is not None and own[key] is not None else "owner"
        parts.append(f"{label} {getattr(effective, key):g}% ({source})")
    return ", ".join(parts)
