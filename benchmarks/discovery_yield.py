"""Discovery's yield: copies found per provider query and per fetched page, on a local web of many sites.

    python -m benchmarks.discovery_yield [--sites 24] [--pages 10] [--seed 7] [--out FILE]

A loopback "web": `--sites` sites (each its own server), `--pages` pages a site, two images a page; every
third site hides one copy of a work on one page. Each site has an image sitemap. Three sources run
against it, in process, through their real code and clients: `feed` on every site's sitemap, `common_crawl`
against a loopback CDX API and WARC archive holding every page's capture, and `tineye` (its REST search
format) for every work, answering the true page of a copy among irrelevant results, dead links and
results repeated across works. Counted, per source: the requests the source spent (budget), the leads it
handed on, the requests the crawler would make for them (a page lead: the page and its images; an image
lead: the image), and the copies among the leads (ground truth: the copies' pages and image URLs).
Detection is not run: its recall is measured by the quality part; this measures where leads come from.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from PIL import Image
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from detector import config, demo_site
from detector.sources import build
from detector.sources.base import Budget
from detector.sources.reverse_search import ReverseSearchSource

KEY = "bench-key"
COLLECTION = "CC-MAIN-2026-05"
WARC = f"crawl-data/{COLLECTION}/warc/bench.warc.gz"


def _jpeg(seed: int, size: int = 160) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(12):
        x, y = rng.randrange(size), rng.randrange(size)
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + size // 4, y + size // 4))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


class Web:
    """The sites, the works, and where each copy is."""

    def __init__(self, root: Path, sites: int, pages: int):
        self.works = {f"work{k}.jpg": _jpeg(10_000 + k) for k in range(sites // 3 + 4)}
        self.servers, self.bases, self.copy_pages, self.copy_images, self.pages = [], [], {}, set(), []
        for s in range(sites):
            folder = root / f"site{s}"
            (folder / "img").mkdir(parents=True)
            server, base = demo_site.serve(folder)
            self.servers.append(server)
            self.bases.append(base)
            entries = []
            for p in range(pages):
                images = [f"img/p{p}-{i}.jpg" for i in range(2)]
                for i, name in enumerate(images):
                    (folder / name).write_bytes(_jpeg(s * 1000 + p * 10 + i))
                if s % 3 == 0 and p == pages - 3:  # the hidden copy
                    work = f"work{s // 3}.jpg"
                    (folder / images[0]).write_bytes(self.works[work])
                    self.copy_pages[f"{base}p{p}.html"] = work
                    self.copy_images.add(f"{base}{images[0]}")
                html = ("<html><head><title>Page</title></head><body>"
                        + "".join(f"<img src='{name}'>" for name in images) + "</body></html>").encode()
                (folder / f"p{p}.html").write_bytes(html)
                self.pages.append((f"{base}p{p}.html", html))
                entries.append(f"<url><loc>{base}p{p}.html</loc>"
                               + "".join(f"<image:image><image:loc>{base}{n}</image:loc></image:image>" for n in images)
                               + "</url>")
            (folder / "sitemap.xml").write_text(
                "<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9' "
                "xmlns:image='http://www.google.com/schemas/sitemap-image/1.1'>" + "".join(entries) + "</urlset>",
                encoding="utf-8")

    def is_copy(self, url: str) -> bool:
        return url in self.copy_pages or url in self.copy_images

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()


class Providers:
    """A loopback CDX API and WARC archive of every page, and TinEye's REST search."""

    def __init__(self, web: Web):
        self.web, self.spans, out = web, {}, io.BytesIO()
        writer = WARCWriter(out, gzip=True)
        for url, html in web.pages:
            start = out.tell()
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(html),
                                                          http_headers=headers))
            self.spans[url] = (start, out.tell() - start)
        self.warc = out.getvalue()
        by_page = {}
        for page, work in web.copy_pages.items():
            by_page.setdefault(work, []).append(page)
        self.true_pages = by_page

    def tineye(self, body: bytes) -> bytes:
        work = next((name for name, data in self.web.works.items() if data in body), None)
        pages = self.true_pages.get(work, [])
        other = self.web.bases[sorted(self.web.works).index(work) % len(self.web.bases)]
        matches = [{"image_url": page.replace(".html", "-0.jpg"), "score": 90.0,
                    "backlinks": [{"url": next(i for i in self.web.copy_images if i.startswith(page.rsplit("/", 1)[0])),
                                   "backlink": page}]} for page in pages]
        matches += [  # an irrelevant page, a dead link, and a result every work gets (duplicates across queries)
            {"image_url": f"{other}img/p0-1.jpg", "score": 12.0, "backlinks": [{"backlink": f"{other}p0.html"}]},
            {"image_url": f"{other}img/gone.jpg", "score": 11.0, "backlinks": [{"backlink": f"{other}gone.html"}]},
            {"image_url": f"{self.web.bases[0]}img/p1-0.jpg", "score": 10.0,
             "backlinks": [{"backlink": f"{self.web.bases[0]}p1.html"}]}]
        return json.dumps({"code": 200, "messages": [], "results": {"matches": matches}}).encode()

    def cdx(self, query: dict) -> tuple[int, bytes]:
        prefix = query["url"][0].rstrip("*")
        lines = [json.dumps({"url": url, "timestamp": "20260201000000", "mime": "text/html", "status": "200",
                             "filename": WARC, "offset": str(self.spans[url][0]), "length": str(self.spans[url][1])})
                 for url, _ in self.web.pages if url.startswith(prefix)]
        if query.get("showNumPages"):
            return 200, json.dumps({"pages": 1 if lines else 0}).encode()
        return 200, "\n".join(lines).encode()

    def serve(self) -> ThreadingHTTPServer:
        providers = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path.endswith("-index"):
                    self._send(*providers.cdx(parse_qs(parts.query)))
                elif parts.path == "/" + WARC:
                    first, last = (int(x) for x in self.headers["Range"].split("=")[1].split("-"))
                    self._send(206, providers.warc[first:last + 1],
                               {"Content-Range": f"bytes {first}-{last}/{len(providers.warc)}"})
                else:
                    self._send(404, b"")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._send(200, providers.tineye(body), {"Content-Type": "application/json"})

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def _row(name: str, source, web: Web) -> dict:
    budget = Budget(None)
    leads = list(source.leads({}, budget))
    leads = list({lead.url: lead for lead in leads if lead.problem() is None}.values())
    found = {lead.url for lead in leads if web.is_copy(lead.url)}
    copies = len({web.copy_pages.get(url) or url for url in found})
    fetches = sum(3 if lead.kind == "page" else 1 for lead in leads)  # a page and its two images; an image
    return {"source": name, "requests": budget.used, "leads": len(leads), "fetches": fetches,
            "copies_found": copies, "copies_hidden": len(web.copy_pages),
            "copies_per_request": round(copies / budget.used, 3) if budget.used else None,
            "copies_per_fetch": round(copies / fetches, 3) if fetches else None,
            "problems": len(getattr(source, "problems", []))}


def run(workdir: Path, sites: int, pages: int) -> dict:
    web = Web(workdir / "web", sites, pages)
    providers = Providers(web)
    server = providers.serve()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        feed = build(config.SourceConfig(name="sitemaps", type="feed", allow_private=True,
                                         urls=tuple(f"{b}sitemap.xml" for b in web.bases)))
        crawl = build(config.SourceConfig(name="cc", type="common_crawl", allow_private=True, endpoint=endpoint,
                                          archive_endpoint=endpoint, collections=(COLLECTION,),
                                          urls=tuple(f"{b}*" for b in web.bases)))
        works = [({"id": i, "filename": name, "sha256": str(i)}, data) for i, (name, data) in enumerate(web.works.items())]
        tineye = ReverseSearchSource(config.SourceConfig(name="tineye", type="tineye", allow_private=True,
                                                         endpoint=f"{endpoint}/rest/", api_key=KEY, cadence_days=0),
                                     works=lambda: works)
        rows = [_row("feed (image sitemaps)", feed, web), _row("common_crawl", crawl, web), _row("tineye", tineye, web)]
    finally:
        server.shutdown()
        web.close()
    return {"sites": sites, "pages_per_site": pages, "works": len(web.works), "rows": rows,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M")}


def render(part: dict) -> list[str]:
    lines = [(f"Yield on a local web of {part['sites']} sites x {part['pages_per_site']} pages (two images a page; "
              f"one copy hidden on every third site; {part['works']} works asked of TinEye), "
              f"`benchmarks/discovery_yield.py`, {part['date']} (UTC). Requests: what the source spent; fetches: "
              "what the crawler would fetch for its leads (a page and its two images, or an image)."), "",
             ("| source | requests | leads | fetches | copies found | copies per request | copies per fetch | "
             "problems recorded |"), "|---|---|---|---|---|---|---|---|"]
    for r in part["rows"]:
        lines.append(f"| {r['source']} | {r['requests']} | {r['leads']} | {r['fetches']} | {r['copies_found']} of "
                     f"{r['copies_hidden']} | {r['copies_per_request']} | {r['copies_per_fetch']} | {r['problems']} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=24)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    part = run(args.workdir, args.sites, args.pages)
    text = json.dumps(part, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    print("\n".join(render(part)))


if __name__ == "__main__":
    main()
