"""Bluesky, live: posts with images read from the public Jetstream websocket, one bounded batch at a time.

`copyhound watch bluesky` (detector/cli/watch.py) loops: read up to a batch of image posts from the saved
cursor, then, in one transaction, start a scan for them, store them as leads of the `bluesky` source and
save the cursor; then crawl the images (the CDN, through the crawler with its SSRF guard and WARC
capture) and detect, as `copyhound scan --resume` would. Killed anywhere, a restart first finishes the
interrupted scan, then reads on from the saved cursor: no post is lost, none is analysed twice (Jetstream
replays from the cursor; a post already led to is skipped).

Memory stays bounded when detection falls behind: the websocket is closed while a batch is crawled and
detected, so the relay keeps the backlog (Jetstream keeps days of history) and the cursor lags; a batch
holds at most `batch` leads, and a message over 1 MiB is refused by the client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from detector.sources.base import Lead, SourceError, fetch_target
from detector.sources.fetching import refused_address
from detector.workspace.store import Store

SOURCE = "bluesky"
POST = "app.bsky.feed.post"
MAX_MESSAGE = 1 << 20
_MAX_IMAGES_PER_POST = 4


@dataclass
class Batch:
    leads: list[Lead] = field(default_factory=list)
    cursor: int | None = None
    posts: int = 0
    skipped: int = 0  # messages that were no JSON event
    idle: bool = False  # the relay went quiet before the batch was full


def web_url(did: str, rkey: str) -> str:
    return f"https://bsky.app/profile/{did}/post/{rkey}"


def post_images(record: dict) -> list[dict]:
    """The images of a post record: its images embed, or the media of a record-with-media embed."""
    embed = record.get("embed") or {}
    if embed.get("$type") == "app.bsky.embed.recordWithMedia":
        embed = embed.get("media") or {}
    if embed.get("$type") != "app.bsky.embed.images":
        return []
    return [i for i in embed.get("images") or [] if isinstance(i, dict)][:_MAX_IMAGES_PER_POST]


def event_leads(event: dict, cdn: str) -> list[Lead]:
    """The image leads of one Jetstream event (none unless it creates a post with images)."""
    commit = event.get("commit") or {}
    if event.get("kind") != "commit" or commit.get("operation") != "create" or commit.get("collection") != POST:
        return []
    did, rkey, record = event.get("did", ""), commit.get("rkey", ""), commit.get("record") or {}
    uri, page = f"at://{did}/{POST}/{rkey}", web_url(did, rkey)
    leads = []
    for image in post_images(record):
        cid = ((image.get("image") or {}).get("ref") or {}).get("$link")
        if not cid or not did.startswith("did:"):
            continue
        url = f"{cdn.rstrip('/')}/img/feed_fullsize/plain/{did}/{cid}@jpeg"
        leads.append(Lead(url, "image", "Bluesky Jetstream", f"image of post {uri} by {did}", {
            "uri": uri, "page_url": page, "did": did, "time_us": event.get("time_us"),
            "created_at": record.get("createdAt"), "alt": (image.get("alt") or "")[:500], "cid": cid}))
    return leads


def read_batch(jetstream: str, cdn: str, cursor: int | None, batch: int, idle_s: float,
               allow_private: bool) -> Batch:
    """Image leads from the relay, from `cursor` on, until `batch` leads or `idle_s` seconds of quiet."""
    for url in (jetstream, cdn):
        if urlsplit(url).scheme not in ("ws", "wss", "http", "https"):
            raise SourceError(f"{url}: not a ws(s) or http(s) URL")
        if not allow_private and (why := refused_address(url)):
            raise SourceError(f"{url}: not reached, {why} (--allow-private allows it)")
    query = f"wantedCollections={POST}" + (f"&cursor={cursor}" if cursor is not None else "")
    out = Batch(cursor=cursor)
    try:
        with connect(f"{jetstream.rstrip('/')}/subscribe?{query}", max_size=MAX_MESSAGE, open_timeout=15) as socket:
            while len(out.leads) + _MAX_IMAGES_PER_POST <= max(batch, _MAX_IMAGES_PER_POST):
                try:
                    message = socket.recv(timeout=idle_s)
                except TimeoutError:
                    out.idle = True
                    break
                for event in _events(message, out):
                    found = event_leads(event, cdn)
                    out.posts += bool(found)
                    out.leads += found
                    if isinstance(event.get("time_us"), int):
                        out.cursor = event["time_us"]
    except (OSError, WebSocketException) as e:
        if not out.leads:
            raise SourceError(f"{jetstream}: {type(e).__name__}: {e}") from e
    return out


def _events(message, batch: Batch) -> Iterator[dict]:
    try:
        event = json.loads(message)
    except ValueError:
        batch.skipped += 1
        return
    if isinstance(event, dict):
        yield event
    else:
        batch.skipped += 1


def commit_batch(store: Store, batch: Batch, allow_private: bool) -> int | None:
    """Start a scan for the batch's new leads, store them and the cursor, all in one transaction; the scan's id
    (None when nothing is new: the cursor is still saved). `copyhound scan --resume` crawls and detects it."""
    known = store.known_lead_urls(SOURCE, [lead.url for lead in batch.leads])
    leads = [lead for lead in {lead.url: lead for lead in batch.leads}.values() if lead.url not in known]
    targets = [fetch_target(SOURCE, leads, allow_private)] if leads else []
    with store.atomic():
        scan_id = store.start_scan({"targets": [_plain(t) for t in targets], "crawl": True, "watch": SOURCE}) \
            if leads else None
        run_id = store.start_source_run(SOURCE, SOURCE, scan_id)
        for lead in leads:
            store.add_lead(run_id, SOURCE, asdict(lead))
        detail = f"{batch.skipped} message(s) were no JSON event and were skipped" if batch.skipped else None
        store.finish_source_run(run_id, "finished", leads=len(leads), budget_used=0,
                                cursor={"time_us": batch.cursor} if batch.cursor is not None else None, detail=detail)
    return scan_id


def saved_cursor(store: Store) -> int | None:
    return (store.source_cursor(SOURCE) or {}).get("time_us")


def _plain(target) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(target).items()}
