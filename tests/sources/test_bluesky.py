"""`copyhound watch bluesky` end to end: a loopback relay speaks Jetstream (with a cursor, noise and posts
with images), a loopback CDN serves the blobs; the watcher is killed mid-stream and restarted, and every
image post is analysed exactly once, its copies matched on the post's page."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from support import registered_home
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from detector import demo_site
from detector.sources.bluesky import event_leads
from detector.workspace.store import Store

DID = "did:plc:abc123"


def _post(n: int, images: list[str], media: bool = False) -> dict:
    embed = {"$type": "app.bsky.embed.images", "images": [
        {"alt": f"photo {name}", "image": {"$type": "blob", "ref": {"$link": f"bafk{name.split('.')[0]}"},
                                          "mimeType": "image/jpeg", "size": 1000}} for name in images]}
    if media:
        embed = {"$type": "app.bsky.embed.recordWithMedia", "record": {"record": {"uri": "at://x"}}, "media": embed}
    record = {"$type": "app.bsky.feed.post", "text": f"post {n}", "createdAt": "2026-03-01T00:00:00Z"}
    if images:
        record["embed"] = embed
    return {"did": DID, "time_us": 1_000_000 + n, "kind": "commit",
            "commit": {"rev": "r", "operation": "create", "collection": "app.bsky.feed.post", "rkey": f"rk{n}",
                       "record": record, "cid": "c"}}


EVENTS = [
    _post(1, ["recompressed.jpg", "lake.jpg"]),
    {"did": DID, "time_us": 1_000_002, "kind": "commit", "commit": {"operation": "create",
                                                                   "collection": "app.bsky.feed.like", "rkey": "l"}},
    "this is no JSON",
    _post(3, ["resized.jpg"]),
    _post(4, []),
    _post(5, ["cropped.jpg"], media=True),
    {"did": DID, "time_us": 1_000_006, "kind": "commit", "commit": {"operation": "delete",
                                                                   "collection": "app.bsky.feed.post", "rkey": "rk1"}},
    {"did": DID, "time_us": 1_000_007, "kind": "identity", "identity": {"handle": "alice.test"}},
    _post(8, ["mirrored.jpg"]),
    _post(9, ["banner.jpg"]),
    _post(10, ["grayscale.jpg"]),
]
IMAGE_POSTS = {1: ["recompressed.jpg", "lake.jpg"], 3: ["resized.jpg"], 5: ["cropped.jpg"], 8: ["mirrored.jpg"],
               9: ["banner.jpg"], 10: ["grayscale.jpg"]}


@pytest.fixture
def relay(tmp_path):
    site = demo_site.build_site(tmp_path / "site")
    cdn_root = tmp_path / "cdn" / "img" / "feed_fullsize" / "plain" / DID
    cdn_root.mkdir(parents=True)
    for image in (site / "img").iterdir():
        (cdn_root / f"bafk{image.stem}@jpeg").write_bytes(image.read_bytes())
    cdn, cdn_base = demo_site.serve(tmp_path / "cdn")
    cursors: list = []

    def stream(socket):
        cursor = parse_qs(urlsplit(socket.request.path).query).get("cursor", [None])[0]
        cursors.append(cursor)
        for event in EVENTS:
            if isinstance(event, dict) and cursor is not None and event["time_us"] < int(cursor):
                continue
            try:
                socket.send(event if isinstance(event, str) else json.dumps(event))
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
               "--jetstream", jetstream, "--cdn", cdn, "--allow-private", "--batch", "8", "--idle", "2",
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
    candidates = store.candidates()
    by_image = {}
    for c in candidates:
        by_image.setdefault(Path(urlsplit(c["image_url"]).path).name, []).append(c)
    expected = {f"bafk{Path(name).stem}@jpeg" for names in IMAGE_POSTS.values() for name in names}
    assert set(by_image) == expected
    assert all(len(rows) == 1 and rows[0]["state"] == "detected" for rows in by_image.values()), by_image
    found = {m["page_url"]: Path(urlsplit(m["image_url"]).path).name for m in store.matches()}
    assert found == {f"https://bsky.app/profile/{DID}/post/rk{n}": f"bafk{Path(names[0]).stem}@jpeg"
                     for n, names in IMAGE_POSTS.items() if n != 1} | {
        f"https://bsky.app/profile/{DID}/post/rk1": "bafkrecompressed@jpeg"}
    match = store.matches()[0]
    lead = store.lead(store.candidate(match["candidate_id"])["lead_id"])
    assert lead["found_by"] == "Bluesky Jetstream" and lead["provenance"]["uri"].startswith(f"at://{DID}/")
    store.close()


def test_only_created_posts_with_images_are_leads():
    leads = [lead for event in EVENTS if isinstance(event, dict) for lead in event_leads(event, "https://cdn.test")]
    assert [lead.provenance["uri"].rsplit("/", 1)[1] for lead in leads] == [
        "rk1", "rk1", "rk3", "rk5", "rk8", "rk9", "rk10"]
    assert leads[0].url == f"https://cdn.test/img/feed_fullsize/plain/{DID}/bafkrecompressed@jpeg"
