"""Bluesky, live: posts with images read from the public Jetstream websocket, one bounded batch at a time.

`copyhound watch bluesky` (its loop: detector/watch.py) reads up to a batch of image posts from the saved
cursor, then, in one transaction, starts a scan for them, stores them as leads of the `bluesky` source and
saves the cursor; then crawls the images (the CDN, through the crawler with its SSRF guard and WARC
capture) and detects, as `copyhound scan --resume` would, the next batch being read and crawled while this
one is detected. Killed anywhere, a restart first finishes the interrupted scans, then reads on from the
saved cursor: no post is lost, none is analysed twice (Jetstream replays from the cursor; a post already
led to is skipped).

Memory stays bounded when detection falls behind: the websocket is closed between batches, and no batch is
read while one waits for detection, so the relay keeps the backlog and the cursor lags; a batch holds at
most `batch` leads, and
a message over 1 MiB is dropped by the relay (`maxMessageSizeBytes`) or refused by the client. Past
`max_lag_s` (keep it under the relay's history), image posts are read and skipped, counted with their
reason in the run's detail, until the cursor is back within it.

Jetstream's commit events carry the author's DID only; the handle comes from the stream's identity
events or, for the DIDs it has not seen, from the AppView's `app.bsky.actor.getProfiles` (XRPC, 25 a
call, through httpx: the `atproto` SDK pins an older httpx than this project uses).
"""

from __future__ import annotations

import json
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from urllib.parse import urlencode, urlsplit

import httpx
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from detector.sources.base import Lead, SourceError, fetch_target
from detector.sources.fetching import get, refused_address
from detector.workspace.store import Store

SOURCE = "bluesky"
POST = "app.bsky.feed.post"
MAX_MESSAGE = 1 << 20
#: A batch's cursor is saved at least this often, also while every post is being skipped.
MAX_MESSAGES_PER_BATCH = 50_000
_MAX_IMAGES_PER_POST = 4
_PROFILES_PER_CALL = 25  # app.bsky.actor.getProfiles takes at most 25 actors
MAX_HANDLES = 100_000
#: Seconds a closing connection waits for the relay's close frame. A relay with a backlog is still sending, and
#: the client has stopped reading it (its queue is full: that is what bounds memory), so the relay's answer is
#: never read and the default 10 s would be waited in full after every batch that lags.
_CLOSE_TIMEOUT = 0.2


@dataclass
class Batch:
    leads: list[Lead] = field(default_factory=list)
    cursor: int | None = None
    posts: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> messages or posts not led to
    notes: list[str] = field(default_factory=list)
    idle: bool = False  # the relay went quiet before the batch was full

    def detail(self) -> str | None:
        """The run's detail: what was skipped, and why, and anything else worth a line."""
        skipped = "; ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return "\n".join(([f"skipped: {skipped}"] if skipped else []) + self.notes) or None


class Handles:
    """The handles of the DIDs seen: from identity events, else asked of the AppView; the newest MAX_HANDLES kept."""

    def __init__(self, appview: str, allow_private: bool):
        self.appview, self.allow_private = appview.rstrip("/"), allow_private
        self.known: OrderedDict[str, str | None] = OrderedDict()

    def learn(self, did: str, handle: str | None) -> None:
        self.known[did] = handle if handle and handle != "handle.invalid" else None
        self.known.move_to_end(did)
        while len(self.known) > MAX_HANDLES:
            self.known.popitem(last=False)

    def resolve(self, dids: list[str]) -> list[str]:
        """Ask the AppView for the handles of `dids` not known yet; the problems met (the batch goes on)."""
        missing, problems = [d for d in dict.fromkeys(dids) if d not in self.known], []
        with httpx.Client(timeout=15.0, headers={"User-Agent": "copyhound watch"}) as client:
            for start in range(0, len(missing), _PROFILES_PER_CALL):
                asked = missing[start:start + _PROFILES_PER_CALL]
                url = f"{self.appview}/xrpc/app.bsky.actor.getProfiles?" + urlencode([("actors", d) for d in asked])
                try:
                    answer = get(client, url, allow_private=self.allow_private, max_bytes=2_000_000)
                    if answer.status != 200:
                        raise SourceError(f"{url}: HTTP {answer.status}")
                    profiles = json.loads(answer.body).get("profiles")
                    if not isinstance(profiles, list):
                        raise SourceError(f"{url}: no profiles list in the answer")
                except (SourceError, ValueError, AttributeError) as e:
                    problems.append(f"handles of {len(asked)} author(s) not known: {str(e)[:300]}")
                    continue
                for profile in profiles:
                    if isinstance(profile, dict) and profile.get("did") in asked:
                        self.learn(profile["did"], str(profile.get("handle") or "")[:253])
                for did in asked:  # an account gone or suspended has no profile: not asked again
                    if did not in self.known:
                        self.learn(did, None)
        return problems

    def name(self, leads: list[Lead]) -> list[Lead]:
        """`leads` with their author's handle in the provenance and the reason."""
        named = []
        for lead in leads:
            handle = self.known.get(lead.provenance["did"])
            if handle:
                lead = replace(lead, why=lead.why.replace(f" by {lead.provenance['did']}", f" by @{handle}"),
                               provenance={**lead.provenance, "handle": handle})
            named.append(lead)
        return named


def web_url(did: str, rkey: str) -> str:
    return f"https://bsky.app/profile/{did}/post/{rkey}"


def _object(value) -> dict:
    """`value` when it is a JSON object, else an empty one: a field of the wrong type reads as absent."""
    return value if isinstance(value, dict) else {}


def post_images(record: dict) -> list[dict]:
    """The images of a post record: its images embed, or the media of a record-with-media embed."""
    embed = _object(record.get("embed"))
    if embed.get("$type") == "app.bsky.embed.recordWithMedia":
        embed = _object(embed.get("media"))
    images = embed.get("images") if embed.get("$type") == "app.bsky.embed.images" else None
    return [i for i in images if isinstance(i, dict)] if isinstance(images, list) else []


def event_leads(event: dict, cdn: str, skipped: Counter | None = None) -> list[Lead]:
    """The image leads of one Jetstream event (none unless it creates a post with images); images that cannot
    be led to are counted in `skipped` by reason."""
    skipped = Counter() if skipped is None else skipped
    commit = _object(event.get("commit"))
    if event.get("kind") != "commit" or commit.get("operation") != "create" or commit.get("collection") != POST:
        return []
    did, rkey, record = event.get("did", ""), commit.get("rkey", ""), commit.get("record")
    if not isinstance(record, dict) or not isinstance(did, str) or not isinstance(rkey, str):
        skipped["event(s) with a malformed post record"] += 1
        return []
    uri, page = f"at://{did}/{POST}/{rkey}", web_url(did, rkey)
    images = post_images(record)
    if len(images) > _MAX_IMAGES_PER_POST:
        skipped[f"image(s) past the {_MAX_IMAGES_PER_POST} a post may have"] += len(images) - _MAX_IMAGES_PER_POST
    leads = []
    for image in images[:_MAX_IMAGES_PER_POST]:
        cid = _object(_object(image.get("image")).get("ref")).get("$link")
        if not isinstance(cid, str) or not cid.isalnum() or not did.startswith("did:") or "/" in did:
            skipped["image(s) without a blob reference or author DID"] += 1
            continue
        url = f"{cdn.rstrip('/')}/img/feed_fullsize/plain/{did}/{cid}@jpeg"
        leads.append(Lead(url, "image", "Bluesky Jetstream", f"image of post {uri} by {did}", {
            "uri": uri, "page_url": page, "did": did, "time_us": event.get("time_us"),
            "created_at": record.get("createdAt"), "alt": str(image.get("alt") or "")[:500], "cid": cid}))
    return leads


def read_batch(jetstream: str, cdn: str, cursor: int | None, batch: int, idle_s: float,
               allow_private: bool, max_lag_s: float = 0, handles: Handles | None = None) -> Batch:
    """Image leads from the relay, from `cursor` on, until `batch` leads or `idle_s` seconds of quiet. Image
    posts more than `max_lag_s` behind the clock (0: never) are skipped and counted. `handles` names the
    authors of the leads."""
    for url in (jetstream, cdn, *([handles.appview] if handles else [])):
        if urlsplit(url).scheme not in ("ws", "wss", "http", "https"):
            raise SourceError(f"{url}: not a ws(s) or http(s) URL")
        if not allow_private and (why := refused_address(url)):
            raise SourceError(f"{url}: not reached, {why} (--allow-private allows it)")
    query = f"wantedCollections={POST}&maxMessageSizeBytes={MAX_MESSAGE}" + (
        f"&cursor={cursor}" if cursor is not None else "")
    out, messages = Batch(cursor=cursor), 0
    try:
        with connect(f"{jetstream.rstrip('/')}/subscribe?{query}", max_size=MAX_MESSAGE, open_timeout=15,
                     close_timeout=_CLOSE_TIMEOUT) as socket:
            while len(out.leads) + _MAX_IMAGES_PER_POST <= max(batch, _MAX_IMAGES_PER_POST) \
                    and messages < MAX_MESSAGES_PER_BATCH:
                try:
                    message = socket.recv(timeout=idle_s)
                except TimeoutError:
                    out.idle = True
                    break
                messages += 1
                for event in _events(message, out):
                    _take(event, cdn, max_lag_s, handles, out)
    except (OSError, WebSocketException) as e:
        if not out.leads:
            raise SourceError(f"{jetstream}: {type(e).__name__}: {e}") from e
        out.notes.append(f"the relay connection ended early ({type(e).__name__}: {str(e)[:200]})")
    if handles is not None and out.leads:
        out.notes += handles.resolve([lead.provenance["did"] for lead in out.leads])
        out.leads = handles.name(out.leads)
    return out


def _take(event: dict, cdn: str, max_lag_s: float, handles: Handles | None, out: Batch) -> None:
    """Add one event's leads to the batch (or count them skipped) and move the cursor past it."""
    time_us = event.get("time_us")
    if event.get("kind") == "identity" and handles is not None:
        identity = event.get("identity") or {}
        if isinstance(identity, dict) and isinstance(event.get("did"), str) and isinstance(identity.get("handle"), str):
            handles.learn(event["did"], identity["handle"][:253])
    found = event_leads(event, cdn, out.skipped)
    if found and max_lag_s > 0 and isinstance(time_us, int) and time.time() - time_us / 1e6 > max_lag_s:
        out.skipped[f"image post(s) more than --max-lag {max_lag_s:g} s behind"] += 1
        found = []
    out.posts += bool(found)
    out.leads += found
    if isinstance(time_us, int) and not isinstance(time_us, bool):
        out.cursor = time_us


def _events(message, batch: Batch) -> Iterator[dict]:
    try:
        event = json.loads(message)
    except ValueError:
        batch.skipped["message(s) not JSON"] += 1
        return
    if isinstance(event, dict):
        yield event
    else:
        batch.skipped["message(s) not a JSON object"] += 1


def commit_batch(store: Store, batch: Batch, allow_private: bool, cdn_delay: float = 0.0) -> int | None:
    """Start a scan for the batch's new leads, store them and the cursor, all in one transaction; the scan's id
    (None when nothing is new: the cursor is still saved). `copyhound scan --resume` crawls and detects it.
    `cdn_delay`: seconds between requests to the CDN (it serves the whole app's traffic: crawl.download_delay's
    second per request would cap the watcher at about one image a second)."""
    known = store.known_lead_urls(SOURCE, [lead.url for lead in batch.leads])
    leads = [lead for lead in {lead.url: lead for lead in batch.leads}.values() if lead.url not in known]
    if len(leads) < len(batch.leads):  # the relay replays from the cursor: what was led to is not again
        batch.skipped["image(s) already analysed (replayed)"] += len(batch.leads) - len(leads)
    targets = [replace(fetch_target(SOURCE, leads, allow_private), download_delay=cdn_delay)] if leads else []
    with store.atomic():
        scan_id = store.start_scan({"targets": [_plain(t) for t in targets], "crawl": True, "watch": SOURCE}) \
            if leads else None
        run_id = store.start_source_run(SOURCE, SOURCE, scan_id)
        for lead in leads:
            store.add_lead(run_id, SOURCE, asdict(lead))
        store.finish_source_run(run_id, "finished", leads=len(leads), budget_used=0,
                                cursor={"time_us": batch.cursor} if batch.cursor is not None else None,
                                detail=batch.detail())
    return scan_id


def saved_cursor(store: Store) -> int | None:
    return (store.source_cursor(SOURCE) or {}).get("time_us")


def _plain(target) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(target).items()}
