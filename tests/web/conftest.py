"""A real portal over a real workspace: two owners' works registered from the bundled demo photos,
transformed copies found by the real detector, API tokens, and uvicorn on 127.0.0.1 (port 0).

The workspace is built once per session, because registering and detecting take seconds; the shared
portal and each module's fresh portal serve copies of it. Tests that change the shared one's state
(reviews, uploads, revocations) use matches, works and tokens nobody else asserts on.
"""

from __future__ import annotations

import fcntl
import io
import json
import shutil
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from PIL import Image
from support import serving

from detector import config, demo_site, tokens
from detector.detect import Detector
from detector.evidence import profile
from detector.provenance import signing
from detector.register import WorkInfo, register_files
from detector.web import create_app
from detector.workspace import Workspace, create_workspace, open_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, utc_now

WORKS = demo_site.WORKS_DIR
MAX_BYTES = 400_000  # small, so the oversized-upload test sends little
PROFILE = {"legal_name": "Alice Example Photography Ltd", "address": "1 Lens Street, Camtown",
           "email": "alice@example.org", "signature": "/s/ Alice Example", "jurisdiction": "Germany"}

# (owner, work, transform, page) for every copy put on the "web"; the transforms are the demo site's.
COPIES = [
    ("alice", "astronaut.jpg", demo_site.recompressed, "https://blog.example.com/post/1"),
    ("alice", "chelsea.jpg", demo_site.in_banner, "https://shop.example.net/sale"),
    ("alice", "coffee.jpg", demo_site.cropped, "https://news.example.org/coffee"),
    ("alice", "astronaut.jpg", demo_site.captioned, "https://www.example.com/space"),
    ("bob", "rocket.jpg", demo_site.captioned, "https://rockets.example.io/launch"),
]

# Strings from the web are hostile: this page title must come out escaped, never as markup.
HOSTILE_TITLE = '<script>alert("pwned")</script><b>Coffee</b>'
TITLES = {1: "Summer sale: cat posters", 2: HOSTILE_TITLE}
FOUND_WHY = "new item '<img src=x onerror=alert(1)>'"


@dataclass
class Portal:
    url: str
    ws: Workspace
    settings: config.Settings
    tokens: dict[str, str]       # admin, alice, bob, revoked
    matches: dict[str, list[int]]  # owner -> match ids
    assets: dict[str, list[int]]   # owner -> asset ids
    max_bytes: int = MAX_BYTES
    hostile_title: str = HOSTILE_TITLE

    def client(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def store(self) -> closing[Store]:
        return closing(Store(self.ws.db_path))


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def _build(home: Path) -> tuple[Workspace, config.Settings, dict, dict, dict]:
    settings = config.Settings().with_embedder("none")
    settings = replace(settings, intake=replace(settings.intake, max_bytes=MAX_BYTES))
    ws, _ = create_workspace(home, settings)
    signing.ensure_keypair(ws)
    store = Store(ws.db_path)
    assets: dict[str, list[int]] = {}
    for owner, names in (("alice", ["astronaut.jpg", "chelsea.jpg", "coffee.jpg"]), ("bob", ["rocket.jpg"])):
        outcomes = register_files(ws, store, settings, None, [WORKS / n for n in names], WorkInfo(owner))
        assert [o.status for o in outcomes] == ["registered"] * len(names), outcomes
        assets[owner] = [o.asset_id for o in outcomes]
    profile.set_profile(store, "alice", **PROFILE)

    blobs = BlobStore(ws.blobs_dir)
    scan_id = store.start_scan({"targets": ["test"]})
    for i, (_, work, transform, page) in enumerate(COPIES):
        data = _jpeg(transform(Image.open(WORKS / work).convert("RGB")))
        store.add_candidate({
            "scan_id": scan_id, "target": "test", "page_url": page, "page_title": TITLES.get(i, f"Page {i}"),
            "alt_text": f"picture {i}", "image_url": f"{page}/img{i}.jpg", "discovered_at": utc_now(),
            "fetched_at": utc_now(), "http_status": 200, "sha256": blobs.put(data), "byte_size": len(data),
            "sniffed_format": "jpeg", "lead_url": page,
        })
    # How the hostile page was found: a feed lead whose words come from the web too.
    run_id = store.start_source_run("blogs", "feed", scan_id)
    store.add_lead(run_id, "blogs", {"url": COPIES[2][3], "kind": "page", "found_by": "feed https://blog.example/rss",
                                     "why": FOUND_WHY, "provenance": {}})
    store.link_leads(scan_id)
    summary = Detector(ws, store, settings, None).run()
    store.finish_scan(scan_id, "finished", summary.as_dict())
    matches = {owner: [m["id"] for m in store.matches("owners.name = ?", [owner])] for owner in ("alice", "bob")}
    assert len(matches["alice"]) == 4 and len(matches["bob"]) == 1, matches

    minted = {name: tokens.create_token(store, owner, label=name)[1]
              for name, owner in (("admin", None), ("alice", "alice"), ("bob", "bob"), ("revoked", "alice"))}
    store.revoke_api_token(tokens.authenticate(store, minted["revoked"]).token_id)
    store.close()
    return ws, settings, minted, matches, assets


CHROMIUM = Path("/usr/bin/chromium")
# Flags for a root user in a container with no GPU and no network beyond loopback.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


# Per module, not per session: while Playwright's sync API runs, asyncio.run() fails in this thread, and
# page screenshots (crawlers/screenshot.py) use it in other modules' tests.
@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright; tests that use it skip where it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def serve():
    """`with serve(app) as url:` a real server for an app of a test's own."""
    return serving


@pytest.fixture(scope="session")
def portal_template(tmp_path_factory, worker_id) -> tuple[Path, dict, dict, dict]:
    """(home, tokens, matches, assets) of the portal's workspace, built once; each portal serves a copy.

    Under pytest-xdist the workers share one build (registering and detecting are seconds of CPU each
    worker would spend again): the first to take the lock builds it in the run's common temporary folder,
    the others wait for it and read what it wrote beside it."""
    if worker_id == "master":
        ws, _settings, minted, matches, assets = _build(tmp_path_factory.mktemp("portal-template") / "ws")
        return ws.home, minted, matches, assets
    folder = tmp_path_factory.getbasetemp().parent / "portal-template"
    folder.mkdir(exist_ok=True)
    built = folder / "built.json"
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.exists():
            shutil.rmtree(folder / "ws", ignore_errors=True)  # what a worker that failed to build left
            ws, _settings, minted, matches, assets = _build(folder / "ws")
            built.write_text(json.dumps({"tokens": minted, "matches": matches, "assets": assets}))
    shared = json.loads(built.read_text())
    return folder / "ws", shared["tokens"], shared["matches"], shared["assets"]


@pytest.fixture(scope="session")
def portal(tmp_path_factory, portal_template) -> Portal:
    yield from serve_portal(portal_template, tmp_path_factory.mktemp("portal") / "ws")


@pytest.fixture(scope="module")
def fresh_portal(tmp_path_factory, portal_template) -> Portal:
    """A portal of its own for a module whose tests change what the shared one's tests assert on."""
    yield from serve_portal(portal_template, tmp_path_factory.mktemp("fresh-portal") / "ws")


def serve_portal(template: tuple[Path, dict, dict, dict], home: Path):
    built, minted, matches, assets = template
    ws = open_workspace(shutil.copytree(built, home))
    with serving(create_app(ws)) as url:
        yield Portal(url, ws, ws.settings(), minted, matches, assets)
