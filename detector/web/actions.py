"""What the API and the pages both do, written once: every query is scoped to the principal.

Functions take a Store and the Principal and return plain dicts; they raise the core's named
exceptions (NotFound for someone else's id, UsageError for bad filters, ActionRefused,
ImageRefused), which `errors.py` turns into HTTP answers.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from detector.enforcement import holds
from detector.errors import ImageRefused, NotFound, UsageError
from detector.evidence import bundle, notices
from detector.evidence.region import outline
from detector.evidence.review import review_match
from detector.intake import decode_image
from detector.licensing import contributors, offers, settlement, work_rules
from detector.provenance import ledger
from detector.register import WorkInfo, register_files
from detector.tokens import Principal
from detector.web import credit_view
from detector.web.portal import Portal
from detector.workspace.store import MatchFilter, Store

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Page:
    items: list[dict]
    total: int
    limit: int
    offset: int

    def as_dict(self) -> dict:
        return {"total": self.total, "limit": self.limit, "offset": self.offset, "items": self.items}


# -- parsing what a form or query string sent ------------------------------------------------------

def _blank(value):
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def parse_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """`value` as an int (None when blank); UsageError naming the field otherwise."""
    value = _blank(value)
    if value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise UsageError(f"{name} must be a whole number, got {value!r}.") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        bounds = f"from {minimum}" + (f" to {maximum}" if maximum is not None else " up")
        raise UsageError(f"{name} must be {bounds}, got {number}.")
    return number


def parse_float(name: str, value) -> float | None:
    value = _blank(value)
    if value is None:
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        raise UsageError(f"{name} must be a number like 0.8, got {value!r}.") from None


def parse_flag(name: str, value) -> bool:
    """A yes/no filter from a form or query string: blank or absent is no."""
    value = _blank(value)
    if value is None or isinstance(value, bool):
        return bool(value)
    word = str(value).strip().lower()
    if word not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise UsageError(f"{name} must be 1 or 0 (yes or no), got {value!r}.")
    return word in ("1", "true", "yes", "on")


def paging(limit, offset) -> tuple[int, int]:
    return (parse_int("limit", limit, 1, MAX_LIMIT) or DEFAULT_LIMIT), (parse_int("offset", offset, 0) or 0)


_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")


def match_filter(principal: Principal, *, owner=None, asset=None, status=None, decision=None, since=None,
                 min_score=None, domain=None, held=None, credited=None) -> MatchFilter:
    """The MatchFilter for these (possibly blank, possibly string) values, scoped to the principal.

    An owner token's filter is always ANDed with its own owner, so naming another owner finds nothing.
    """
    domain = _blank(domain)
    if domain is not None:
        domain = str(domain).strip().lower()
        if not _DOMAIN.match(domain):
            raise UsageError(f"domain must be a host name like example.com, got {domain!r}.")
    owner = _blank(owner)
    if owner is not None and principal.is_admin:
        owner = str(owner).strip()
    return MatchFilter(owner=owner, owner_id=principal.owner_id, asset=parse_int("asset", asset, 1),
                       status=_blank(status), decision=_blank(decision), since=_blank(since),
                       min_score=parse_float("min_score", min_score), domain=domain,
                       held=parse_flag("held", held), credited=parse_flag("credited", credited))


# -- reading ---------------------------------------------------------------------------------------

#: The orders a list of matches may be sorted in, as the portal names them.
SORTS = {"id": "oldest first", "collectability": "most worth acting on first"}


def list_matches(store: Store, principal: Principal, filters: MatchFilter, limit: int, offset: int,
                 sort: str | None = None) -> Page:
    sort = _blank(sort) or "id"
    if sort not in SORTS:
        raise UsageError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}.")
    rows, total = store.find_matches(filters, limit=limit, offset=offset, order=sort)
    return Page(holds.annotate(store, rows), total, limit, offset)


def most_worth_acting_on(store: Store, principal: Principal, count: int) -> list[dict]:
    """Unresolved matches (new or confirmed) whose copy is not gone, highest collectability first."""
    where = ("matches.status IN ('new', 'confirmed') AND matches.presence != 'removed' "
             "AND collectability.score IS NOT NULL")
    params: list = []
    if principal.owner_id is not None:
        where, params = where + " AND matches.owner_id = ?", [principal.owner_id]
    return holds.annotate(store, store.matches(where, params, limit=count, order="collectability"))


def newest_matches(store: Store, principal: Principal, count: int) -> list[dict]:
    filters = MatchFilter(owner_id=principal.owner_id)
    _, total = store.find_matches(filters, limit=0)
    rows, _ = store.find_matches(filters, limit=count, offset=max(0, total - count))
    return holds.annotate(store, rows[::-1])


def list_assets(store: Store, principal: Principal, owner: str | None, limit: int, offset: int) -> Page:
    clauses, params = ["1"], []
    if principal.owner_id is not None:
        clauses.append("assets.owner_id = ?")
        params.append(principal.owner_id)
    if _blank(owner) is not None:
        clauses.append("owners.name = ?")
        params.append(owner.strip())
    where = " AND ".join(clauses)
    return Page(store.assets_page(where, params, limit, offset), store.count_assets(where, params), limit, offset)


def asset_detail(store: Store, principal: Principal, asset_id: int) -> dict:
    """The asset, every sighting of it (its matches, oldest first), its contributors' share sets and its own
    negotiation rules (None: the owner's)."""
    asset = store.asset(asset_id, owner_id=principal.owner_id)
    return dict(asset, sightings=store.matches("matches.asset_id = ?", [asset_id]),
                contributors=contributors.history(store, asset_id),
                negotiation=work_rules.current(store, asset_id))


def ledger_entries(store: Store, subject: str) -> list[dict]:
    return [dict(row, payload=json.loads(row["payload"])) for row in store.ledger_rows([subject])]


def match_detail(store: Store, principal: Principal, match_id: int) -> dict:
    """The match with its work, its latest sighting's provenance, its ledger entries, notices, offers
    and newest page screenshot."""
    (match,) = holds.annotate(store, [store.match(match_id, owner_id=principal.owner_id)])
    asset = store.asset(match["asset_id"])
    candidate = store.candidate(match["candidate_id"]) if match.get("candidate_id") else None
    if candidate and candidate.get("lead_id"):  # how the copy was found (detector.sources)
        candidate = dict(candidate, lead=store.lead(candidate["lead_id"]))
    verification = (match.get("signals") or {}).get("verification") or {}
    return dict(
        match, asset=asset, provenance=candidate,
        region=outline(verification.get("transform"), (asset["width"], asset["height"])),
        ledger=ledger_entries(store, ledger.match_subject(match_id)),
        notices=store.notices([match_id]), offers=store.offers([match_id]),
        screenshot=store.latest_screenshot(match_id), licence_check=credit_view.licence_check(store, match_id),
        collectability_detail=store.collectability(match_id),
    )


def scans(store: Store, principal: Principal, limit: int, offset: int) -> Page:
    """Scans, newest first. Owners see when scans ran and how they ended, not the crawl options
    or the all-owner counts in the summary."""
    rows = store.scans_page(limit, offset)
    if not principal.is_admin:
        rows = [{k: r[k] for k in ("id", "started_at", "finished_at", "status")} for r in rows]
    return Page(rows, store.count_scans(), limit, offset)


def dashboard(store: Store, principal: Principal) -> dict:
    counts = store.match_status_counts(principal.owner_id)
    latest = scans(store, principal, 1, 0).items
    return {
        "counts": {s: counts.get(s, 0) for s in ("new", "confirmed", "rejected", "authorized")},
        "latest_scan": latest[0] if latest else None,
        "newest": newest_matches(store, principal, 5),
        "worth": most_worth_acting_on(store, principal, 5),
        "assets": store.count_assets(*(("assets.owner_id = ?", [principal.owner_id])
                                       if principal.owner_id is not None else ("1", []))),
    }


# -- acting ----------------------------------------------------------------------------------------

def review(store: Store, principal: Principal, match_id: int, status: str, note: str | None) -> dict:
    return review_match(store, match_id, status, note, owner_id=principal.owner_id,
                        actor=principal.actor)


def upload_owner(store: Store, principal: Principal, owner: str | None) -> str:
    """Whose work an upload registers: the token's owner, or for an admin the owner named in the form."""
    if not principal.is_admin:
        if _blank(owner) is not None and owner.strip() != principal.owner:
            raise NotFound(f"No owner named {owner.strip()!r}.")
        return principal.owner
    if _blank(owner) is None:
        raise UsageError("owner is required when an admin token uploads: name the rights holder "
                         "the work belongs to.")
    return owner.strip()


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(name: str | None) -> str:
    base = Path((name or "").replace("\\", "/")).name
    base = _SAFE_NAME.sub("_", base).strip(" .")[:120]
    return base or "upload"


def too_large(name: str, max_bytes: int) -> ImageRefused:
    """The refusal of an upload that did not end within `max_bytes` (it was not read further)."""
    return ImageRefused(name, "too_large", f"is more than {max_bytes:,} bytes, over the {max_bytes:,}-byte "
                                           "limit (intake.max_bytes). Send a smaller image or raise "
                                           "intake.max_bytes in config.toml.")


def register_upload(portal: Portal, store: Store, principal: Principal, filename: str | None, data: bytes, *,
                    owner: str | None = None, title: str | None = None, creator: str | None = None,
                    license_url: str | None = None) -> dict:
    """Register uploaded bytes as a work of the principal's owner; returns {status, asset_id, ...}.

    The bytes are checked (size, then format sniffed from the content and a full safe decode)
    before the workspace lock is taken or a model loaded; a refusal raises ImageRefused.
    """
    name = safe_filename(filename)
    intake = portal.settings.intake
    if len(data) > intake.max_bytes:
        raise too_large(name, intake.max_bytes)
    decode_image(data, name, intake)
    owner_name = upload_owner(store, principal, owner)
    embedder = portal.embedder()
    with portal.ws.lock("portal upload"), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        (outcome,) = register_files(portal.ws, store, portal.settings, embedder, [path],
                                    WorkInfo(owner_name, _blank(title), _blank(creator), _blank(license_url)))
    if outcome.status == "refused":
        raise ImageRefused(name, outcome.reason, outcome.detail)
    return {"status": outcome.status, "asset_id": outcome.asset_id, "filename": name, "owner": owner_name}


def make_notice(portal: Portal, store: Store, principal: Principal, match_id: int, kind: str) -> dict:
    notice = notices.make_notice(portal.ws, store, portal.settings, match_id, kind, owner_id=principal.owner_id)
    return store.notice(notice.id)


#: Why an offer made in the portal (or drafted through the API) is not sent yet.
PORTAL_DRAFT = "drafted in the portal: it is sent when its page is opened ('Open an offer page' on the offer's page)"


def make_offer(portal: Portal, store: Store, principal: Principal, match_id: int, licence: str | None,
               commercial: bool | None, send: bool = False) -> dict:
    """A draft offer; with `send`, sent with its public page link (`page_url` in the answer).
    `commercial` None: detected from the captured page."""
    if send:
        sent = settlement.send_offer(portal.ws, store, portal.settings, match_id, licence=_blank(licence),
                                     commercial=commercial, owner_id=principal.owner_id)
        return dict(sent.offer, page_url=sent.url)
    offer = offers.make_offer(portal.ws, store, portal.settings, match_id, licence=_blank(licence),
                              commercial=commercial, owner_id=principal.owner_id, draft_reason=PORTAL_DRAFT)
    return offer.record


def export_bundle(portal: Portal, store: Store, principal: Principal, match_id: int) -> Path:
    """Write match `match_id`'s evidence bundle to a fresh temporary folder; the caller removes it."""
    store.match(match_id, owner_id=principal.owner_id)  # someone else's match: NotFound before any work
    folder = Path(tempfile.mkdtemp(prefix="copyhound-bundle-"))
    out = folder / f"copyhound-match-{match_id}.zip"
    try:
        bundle.export_bundle(portal.ws, store, portal.settings, [match_id], out, owner_id=principal.owner_id)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return out
