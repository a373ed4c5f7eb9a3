"""Takedown notices (DMCA 17 U.S.C. 512(c)(3), EU DSA Article 16) and the owner profile they need.

A notice is a statement made under penalty of perjury (DMCA) or of bona fide belief (DSA), so it
is refused for a match the owner has rejected or authorized, for a borderline match nobody has
reviewed yet, and when the owner profile lacks what the law asks the notifier to give. Each
notice is recorded (text and SHA-256) and entered in the ledger.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from detector import ledger
from detector.config import Settings
from detector.errors import ActionRefused, ImageRefused, UsageError
from detector.intake import decode_image
from detector.report import Case, compare_rights, environment, load_case, oneline
from detector.store import Store, utc_now
from detector.workspace import Workspace

PROFILE_FIELDS = ("legal_name", "address", "email", "phone", "signature", "jurisdiction")
KINDS = ("dmca", "dsa")

# What each document must carry about the notifier: DMCA (c)(3)(A)(i) a signature and (iv)
# contact information; DSA 16(2)(c) a name and email address; an offer letter a name to sign with
# and an address to answer to.
NEEDED = {
    "dmca": ("legal_name", "address", "email", "signature"),
    "dsa": ("legal_name", "email"),
    "offer": ("legal_name", "email"),
}


def set_profile(store: Store, owner_name: str, **values: str | None) -> dict:
    """Set owner profile fields (creating the owner if new); a value of None leaves a field as is,
    an empty string clears it. Returns the owner row."""
    unknown = sorted(set(values) - set(PROFILE_FIELDS))
    if unknown:
        raise UsageError(f"Unknown owner profile field(s) {', '.join(unknown)}; "
                         f"valid ones: {', '.join(PROFILE_FIELDS)}.")
    changes = {k: (v.strip() or None) for k, v in values.items() if v is not None}
    email = changes.get("email")
    if email is not None and (email.count("@") != 1 or any(c.isspace() for c in email)
                              or not all(email.split("@"))):
        raise UsageError(f"--email must be one address like name@example.org, got {email!r}.")
    owner = store.ensure_owner(owner_name)
    return store.update_owner(owner["id"], **changes) if changes else owner


def ensure_actionable(match: dict, action: str) -> None:
    """Refuse `action` (a notice, an offer) for a match that must not be acted on."""
    status, match_id = match["status"], match["id"]
    if status in ("rejected", "authorized"):
        raise ActionRefused(
            f"Match {match_id} is {status}, so no {action} is made for it. If that status is wrong, "
            f"review it again: `copyhound review {match_id} --confirm`."
        )
    if match["decision"] == "review" and status != "confirmed":
        raise ActionRefused(
            f"Match {match_id} is a borderline 'review' decision nobody has confirmed; a {action} "
            f"asserts a belief that it is a copy. Look at it and run `copyhound review {match_id} "
            "--confirm` first."
        )


def ensure_profile(owner: dict, purpose: str) -> None:
    """Refuse when the owner profile lacks a field `purpose` (dmca, dsa, offer) needs; names the fix."""
    missing = [name for name in NEEDED[purpose] if not (owner.get(name) or "").strip()]
    if missing:
        flags = " ".join(f"--{name.replace('_', '-')} ..." for name in missing)
        raise ActionRefused(
            f"Owner {owner['name']!r} has no {', '.join(missing)} in the profile, which a "
            f"{_PURPOSE_NAMES[purpose]} must carry. Set them with "
            f"`copyhound owner set {owner['name']} {flags}`."
        )


_PURPOSE_NAMES = {"dmca": "DMCA notice", "dsa": "DSA notice", "offer": "licensing offer"}


def evidence_summary(case: Case, settings: Settings) -> list[str]:
    """Plain sentences on why the copy is the work, from the stored signals (for notices and letters)."""
    s = case.match.get("signals") or {}
    v = s.get("verification") or {}
    lines = []
    if s.get("sha256_equal"):
        lines.append("The file published is byte-for-byte identical to the registered file (same SHA-256).")
    if v.get("verified"):
        parts = [f"{v['inliers']} geometrically consistent feature matches" if v.get("inliers") else
                 "a geometrically consistent set of feature matches"]
        if isinstance(v.get("asset_coverage"), (int, float)):
            parts.append(f"covering {v['asset_coverage']:.0%} of the registered work")
        if isinstance(v.get("ncc"), (int, float)):
            parts.append(f"with a pixel correlation of {v['ncc']:.2f} after alignment")
        lines.append("Comparing the two images found " + ", ".join(parts) + ".")
    if isinstance(s.get("clip_cosine"), (int, float)):
        lines.append(f"Their visual embeddings have a cosine similarity of {s['clip_cosine']:.2f}.")
    if v.get("mirrored"):
        lines.append("The copy is mirrored.")
    for row in _rights_rows(case, settings):
        if row.verdict == "stripped":
            lines.append(f"The {row.field} notice embedded in the registered file ({row.work}) was removed from the copy.")
        elif row.verdict == "changed":
            lines.append(f"The {row.field} notice embedded in the registered file ({row.work}) was changed "
                         f"in the copy to: {row.copy}.")
    return lines


def _rights_rows(case: Case, settings: Settings):
    if case.copy_bytes is None:
        return []
    try:
        copy_rights = decode_image(case.copy_bytes, "captured copy", settings.intake).rights.as_dict()
    except ImageRefused:
        return []
    return compare_rights(case.asset.get("rights") or {}, copy_rights)


@dataclass(frozen=True)
class Notice:
    id: int
    match_id: int
    kind: str
    created_at: str
    body: str
    sha256: str
    path: Path


def render_notice(case: Case, settings: Settings, kind: str, date: str) -> str:
    """The text of a `kind` notice for `case` dated `date` (YYYY-MM-DD); checks nothing."""
    if kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    m = case.match
    host = oneline(urlsplit(m["page_url"]).hostname or m["page_url"])
    return environment().get_template(f"{kind}.txt.j2").render(
        owner=case.owner, asset=case.asset, match=m, candidate=case.candidate or {}, host=host,
        date=date, evidence=evidence_summary(case, settings),
    )


def make_notice(ws: Workspace, store: Store, settings: Settings, match_id: int, kind: str, *,
                owner_id: int | None = None, at: str | None = None, out_dir: Path | None = None) -> Notice:
    """Draft, record and write a `kind` notice for a match (ActionRefused when it must not be made).

    Writes match-ID-KIND-NOTICE.txt under `out_dir` (default output/notices).
    """
    if kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    case = load_case(ws, store, match_id, owner_id)
    ensure_actionable(case.match, f"{kind.upper()} notice")
    ensure_profile(case.owner, kind)
    at = at or utc_now()
    body = render_notice(case, settings, kind, at[:10])
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
