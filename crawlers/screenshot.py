"""`python -m crawlers.screenshot`: the page where a copy appeared, as a visitor saw it.

Debian's Chromium, driven headless by Playwright, loads the match's page with the crawl's user
agent and a fixed viewport and takes a full-page screenshot (cut at report.max_screenshot_height).
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
import io
import ipaddress
import json
import os
import socket
import sys
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


def take(url: str, *, viewport: tuple[int, int], user_agent: str, timeout: float, max_height: int,
         allow_private: bool) -> Shot:
    """Load `url` in headless Chromium and screenshot the whole page (ScreenshotRefused if it cannot)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    guard = AddressGuard(allow_private)
    refused = guard.refusal(url)
    if refused:
        raise ScreenshotRefused("private_address" if "address" in refused else "bad_url",
                                f"{refused}; no screenshot taken. If the target is yours, allow private addresses on it.")
    if not CHROMIUM.exists():
        raise ScreenshotRefused("no_browser", f"No browser at {CHROMIUM}: install Debian's chromium "
                                              "(`apt-get install chromium`) to take page screenshots.")

    def route(request_route) -> None:
        why = guard.refusal(request_route.request.url)
        if why:
            guard.blocked.append(why)
            request_route.abort("blockedbyclient")
        else:
            request_route.continue_()

    # Chromium's sandbox cannot start as root; everywhere else the hostile page stays sandboxed.
    flags = _FLAGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=flags)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, user_agent=user_agent,
                                          service_workers="block", accept_downloads=False)
            context.route("**/*", route)
            context.route_web_socket("**/*", lambda socket_route: socket_route.close())
            page = context.new_page()
            try:
                response = page.goto(url, wait_until="load", timeout=timeout * 1000)
            except PlaywrightError as e:
                reason = "private_address" if guard.blocked else "load_failed"
                detail = guard.blocked[0] if guard.blocked else str(e).splitlines()[0]
                raise ScreenshotRefused(reason, f"{url[:200]}: the page did not load ({detail}).") from e
            if response is None or response.status >= 400:
                status = response.status if response is not None else "no response"
                raise ScreenshotRefused("http_error", f"{url[:200]}: the page answered HTTP {status}; no screenshot.")
            full_height = int(page.evaluate("Math.max(document.documentElement.scrollHeight, document.body ? "
                                            "document.body.scrollHeight : 0)"))
            height = max(viewport[1], min(full_height, max_height))
            taken_at = utc_now()
            png = page.screenshot(full_page=True, clip={"x": 0, "y": 0, "width": viewport[0], "height": height},
                                  type="png")
            return Shot(png, page.url, taken_at, viewport[0], height, full_height > max_height,
                        f"Chromium {browser.version}", guard.blocked)
        finally:
            browser.close()


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


def shoot_match(ws: Workspace, store: Store, settings: Settings, match_id: int, allow_private: bool,
                warc_path: Path) -> dict:
    """Screenshot match `match_id`'s page and record the attempt; returns the screenshots row."""
    subject = store.screenshot_subject(match_id)
    report = settings.report
    viewport = (report.viewport[0], report.viewport[1])
    user_agent = settings.crawl.user_agent
    row = {"match_id": match_id, "page_url": subject["page_url"], "viewport_width": viewport[0],
           "viewport_height": viewport[1], "user_agent": user_agent}
    try:
        shot = take(subject["page_url"], viewport=viewport, user_agent=user_agent, timeout=report.screenshot_timeout,
                    max_height=report.max_screenshot_height, allow_private=allow_private)
    except ScreenshotRefused as e:
        row.update(status="refused" if e.reason in ("private_address", "bad_url") else "failed",
                   detail=f"{e.reason}: {e}", taken_at=utc_now())
    else:
        offset, record_id, digest = write_warc(warc_path, subject["page_url"], shot, user_agent, viewport)
        row.update(status="taken", final_url=shot.final_url, taken_at=shot.taken_at, browser=shot.browser,
                   sha256=BlobStore(ws.blobs_dir).put(shot.png), byte_size=len(shot.png),
                   width=shot.width, height=shot.height, cut=int(shot.cut),
                   warc_file=warc_path.relative_to(ws.home).as_posix(), warc_offset=offset, warc_record_id=record_id,
                   warc_digest=digest,
                   detail=("blocked: " + "; ".join(shot.blocked[:5])) if shot.blocked else None)
    row["id"] = store.add_screenshot(row)
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
        rows = [shoot_match(ws, store, settings, match_id, match_id in args.allow_private, warc_path)
                for match_id in args.match]
    except CopyhoundError as e:
        print(f"screenshot: {e}", file=sys.stderr)
        return e.exit_code
    print(json.dumps([{k: r.get(k) for k in ("id", "match_id", "status", "detail")} for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
