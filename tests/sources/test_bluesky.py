"""`copyhound watch bluesky` end to end: a loopback relay speaks Jetstream (with a cursor, maxMessageSizeBytes,
noise and posts with images), a loopback CDN serves the blobs and a loopback AppView answers
app.bsky.actor.getProfiles; the watcher is killed mid-stream and restarted, and every image post is
analysed exactly once, its copies matched on the post's page with the author's handle."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from support import registered_home
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from detector import demo_site
from detector.sources.bluesky import Handles, event_leads, read_batch
from detector.workspace.store import Store

DID = "did:plc:abc123"
OTHER = "did:plc:bob456"  # an account the AppView has no profile for: its posts keep the DID only
T0 = int(time.time() * 1e6)  # the stream is live: within --max-lag


def _post(n: int, images: list[str], media: bool = False, did: str = DID) -> dict:
    embed = {"$type": "app.bsky.embed.images", "images": [
        {"alt": f"photo {name}", "image": {"$type": "blob", "ref": {"$link": f"bafk{name.split('.')[0]}"},
                                          "mimeType": "image/jpeg", "size": 1000}} for name in images]}
    if media:
        embed = {"$type": "app.bsky.embed.recordWithMedia", "record": {"record": {"uri": "at://x"}}, "media": embed}
    record = {"$type": "app.bsky.feed.post", "text": f"post {n}", "createdAt": "2026-03-01T00:00:00Z"}
    if images:
        record["embed"] = embed
    return {"did": did, "time_us": T0 + n, "kind": "commit",
            "commit": {"rev": "r", "operation": "create", "collection": "app.bsky.feed.post", "rkey": f"rk{n}",
                       "record": record, "cid": "c"}}


NO_BLOB = _post(11, ["x.jpg"])
NO_BLOB["commit"]["record"]["embed"]["images"][0]["image"]["ref"] = {"$link": "../../etc/passwd"}
HUGE = _post(12, ["baboon.jpg"])
HUGE["commit"]["record"]["text"] = "x" * (2 << 20)  # over maxMessageSizeBytes: the relay does not send it

EVENTS = [
    _post(1, ["recompressed.jpg", "lake.jpg"]),
    {"did": DID, "time_us": T0 + 2, "kind": "commit", "commit": {"operation": "create",
                                                                "collection": "app.bsky.feed.like", "rkey": "l"}},
    "this is no JSON",
    _post(3, ["resized.jpg"]),
    _post(4, []),
    _post(5, ["cropped.jpg"], media=True),
    {"did": DID, "time_us": T0 + 6, "kind": "commit", "commit": {"operation": "delete",
                                                                "collection": "app.bsky.feed.post", "rkey": "rk1"}},
    {"did": "did:plc:carol789", "time_us": T0 + 7, "kind": "identity",
     "identity": {"did": "did:plc:carol789", "handle": "carol.test", "seq": 7, "time": "2026-03-01T00:00:00Z"}},
    _post(8, ["mirrored.jpg"]),
    "[1, 2, 3]",
    _post(9, ["banner.jpg"], did=OTHER),
    _post(10, ["grayscale.jpg"]),
    NO_BLOB,
    HUGE,
]
IMAGE_POSTS = {1: ["recompressed.jpg", "lake.jpg"], 3: ["resized.jpg"], 5: ["cropped.jpg"], 8: ["mirrored.jpg"],
               9: ["banner.jpg"], 10: ["grayscale.jpg"]}


@pytest.fixture
def relay(tmp_path):
    site = demo_site.build_site(tmp_path / "site")
    for did in (DID, OTHER):
        cdn_root = tmp_path / "cdn" / "img" / "feed_fullsize" / "plain" / did
        cdn_root.mkdir(parents=True)
        for image in (site / "img").iterdir():
            (cdn_root / f"bafk{image.stem}@jpeg").write_bytes(image.read_bytes())
    # The AppView: getProfiles answers the profiles it has (one it was not asked for among them).
    xrpc = tmp_path / "cdn" / "xrpc"
    xrpc.mkdir()
    (xrpc / "app.bsky.actor.getProfiles").write_text(json.dumps({"profiles": [
        {"did": DID, "handle": "alice.test", "displayName": "Alice"},
        {"did": "did:plc:zzz", "handle": "stranger.test"}]}), encoding="utf-8")
    cdn, cdn_base = demo_site.serve(tmp_path / "cdn")
    cursors: list = []

    def stream(socket):
        query = parse_qs(urlsplit(socket.request.path).query)
        cursor = query.get("cursor", [None])[0]
        cursors.append(cursor)
        limit = int(query.get("maxMessageSizeBytes", ["0"])[0])
        for event in EVENTS:
            if isinstance(event, dict) and cursor is not None and event["time_us"] < int(cursor):
                continue
            message = event if isinstance(event, str) else json.dumps(event)
            if limit > 0 and len(message) > limit:
                continue  # Jetstream drops what is over the subscriber's maxMessageSizeBytes
            try:
                socket.send(message)
                time.sleep(0.05)
            except ConnectionClosed:
                return
        try:
            socket.recv(timeout=60)  # quiet until the watcher leaves
        except (ConnectionClosed, TimeoutError):
            pass

    server = serve(stream, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}", cdn_base.rstrip("/"), cursors
    server.shutdown()
    cdn.shutdown()


@pytest.fixture
def home(tmp_path, registered_template):
    return registered_home(tmp_path / "ws", registered_template)


def _watch(home: Path, jetstream: str, cdn: str, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-c", "from detector.cli import main; main()", "watch", "bluesky",
               "--jetstream", jetstream, "--cdn", cdn, "--appview", cdn, "--allow-private", "--batch", "8", "--idle", "2",
               "--home", str(home), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})


def _finished_scans(db: Path) -> int:
    store = Store(db)
    try:
        return sum(1 for s in store.scans(50) if s["status"] == "finished")
    finally:
        store.close()


@pytest.mark.slow  # a long end-to-end test (real scans in their own processes): `make test-fast` leaves it out
def test_the_watcher_killed_mid_stream_resumes_and_analyses_every_image_post_once(home, relay):
    jetstream, cdn, cursors = relay
    db = home / "copyhound.db"
    first = _watch(home, jetstream, cdn)
    deadline = time.monotonic() + 240
    while _finished_scans(db) < 1 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)  # mid-stream: later posts are unread, a batch may be half done
    first.wait()
    assert _finished_scans(db) >= 1, first.stderr.read()

    second = _watch(home, jetstream, cdn, "--stop-when-idle")
    _, errors = second.communicate(timeout=600)
    assert second.returncode == 0, errors
    assert cursors[0] is None and cursors[1] is not None  # the restart read on from the saved cursor

    store = Store(db)
    # The batches the killed watcher was detecting and crawling ahead were finished on restart.
    assert {s["status"] for s in store.scans(50)} == {"finished"}
    candidates = store.candidates()
    by_image = {}
    for c in candidates:
        by_image.setdefault(Path(urlsplit(c["image_url"]).path).name, []).append(c)
    expected = {f"bafk{Path(name).stem}@jpeg" for names in IMAGE_POSTS.values() for name in names}
    assert set(by_image) == expected
    assert all(len(rows) == 1 and rows[0]["state"] == "detected" for rows in by_image.values()), by_image
    found = {m["page_url"]: Path(urlsplit(m["image_url"]).path).name for m in store.matches()}
    assert found == {f"https://bsky.app/profile/{OTHER if n == 9 else DID}/post/rk{n}": f"bafk{Path(names[0]).stem}@jpeg"
                     for n, names in IMAGE_POSTS.items() if n != 1} | {
        f"https://bsky.app/profile/{DID}/post/rk1": "bafkrecompressed@jpeg"}
    leads = {m["page_url"].rsplit("/", 1)[1]: store.lead(store.candidate(m["candidate_id"])["lead_id"])
             for m in store.matches()}
    lead = leads["rk3"]
    assert lead["found_by"] == "Bluesky Jetstream" and lead["provenance"]["uri"] == f"at://{DID}/app.bsky.feed.post/rk3"
    assert lead["provenance"]["handle"] == "alice.test" and lead["why"].endswith("by @alice.test")
    assert "handle" not in leads["rk9"]["provenance"] and leads["rk9"]["why"].endswith(f"by {OTHER}")
    store.close()
    # What was skipped is counted with its reason in the runs' detail; the huge post (baboon) never reached it.
    with sqlite3.connect(db) as db_:
        details = "\n".join(d for (d,) in db_.execute("SELECT detail FROM source_runs WHERE detail IS NOT NULL"))
    for reason in ("message(s) not JSON", "message(s) not a JSON object", "image(s) without a blob reference"):
        assert reason in details, details


def test_posts_past_max_lag_are_read_and_counted_not_led_to(relay):
    jetstream, cdn, _ = relay
    handles = Handles(cdn, allow_private=True)
    batch = read_batch(jetstream, cdn, None, 8, 1.0, True, max_lag_s=1e-6, handles=handles)
    assert batch.leads == [] and batch.cursor == T0 + 11 and batch.idle
    assert batch.skipped["image post(s) more than --max-lag 1e-06 s behind"] == len(IMAGE_POSTS)
    assert batch.skipped["message(s) not JSON"] == 1 and batch.skipped["message(s) not a JSON object"] == 1
    assert "skipped: " in batch.detail() and handles.known == {"did:plc:carol789": "carol.test"}


def test_only_created_posts_with_images_are_leads():
    skipped = Counter()
    leads = [lead for event in EVENTS if isinstance(event, dict)
             for lead in event_leads(event, "https://cdn.test", skipped)]
    assert skipped == {"image(s) without a blob reference or author DID": 1}  # the path in post 11's blob
    assert [lead.provenance["uri"].rsplit("/", 1)[1] for lead in leads] == [
        "rk1", "rk1", "rk3", "rk5", "rk8", "rk9", "rk10", "rk12"]  # the huge one too: the relay drops it
    assert leads[0].url == f"https://cdn.test/img/feed_fullsize/plain/{DID}/bafkrecompressed@jpeg"


def test_fields_of_the_wrong_type_are_read_as_absent_not_a_crash():
    post = _post(20, ["a.jpg"])
    hostile = [{"kind": "commit", "commit": "create"}, {"kind": "commit", "commit": {**post["commit"], "record": [1]}},
               {**post, "commit": {**post["commit"], "record": {"embed": "images"}}},
               {**post, "commit": {**post["commit"], "record": {"embed": {"$type": "app.bsky.embed.images",
                                                                         "images": {"a": 1}}}}},
               {**post, "commit": {**post["commit"], "record": {"embed": {"$type": "app.bsky.embed.images",
                                                                         "images": [{"image": "x", "alt": 7}]}}}}]
    skipped = Counter()
    assert [lead for event in hostile for lead in event_leads(event, "https://cdn.test", skipped)] == []
    assert skipped == {"event(s) with a malformed post record": 1, "image(s) without a blob reference or author DID": 1}


def test_a_batch_read_from_a_relay_with_a_backlog_ends_at_once():
    """A lagging watcher meets a relay still pushing its backlog, which the client has stopped reading (that is
    what bounds its memory): leaving must not wait for a close frame it will never read (10 s by default)."""
    backlog = [json.dumps(_post(n, [f"p{n}.jpg"])) for n in range(1, 2001)]

    def flood(socket):
        cursor = parse_qs(urlsplit(socket.request.path).query).get("cursor", [None])[0]
        try:
            for message in backlog[int(cursor) - T0 - 1 if cursor else 0:]:  # from the cursor's post on
                socket.send(message)
            socket.recv(timeout=60)
        except (ConnectionClosed, TimeoutError):
            pass

    server = serve(flood, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    relay = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
    try:
        cursor, took = None, []
        for _ in range(3):
            started = time.monotonic()
            batch = read_batch(relay, "https://cdn.test", cursor, 8, 5.0, True)
            took.append(time.monotonic() - started)
            assert len(batch.leads) == 5 and not batch.idle  # a post may have 4 images: 5 posts fill 8
            cursor = batch.cursor
            time.sleep(0.5)  # the relay fills the socket's buffers, as it does while a batch is detected
    finally:
        server.shutdown()
    assert cursor == T0 + 13  # each batch read on from the last post of the one before (replayed once)
    assert max(took) < 5, took
