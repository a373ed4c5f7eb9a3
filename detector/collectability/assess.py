"""Gather what copyhound knows about a match, apply the rules of `factors`, and store the result.

Facts come from the store and the workspace only: the captured page (WARC) for commercial signs and
language, the host's name and hosting country (RDAP, `hosting`), the latest re-check's presence,
the candidate's declared size, the page's screenshot and the verified transform for placement, and
the offers, notices and deliveries of the owner's matches on the same site for its history.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from PIL import Image

from detector.collectability import factors
from detector.collectability.factors import Factor, History
from detector.collectability.hosting import HostingCountries
from detector.config import Settings
from detector.enforcement.policy import host_of, in_domains
from detector.enforcement.recipients import stamp
from detector.evidence.region import matched_regions
from detector.licensing import demand, placement
from detector.licensing.offers import OPEN
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import MatchFilter, Store


@dataclass(frozen=True)
class Assessment:
    match_id: int
    score: float
    factors: tuple[Factor, ...]
    assessed_at: str

    def as_dict(self) -> dict:
        return {"match_id": self.match_id, "collectability": self.score, "assessed_at": self.assessed_at,
                "factors": [f.as_dict() for f in self.factors]}


def assess(ws: Workspace, store: Store, settings: Settings, match: dict, now: datetime,
           countries: HostingCountries) -> Assessment:
    """Score `match` now, store the score with its factors, and return it."""
    host = demand.bare_host(match["page_url"])
    candidate = store.candidate(match["candidate_id"]) if match.get("candidate_id") else None
    html, headers = demand.page_capture(ws, candidate)
    hosting, hosting_why = countries.country(host_of(match["page_url"]))  # the full name: www. may resolve elsewhere
    blobs = BlobStore(ws.blobs_dir)
    copy = blobs.get(match["sha256"]) if match["sha256"] in blobs else None
    viewport = settings.report.viewport
    where = placement.assess(ws, store, match, candidate, copy, (viewport[0], viewport[1]))
    size = placement.displayed_size(candidate, None) if candidate else None  # as declared by the page
    chosen = [
        factors.commercial(html, host, demand.commercial_reasons(html),
                           in_domains(host, settings.enforcement.commercial_domains)),
        factors.jurisdiction(host, hosting, hosting_why, factors.page_language(html, headers),
                             settings.collectability.countries, settings.collectability.languages),
        factors.presence(match["presence"], match.get("presence_at"), match["first_seen"], match.get("presence_detail")),
        factors.size_placement(size[0] if size else _width(copy), float(where.share) if where.share is not None else None,
                               where.above_fold, _work_share(store, match, copy)),
        factors.history(host, site_history(store, match, settings.collectability.ignored_days, now)),
    ]
    result = Assessment(match["id"], factors.score(chosen), tuple(chosen), stamp(now))
    store.set_collectability(result.match_id, result.score, [f.as_dict() for f in chosen], result.assessed_at)
    return result


def assess_matches(ws: Workspace, store: Store, settings: Settings, matches: list[dict],
                   now: datetime) -> list[Assessment]:
    """Score each of `matches` (rejected ones aside); one hosting-country lookup per site at most."""
    countries = HostingCountries(store, settings, now)
    return [assess(ws, store, settings, m, now, countries) for m in matches if m["status"] != "rejected"]


def _image_size(data: bytes | None) -> tuple[int, int] | None:
    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # noqa: BLE001 (Pillow raises many types on bytes it cannot read)
        return None


def _width(copy: bytes | None) -> int | None:
    size = _image_size(copy)
    return size[0] if size else None


def _work_share(store: Store, match: dict, copy: bytes | None) -> float | None:
    """The part of the work the copy shows, from the verified transform (None: not verified geometrically)."""
    transform = ((match.get("signals") or {}).get("verification") or {}).get("transform")
    copy_size = _image_size(copy)
    if transform is None or copy_size is None:
        return None
    asset = store.asset(match["asset_id"])
    regions = matched_regions(transform, (asset["width"], asset["height"]), copy_size)
    return regions.work_share if regions is not None else None


#: Offer states in which the site said no, or let the offer run out.
_REFUSED = ("declined", "expired")


def site_history(store: Store, match: dict, ignored_days: int, now: datetime) -> History:
    """What the owner's earlier offers and notices to this match's site came to: paid, accepted, ignored
    (declined, expired, or unanswered for `ignored_days` while the copy stayed up) or removed."""
    host = demand.bare_host(match["page_url"])
    site, _ = store.find_matches(MatchFilter(owner_id=match["owner_id"], domain=host))
    ids = [m["id"] for m in site]
    if not ids:
        return History()
    offers, notices = store.offers(ids), store.notices(ids)
    delivered = {d["notice_id"] for d in store.deliveries(ids) if d["status"] == "sent" and d.get("notice_id")}
    due = stamp(now - timedelta(days=ignored_days))
    removed_ids = {m["id"] for m in site if m["presence"] == "removed"}
    asked = {o["match_id"] for o in offers if o["sent_at"]} | {n["match_id"] for n in notices if n["id"] in delivered}
    ignored = sum(1 for o in offers if o["status"] in _REFUSED or
                  (o["status"] in OPEN and (o["sent_at"] or "9") <= due and o["match_id"] not in removed_ids))
    ignored += sum(1 for n in notices if n["id"] in delivered and n["created_at"] <= due
                   and n["match_id"] not in removed_ids)
    return History(paid=sum(o["status"] == "paid" for o in offers),
                   accepted=sum(o["status"] == "accepted" for o in offers),
                   ignored=ignored, removed=len(removed_ids & asked))
