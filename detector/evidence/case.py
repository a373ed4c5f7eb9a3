"""One match's case, and what every document made from it shares.

A case is the stored rows of a match with the bytes of work and copy. Reports, notices and offers
all render it through the same Jinja environment (web strings made one-line, links only for
http(s)), refuse it by the same rules (`ensure_actionable`), and describe it with the same
plain sentences (`evidence_summary`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from detector import cmi
from detector.config import Settings
from detector.credentials import credentials_sentences, read_credentials, trust_anchors
from detector.errors import ActionRefused, ImageRefused
from detector.evidence import explain
from detector.evidence.region import matched_regions
from detector.intake import decode_image
from detector.text import oneline, safe_href
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store


def environment(*extra_dirs: Path) -> jinja2.Environment:
    """Templates from `extra_dirs` first, then the bundled ones.

    Autoescape is on for every template except `*.txt.j2` (notices and letters are plain text,
    where HTML escaping would corrupt URLs; web strings there go through `oneline`, so a page
    title cannot forge a line of a notice).
    """
    loaders = [jinja2.FileSystemLoader([str(d) for d in extra_dirs])] if extra_dirs else []
    loaders.append(jinja2.PackageLoader("detector.evidence", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2", "html", "htm"), disabled_extensions=("txt.j2",),
            default_for_string=True, default=True,
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["oneline"] = oneline
    env.filters["href"] = safe_href
    return env


@dataclass(frozen=True)
class Case:
    """Everything stored about one match: its rows and the bytes of work and copy (None if absent)."""

    match: dict
    asset: dict
    owner: dict
    candidate: dict | None
    work_bytes: bytes | None
    copy_bytes: bytes | None
    screenshot: dict | None = None  # the newest screenshot of the page (row of `screenshots`)
    screenshot_bytes: bytes | None = None


def load_case(ws: Workspace, store: Store, match_id: int, owner_id: int | None = None) -> Case:
    """The case of match `match_id` (NotFound if missing or, with owner_id, someone else's)."""
    match = store.match(match_id, owner_id)
    asset = store.asset(match["asset_id"])
    candidate = store.candidate(match["candidate_id"]) if match.get("candidate_id") else None
    if candidate and candidate.get("lead_id"):  # how the copy was found (detector.sources)
        candidate = dict(candidate, lead=store.lead(candidate["lead_id"]))
    blobs = BlobStore(ws.blobs_dir)
    work = blobs.get(asset["sha256"]) if asset["sha256"] in blobs else None
    copy = blobs.get(match["sha256"]) if match["sha256"] in blobs else None
    shot = store.latest_screenshot(match_id)
    shot_png = blobs.get(shot["sha256"]) if shot and shot["sha256"] in blobs else None
    return Case(match, asset, store.owner(match["owner_id"]), candidate, work, copy, shot, shot_png)


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


def evidence_summary(case: Case, settings: Settings, law: str = "both") -> list[str]:
    """Plain sentences on why the copy is the work and what rights information it lost, from the
    stored signals (for notices and letters; the report says the same). `law` picks whose law on
    removed copyright management information is cited: "us", "eu" or "both"."""
    signals = case.match.get("signals") or {}
    copy = _decoded_copy(case, settings)
    regions = None if copy is None else matched_regions(
        (signals.get("verification") or {}).get("transform"),
        (case.asset["width"], case.asset["height"]), (copy.width, copy.height))
    work = _decoded(case.work_bytes, case.asset["filename"], settings)
    colour = explain.colour_change(work.image, copy.image) if work is not None and copy is not None else None
    lines = explain.why_sentences(signals, regions, colour, notice=True)
    if copy is not None:
        removed = cmi.removal_sentences(cmi.compare_rights(case.asset.get("rights") or {}, copy.rights.as_dict()))
        work_credentials = None
        if case.work_bytes is not None:
            anchors = trust_anchors(settings)
            work_credentials = read_credentials(case.work_bytes, anchors)
            removed += credentials_sentences(work_credentials, read_credentials(case.copy_bytes, anchors))[0]
        carried = cmi.carried_sentences(case.asset.get("rights") or {}, work_credentials, copy_kept_all=not removed)
        lines += carried + removed + ([cmi.statute(law)] if removed else [])
    return lines


def _decoded_copy(case: Case, settings: Settings):
    return _decoded(case.copy_bytes, "captured copy", settings)


def _decoded(data: bytes | None, name: str, settings: Settings):
    if data is None:
        return None
    try:
        return decode_image(data, name, settings.intake)
    except ImageRefused:
        return None
