"""The provenance ledger: an append-only hash chain of what happened to works and matches.

Each entry's hash covers its time, kind, subject, payload and the previous entry's hash, so
editing an entry breaks its own hash, and moving or deleting one breaks the link of the entry
after it. Deleting the newest entries leaves a valid chain, so the head (newest seq and hash) is
also kept in the store's meta and compared. Whoever controls the workspace can still rewrite the
whole chain and the head; signed, time-stamped checkpoints (`detector.provenance.checkpoints`) are
what catch that, and evidence bundles carry their entries with Merkle proofs against one.

Subjects name what an entry is about, so bundles can pick the entries that concern them:
`asset:ID` for registrations and contributors' shares, `match:ID` for detections, reviews,
notices, offers and payments, and `export` for bundle exports.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from detector.errors import UsageError
from detector.workspace.store import Store, utc_now

KINDS = ("register", "match", "review", "notice", "offer", "export", "presence", "enforce", "delivery",
         "screenshot", "contributors", "payment", "owner_settings", "negotiation",
         "hold", "negative")
GENESIS = "0" * 64


def asset_subject(asset_id: int) -> str:
    return f"asset:{asset_id}"


def match_subject(match_id: int) -> str:
    return f"match:{match_id}"


def owner_subject(owner_id: int) -> str:
    return f"owner:{owner_id}"


def canonical_json(value) -> str:
    """The one JSON spelling hashed and stored: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(at: str, kind: str, subject: str, payload: str, prev_hash: str) -> str:
    """SHA-256 over the entry's fields (payload as stored, canonical JSON), hex."""
    body = canonical_json({"at": at, "kind": kind, "subject": subject, "payload": payload,
                           "prev_hash": prev_hash})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append(store: Store, kind: str, subject: str, payload: dict, at: str | None = None) -> dict:
    """Append one entry after the current head and return it (seq, at, kind, subject, payload, hashes).

    `payload` must be JSON-serialisable; it is stored as canonical JSON.
    """
    if kind not in KINDS:
        raise UsageError(f"Ledger entry kind {kind!r} is not one of {', '.join(KINDS)}.")
    # Read the head inside the write transaction, so no other writer can move it before the insert.
    with store.atomic():
        head = store.ledger_head()
        seq = 1 if head is None else head["seq"] + 1
        prev_hash = GENESIS if head is None else head["hash"]
        at = at or utc_now()
        text = canonical_json(payload)
        row = {"seq": seq, "at": at, "kind": kind, "subject": subject, "payload": text,
               "prev_hash": prev_hash, "hash": entry_hash(at, kind, subject, text, prev_hash)}
        store.append_ledger_row(row, head)
    return row


def entries(store: Store, subjects: list[str] | None = None) -> list[dict]:
    """Stored entries in order (only those about `subjects` when given), payload as stored text."""
    return store.ledger_rows(subjects)


def entry_intact(entry: dict) -> bool:
    """True when an entry's stored hash matches its fields (checkable without the rest of the chain)."""
    return entry_hash(entry["at"], entry["kind"], entry["subject"], entry["payload"],
                      entry["prev_hash"]) == entry["hash"]


@dataclass(frozen=True)
class LedgerProblem:
    """One break in the chain, naming the entry `seq`.

    `code`: edited, reordered, deleted, deleted_last, renumbered, head_missing.
    """

    seq: int
    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def verify(store: Store) -> list[LedgerProblem]:
    """Every break in the chain, each naming the entry; an empty list means the ledger is intact."""
    rows = store.ledger_rows()
    head = store.ledger_head()
    seq_of_hash = {row["hash"]: row["seq"] for row in rows}
    problems: list[LedgerProblem] = []
    expected_seq, prev_hash, prev_seq = 1, GENESIS, 0
    for row in rows:
        seq = row["seq"]
        name = f"ledger entry {seq} ({row['kind']} {row['subject']}, {row['at']})"
        if not entry_intact(row):
            problems.append(LedgerProblem(seq, "edited", f"{name} was edited: its content no longer "
                                                         "matches its hash."))
        if row["prev_hash"] != prev_hash:
            problems.append(_link_problem(name, seq, row["prev_hash"], prev_seq, expected_seq, seq_of_hash))
        elif seq != expected_seq:
            problems.append(LedgerProblem(seq, "renumbered", f"{name} follows entry {prev_seq} in the chain "
                                                             "but its number was changed."))
        expected_seq, prev_hash, prev_seq = seq + 1, row["hash"], seq
    problems += _head_problems(rows, head)
    return problems


def _link_problem(name: str, seq: int, linked: str, prev_seq: int, expected_seq: int,
                  seq_of_hash: dict[str, int]) -> LedgerProblem:
    """Why an entry does not follow the one before it: moved, something deleted, or its predecessor rewritten."""
    if linked in seq_of_hash:
        return LedgerProblem(seq, "reordered", f"{name} is out of order: it was written after entry "
                                               f"{seq_of_hash[linked]}, but now follows entry {prev_seq}.")
    if linked == GENESIS:
        return LedgerProblem(seq, "reordered", f"{name} is out of order: it was written as the first entry.")
    if seq > expected_seq:
        missing = f"entry {expected_seq} is" if seq == expected_seq + 1 else \
            f"entries {expected_seq} to {seq - 1} are"
        return LedgerProblem(expected_seq, "deleted", f"Before {name}, {missing} missing (deleted).")
    return LedgerProblem(prev_seq, "edited", f"Ledger entry {prev_seq} was rewritten and re-hashed: {name} "
                                             f"was written after a different entry {prev_seq}.")


def _head_problems(rows: list[dict], head: dict | None) -> list[LedgerProblem]:
    if head is None:
        if rows:
            return [LedgerProblem(rows[-1]["seq"], "head_missing", "The ledger head record is missing from "
                                  "meta, so deleted newest entries could not be detected.")]
        return []
    last = rows[-1] if rows else None
    if last is not None and last["seq"] == head["seq"] and last["hash"] == head["hash"]:
        return []
    have = f"ends at entry {last['seq']}" if last else "is empty"
    if last is None or last["seq"] < head["seq"]:
        return [LedgerProblem(head["seq"], "deleted_last",
                              f"The ledger {have}, but its head is entry {head['seq']}: the newest "
                              f"entries up to {head['seq']} were deleted.")]
    return [LedgerProblem(last["seq"], "edited", f"The newest ledger entry {last['seq']} is not the "
                                                 f"recorded head (entry {head['seq']}); it was replaced or "
                                                 "the chain was rewritten.")]
