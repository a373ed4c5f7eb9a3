"""Takedown notices (DMCA 17 U.S.C. 512(c)(3), EU DSA Article 16) and the owner profile they need.

A notice is a statement made under penalty of perjury (DMCA) or of bona fide belief (DSA), so it
is made only for a match someone confirmed (a person, or a policy rule on the owner's behalf),
never for one the latest scan saw taken down, and not when the owner profile lacks what the law
asks the notifier to give. Each notice is recorded (text and SHA-256) and entered in the ledger.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from detector.config import Settings
from detector.errors import ActionRefused, UsageError
from detector.evidence.case import Case, ensure_actionable, environment, evidence_summary, load_case
from detector.evidence.profile import ensure_profile
from detector.evidence.rights_signals import site_declared
from detector.provenance import ledger
from detector.text import oneline
from detector.workspace import Workspace
from detector.workspace.store import Store, utc_now

KINDS = ("dmca", "dsa")

@dataclass(frozen=True)
class Notice:
    id: int
    match_id: int
    kind: str
    created_at: str
    body: str
    sha256: str
    path: Path


def render_notice(case: Case, settings: Settings, kind: str, date: str, recipient: str | None = None) -> str:
    """The text of a `kind` notice for `case` dated `date` (YYYY-MM-DD), addressed to `recipient`
    when known; checks nothing."""
    if kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    m = case.match
    host = oneline(urlsplit(m["page_url"]).hostname or m["page_url"])
    return environment().get_template(f"{kind}.txt.j2").render(
        owner=case.owner, asset=case.asset, match=m, candidate=case.candidate or {}, host=host,
        date=date, evidence=evidence_summary(case, settings, "us" if kind == "dmca" else "eu"),
        recipient=recipient, site_declared=site_declared(case),
    )


def ensure_noticeable(match: dict, what: str) -> None:
    """Refuse a notice on a match nobody confirmed, or on a copy the latest scan saw gone."""
    match_id = match["id"]
    if match["status"] != "confirmed":
        raise ActionRefused(
            f"Match {match_id} is {match['status']}, not confirmed; a {what} is made only on a confirmed "
            f"match. Look at it and run `copyhound review {match_id} --confirm`, or let a policy rule "
            "confirm it (`copyhound enforce`)."
        )
    if match.get("presence") == "removed":
        raise ActionRefused(
            f"Match {match_id}: no {what}, the copy is gone: {match['presence_detail']} (scan of "
            f"{match['presence_at']}); it was last seen on {match['last_seen']}."
        )


def make_notice(ws: Workspace, store: Store, settings: Settings, match_id: int, kind: str, *,
                owner_id: int | None = None, at: str | None = None, out_dir: Path | None = None,
                recipient: str | None = None) -> Notice:
    """Draft, record and write a `kind` notice for a match (ActionRefused when it must not be made),
    addressed to `recipient` (an e-mail address) when it is known.

    Writes match-ID-KIND-NOTICE.txt under `out_dir` (default output/notices).
    """
    if kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    case = load_case(ws, store, match_id, owner_id)
    ensure_actionable(case.match, f"{kind.upper()} notice")
    ensure_noticeable(case.match, f"{kind.upper()} notice")
    ensure_profile(case.owner, kind)
    at = at or utc_now()
    body = render_notice(case, settings, kind, at[:10], recipient)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    with store.atomic():
        notice_id = store.add_notice({"match_id": match_id, "owner_id": case.owner["id"], "kind": kind,
                                      "created_at": at, "body": body, "sha256": digest})
        ledger.append(store, "notice", ledger.match_subject(match_id),
                      {"notice_id": notice_id, "kind": kind, "sha256": digest}, at=at)
    folder = out_dir or ws.output_dir / "notices"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"match-{match_id}-{kind}-{notice_id}.txt"
    path.write_text(body, encoding="utf-8")
    return Notice(notice_id, match_id, kind, at, body, digest, path)
