"""Follow-up on rescans: is each known copy still up where it was found?

After a scan's crawl and detection, every match whose page or image the scan reached is given a
presence:

- `up`: the page still shows the image with the same bytes;
- `changed`: the image URL now serves other bytes (detection has already judged the new bytes;
  the detail says whether they are still a copy);
- `removed`: the image or the page answers 404 or 410, the page no longer shows the image, or
  the URL failed with network errors in `enforcement.unreachable_limit` scans in a row;
- `unreachable`: a network error (timeout, DNS, refused connection, 5xx, 403) this time.

A match the scan did not reach (another target, a page beyond a cap) keeps its presence. A
removed copy is the outcome a notice asks for, so the fetch failures that show a removal are not
scan errors: `explained` counts them by reason and the scan leaves them out of its exit code.
Each change of presence is entered in the ledger.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from detector.provenance import ledger
from detector.workspace.store import Store, utc_now

PRESENCES = ("up", "changed", "removed", "unreachable")
GONE_REASONS = frozenset({"http_404", "http_410"})
#: Fetch failures that say nothing about the copy: the crawl chose not to fetch.
NOT_FETCHED = frozenset({"robots_disallowed", "robots_unavailable", "robots_ignored", "offsite", "cap_reached",
                         "private_address"})


@dataclass
class FollowUp:
    presence: Counter = field(default_factory=Counter)
    removed_now: list[int] = field(default_factory=list)
    explained: Counter = field(default_factory=Counter)
    explained_events: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"presence": dict(self.presence), "removed_now": self.removed_now,
                "explained": dict(self.explained), "explained_events": self.explained_events}


@dataclass(frozen=True)
class Seen:
    presence: str
    detail: str
    event: dict | None = None


def follow_up(store: Store, scan_id: int, unreachable_limit: int, at: str | None = None) -> FollowUp:
    """Update the presence of every match scan `scan_id` reached; returns the counts."""
    at = at or utc_now()
    sightings: dict[str, dict[str, str]] = {}   # page -> image URL -> sha256, as this scan saw them
    for c in store.candidates("scan_id = ? AND sha256 IS NOT NULL", [scan_id]):
        sightings.setdefault(c["page_url"], {})[c["image_url"]] = c["sha256"]
    events: dict[str, list[dict]] = {}
    for e in store.crawl_events(scan_id):
        if e["reason"] not in NOT_FETCHED:
            events.setdefault(e["url"], []).append(e)
    result = FollowUp()
    with store.atomic():
        for match in store.matches_touched_by_scan(scan_id):
            seen = _observe(store, match, sightings, events)
            if seen is None:
                continue
            _record(store, match, seen, unreachable_limit, at, result)
    return result


def _observe(store: Store, match: dict, sightings: dict[str, dict[str, str]],
             events: dict[str, list[dict]]) -> Seen | None:
    page, image = match["page_url"], match["image_url"]
    shown = sightings.get(page)
    if shown is not None:
        if match["sha256"] in shown.values():
            return Seen("up", "the page still shows the same bytes")
        if image in shown:
            return _changed(store, match, shown[image])
    image_event = next((e for e in events.get(image, []) if e["page_url"] in (page, None)), None)
    page_event = next((e for e in events.get(page, []) if e["page_url"] is None), None)
    for event, what in ((page_event, "the page"), (image_event, "the image")):
        if event is not None and event["reason"] in GONE_REASONS:
            return Seen("removed", f"{what} answered HTTP {event['reason'][5:]}", event)
    if shown is not None:
        return Seen("removed", "the page no longer shows the image")
    event = page_event or image_event
    if event is not None:
        return Seen("unreachable", event["detail"], event)
    return None


def _changed(store: Store, match: dict, sha256: str) -> Seen:
    """The image URL serves other bytes: say whether detection found them still a copy of the work."""
    still = store.matches("matches.asset_id = ? AND matches.page_url = ? AND matches.sha256 = ?",
                          [match["asset_id"], match["page_url"], sha256])
    if still:
        return Seen("changed", f"the image URL serves other bytes ({sha256[:12]}), still a copy: match {still[0]['id']}")
    return Seen("changed", f"the image URL serves other bytes ({sha256[:12]}), no longer recognised as the work")


def _record(store: Store, match: dict, seen: Seen, limit: int, at: str, result: FollowUp) -> None:
    presence, detail = seen.presence, seen.detail
    count = match["unreachable_count"] + 1 if presence == "unreachable" else 0
    if presence == "unreachable" and count >= limit:
        presence, detail = "removed", f"{detail} ({count} scans in a row unreachable)"
    if presence == "removed" and seen.event is not None:
        result.explained[seen.event["reason"]] += 1
        result.explained_events.append(seen.event["id"])
    result.presence[presence] += 1
    fields = {"presence": presence, "presence_at": at, "presence_detail": detail, "unreachable_count": count}
    if presence == "removed" and match["presence"] != "removed":
        fields["removed_at"] = at
        result.removed_now.append(match["id"])
    elif presence != "removed":
        fields["removed_at"] = None
    store.set_match_presence(match["id"], **fields)
    if presence != match["presence"]:
        ledger.append(store, "presence", ledger.match_subject(match["id"]),
                      {"presence": presence, "previous": match["presence"], "detail": detail}, at=at)
