"""`python -m crawlers.screenshot`: the page where a copy appeared, as a visitor saw it.

Debian's Chromium, driven headless by Playwright, loads the match's page with the crawl's user
agent and a fixed viewport and takes a full-page screenshot (cut at report.max_screenshot_height).
One browser serves every page of a run (starting Chromium costs seconds; a page costs far less),
each page in a fresh browser context, so no cookie, storage or cache passes from one page to the
next, and report.screenshot_concurrency pages at a time.
The PNG goes to the blob store and into a WARC file of its own as a `resource` record (with its
own block digest), followed by a `metadata` record naming the viewport, user agent, browser and
time; the screenshots table points at both.

It runs after detection, for matches only (see detector/screenshots.py for why), but it is web
capture, so it lives with the crawlers and keeps their SSRF rule: every request the browser
makes, the page's own and each image, script, frame and redirect hop, is refused when its host
is or resolves to a non-public address, unless the match's target allows private addresses.
Service workers and WebSockets are refused outright (they would bypass the per-request check).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import ipaddress
import json
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from warcio.warcwriter import WARCWriter

from crawlers.addresses import non_public_kind
from detector.config import Settings
from detector.errors import CopyhoundError
from detector.workspace import Workspace, open_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, open_store, utc_now

CHROMIUM = Path("/usr/bin/chromium")
# Headless in a container: no GPU, no QUIC (its UDP would skip the request check), no calls home.
_FLAGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--disable-default-apps"]


class ScreenshotRefused(CopyhoundError):
    """The page cannot be shot: its address is off-limits, it is not http(s), or it did not load."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        super().__init__(detail)


@dataclass
class Shot:
    png: bytes
    final_url: str
    taken_at: str
    width: int
    height: int
    cut: bool
    browser: str
    blocked: list[str] = field(default_factory=list)


class AddressGuard:
    """The crawl's SSRF rule for a browser: decides per URL, remembering each host's answer."""

    def __init__(self, allow_private: bool):
        self.allow_private = allow_private
        self._answers: dict[str, str | None] = {}
        self.blocked: list[str] = []

    def refusal(self, url: str) -> str | None:
        """Why `url` must not be fetched, or None when it may."""
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return None  # served by the browser itself, no network
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"{url[:200]}: not an http(s) URL"
        if self.allow_private:
            return None
        host = parts.hostname
        if host not in self._answers:
            self._answers[host] = self._judge(host, parts.port or (443 if parts.scheme == "https" else 80))
        return self._answers[host] and f"{url[:200]}: {self._answers[host]}"

    @staticmethod
    def _judge(host: str, port: int) -> str | None:
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
            except OSError:
                return f"host {host} does not resolve"
        for address in addresses:
            kind = non_public_kind(address)
            if kind:
                return f"host {host} is or resolves to {address}, a {kind} address"
        return None


@dataclass(frozen=True)
class Page:
    """One page to shoot, and whether its target allows private addresses."""

    url: str
    allow_private: bool = False


@dataclass(frozen=True)
class Capture:
    """How every page of a run is shot."""

    viewport: tuple[int, int]
    user_agent: str
    timeout: float
    max_height: int
    concurrency: int = 4


def take_all(pages: list[Page], capture: Capture, on_done: Callable[[int, Shot | ScreenshotRefused], None]) -> int:
    """Shoot `pages` in one headless Chromium, each in a fresh browser context (its own cookies,
    storage and cache), `capture.concurrency` at a time; `on_done(position, shot or refusal)` is
    called as each page ends, in the order they end. One page failing or hanging fails alone; a
    browser that crashes is launched again once for the pages left. Returns the browsers launched."""
    if not pages:
        return 0
    if not CHROMIUM.exists():
        missing = ScreenshotRefused("no_browser", f"No browser at {CHROMIUM}: install Debian's chromium "
                                                  "(`apt-get install chromium`) to take page screenshots.")
        for position in range(len(pages)):
            on_done(position, missing)
        return 0
    return asyncio.run(_take_all(pages, capture, on_done))


async def _take_all(pages: list[Page], capture: Capture, on_done) -> int:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = _Browser(playwright)
        gate = asyncio.Semaphore(max(1, capture.concurrency))

        async def one(position: int, page: Page) -> None:
            async with gate:
                try:
                    # A backstop past the per-step timeouts: a renderer stuck in a script can
                    # leave a step waiting on a browser that no longer answers it.
                    result = await asyncio.wait_for(_take(browser, page, capture), 3 * capture.timeout + 10)
                except ScreenshotRefused as refusal:
                    result = refusal
                except TimeoutError:
                    result = ScreenshotRefused("timeout", f"{page.url[:200]}: the page did not finish within "
                                                          f"{3 * capture.timeout + 10:.0f} s; no screenshot.")
            on_done(position, result)

        try:
            await asyncio.gather(*(one(position, page) for position, page in enumerate(pages)))
        finally:
            await browser.close()
        return browser.launches


class _Browser:
    """The run's Chromium, launched on first use and once more if it dies (then pages fail)."""

    def __init__(self, playwright, relaunches: int = 1):
        self._playwright = playwright
        self._browser = None
        self._lock = asyncio.Lock()
        self._relaunches = relaunches
        self.launches = 0

    async def current(self):
        async with self._lock:
            if self._browser is None or not self._browser.is_connected():
                if self.launches > self._relaunches:
                    raise ScreenshotRefused("browser_crashed", f"The browser crashed {self.launches} times; "
                                                               "no screenshot. Take it later with `copyhound screenshot MATCH`.")
                # Chromium's sandbox cannot start as root; everywhere else the hostile page stays sandboxed.
                flags = _FLAGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
                self._browser = await self._playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=flags)
                self.launches += 1
            return self._browser

    def alive(self) -> bool:
        return self._browser is not None and self._browser.is_connected()

    async def close(self) -> None:
        if self.alive():
            await self._browser.close()


async def _take(browser: _Browser, page_to_shoot: Page, capture: Capture) -> Shot:
    """Load one page in a fresh context of the run's browser and screenshot it whole."""
    from playwright.async_api import Error as PlaywrightError

    url = page_to_shoot.url
    guard = AddressGuard(page_to_shoot.allow_private)
    refused = guard.refusal(url)
    if refused:
        raise ScreenshotRefused("private_address" if "address" in refused else "bad_url",
                                f"{refused}; no screenshot taken. If the target is yours, allow private addresses on it.")

    async def route(request_route) -> None:
        why = guard.refusal(request_route.request.url)
        if why:
            guard.blocked.append(why)
            await request_route.abort("blockedbyclient")
        else:
            await request_route.continue_()

    async def refuse_socket(socket_route) -> None:
        await socket_route.close()

    chromium = await browser.current()
    width, height = capture.viewport
    try:
        context = await chromium.new_context(viewport={"width": width, "height": height},
                                             user_agent=capture.user_agent, service_workers="block",
                                             accept_downloads=False)
    except PlaywrightError as e:
        raise ScreenshotRefused("browser_crashed", f"{url[:200]}: the browser did not open a page "
                                                   f"({str(e).splitlines()[0]}); no screenshot.") from e
    try:
        context.set_default_timeout(capture.timeout * 1000)
        await context.route("**/*", route)
        await context.route_web_socket("**/*", refuse_socket)
        page = await context.new_page()
        try:
            response = await page.goto(url, wait_until="load", timeout=capture.timeout * 1000)
        except PlaywrightError as e:
            reason = "private_address" if guard.blocked else "load_failed" if browser.alive() else "browser_crashed"
            detail = guard.blocked[0] if guard.blocked else str(e).splitlines()[0]
            raise ScreenshotRefused(reason, f"{url[:200]}: the page did not load ({detail}).") from e
        if response is None or response.status >= 400:
            status = response.status if response is not None else "no response"
            raise ScreenshotRefused("http_error", f"{url[:200]}: the page answered HTTP {status}; no screenshot.")
        try:
            full_height = int(await page.evaluate("Math.max(document.documentElement.scrollHeight, document.body ? "
                                                  "document.body.scrollHeight : 0)"))
            shot_height = max(height, min(full_height, capture.max_height))
            taken_at = utc_now()
            png = await page.screenshot(full_page=True, clip={"x": 0, "y": 0, "width": width, "height": shot_height},
                                        type="png")
        except PlaywrightError as e:
            reason = "shot_failed" if browser.alive() else "browser_crashed"
            raise ScreenshotRefused(reason, f"{url[:200]}: the page loaded but could not be shot "
                                            f"({str(e).splitlines()[0]}).") from e
        return Shot(png, page.url, taken_at, width, shot_height, full_height > capture.max_height,
                    f"Chromium {chromium.version}", guard.blocked)
    finally:
        if browser.alive():
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await asyncio.wait_for(context.close(), capture.timeout)


def write_warc(path: Path, page_url: str, shot: Shot, user_agent: str, viewport: tuple[int, int]) -> tuple[int, str, str]:
    """Append the screenshot's resource record and its metadata record to the WARC at `path`
    (a warcinfo record first when the file is new); returns (offset, record id, block digest)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists()
    with path.open("ab") as handle:
        writer = WARCWriter(handle, gzip=True)
        if fresh:
            writer.write_record(writer.create_warcinfo_record(path.name, {
                "software": "copyhound crawlers.screenshot", "format": "WARC File Format 1.0",
                "description": "Screenshots of pages where copies of registered works appeared"}))
        # urn:view: is how browsertrix-crawler names a page's screenshot, so replay tools keep it
        # apart from the page itself.
        resource = writer.create_warc_record(
            f"urn:view:{page_url}", "resource", payload=io.BytesIO(shot.png), length=len(shot.png),
            warc_content_type="image/png", warc_headers_dict={"WARC-Date": shot.taken_at})
        offset = handle.tell()
        writer.write_record(resource)
        record_id = resource.rec_headers.get_header("WARC-Record-ID")
        fields = {"page-url": page_url, "final-url": shot.final_url, "taken-at": shot.taken_at,
                  "viewport": f"{viewport[0]}x{viewport[1]}", "user-agent": user_agent, "browser": shot.browser,
                  "screenshot-size": f"{shot.width}x{shot.height}", "cut-at-max-height": str(shot.cut).lower()}
        body = "".join(f"{k}: {' '.join(str(v).split())}\r\n" for k, v in fields.items()).encode("utf-8")
        metadata = writer.create_warc_record(
            f"urn:view:{page_url}", "metadata", payload=io.BytesIO(body), length=len(body),
            warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Date": shot.taken_at, "WARC-Concurrent-To": record_id})
        writer.write_record(metadata)
    return offset, record_id, resource.rec_headers.get_header("WARC-Block-Digest")


def shoot_matches(ws: Workspace, store: Store, settings: Settings, match_ids: list[int], allow_private: set[int],
                  warc_path: Path) -> list[dict]:
    """Screenshot the pages of `match_ids` in one browser and record each attempt (taken, refused
    or failed, with its reason) as its page ends; returns the screenshots rows in `match_ids` order.

    A page is shot once however many of the matches are on it (a gallery page can carry dozens): its
    matches share the one capture, WARC record and PNG, each with its own screenshots row.
    """
    report = settings.report
    capture = Capture(viewport=(report.viewport[0], report.viewport[1]), user_agent=settings.crawl.user_agent,
                      timeout=report.screenshot_timeout, max_height=report.max_screenshot_height,
                      concurrency=report.screenshot_concurrency)
    # Keyed by the private-address permission too, so sharing a shot never widens what a match allows.
    pages: dict[tuple[str, bool], list[int]] = {}
    for position, match_id in enumerate(match_ids):
        page_url = store.screenshot_subject(match_id)["page_url"]
        pages.setdefault((page_url, match_id in allow_private), []).append(position)
    keys = list(pages)
    rows: dict[int, dict] = {}

    def record(page: int, result: Shot | ScreenshotRefused) -> None:
        page_url = keys[page][0]
        fields = _capture_fields(ws, capture, page_url, result, warc_path)
        for position in pages[keys[page]]:
            row = {"match_id": match_ids[position], **fields}
            row["id"] = store.add_screenshot(row)
            rows[position] = row

    take_all([Page(page_url, allowed) for page_url, allowed in keys], capture, record)
    return [rows[position] for position in range(len(match_ids))]


def _capture_fields(ws: Workspace, capture: Capture, page_url: str, result: Shot | ScreenshotRefused,
                    warc_path: Path) -> dict:
    """A screenshots row without its match: the attempt's outcome, and for a shot its WARC record
    (written here, once) and stored PNG."""
    viewport = capture.viewport
    row = {"page_url": page_url, "viewport_width": viewport[0], "viewport_height": viewport[1],
           "user_agent": capture.user_agent}
    if isinstance(result, ScreenshotRefused):
        row.update(status="refused" if result.reason in ("private_address", "bad_url") else "failed",
                   detail=f"{result.reason}: {result}", taken_at=utc_now())
    else:
        offset, record_id, digest = write_warc(warc_path, page_url, result, capture.user_agent, viewport)
        row.update(status="taken", final_url=result.final_url, taken_at=result.taken_at, browser=result.browser,
                   sha256=BlobStore(ws.blobs_dir).put(result.png), byte_size=len(result.png),
                   width=result.width, height=result.height, cut=int(result.cut),
                   warc_file=warc_path.relative_to(ws.home).as_posix(), warc_offset=offset, warc_record_id=record_id,
                   warc_digest=digest,
                   detail=("blocked: " + "; ".join(result.blocked[:5])) if result.blocked else None)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawlers.screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, type=Path, help="The workspace folder.")
    parser.add_argument("--match", type=int, action="append", required=True, help="A match id (repeatable).")
    parser.add_argument("--allow-private", type=int, action="append", default=[],
                        help="A match id whose page may be on a private address (its target allows it).")
    args = parser.parse_args(argv)
    home = args.home.resolve()
    try:
        ws = open_workspace(home)
        settings = ws.settings()
        store = open_store(ws)
        warc_path = ws.warc_dir / f"screenshots-{utc_now().replace(':', '').replace('-', '')}-{socket.gethostname()}-{os.getpid()}.warc.gz"
        rows = shoot_matches(ws, store, settings, args.match, set(args.allow_private), warc_path)
    except CopyhoundError as e:
        print(f"screenshot: {e}", file=sys.stderr)
        return e.exit_code
    print(json.dumps([{k: r.get(k) for k in ("id", "match_id", "status", "detail")} for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
