"""The bundled demo: a small website whose pages use transformed copies of the demo works.

Each page shows one copy made the way copies are made on the web (recompressed, resized,
cropped, captioned, mirrored, pasted into a banner, turned grayscale) next to unrelated photos,
one of which is a second photo of the same scene as a registered work. One page credits its copy as
licensed from a stock agency the demo photographer lists (`CREDIT_LINES`): it is found, and held for review. `make demo` and the
end-to-end tests build the same site; the expected outcome is in `EXPECTED`.
"""

from __future__ import annotations

import html
import io
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

ASSETS = Path(str(resources.files("detector") / "demo_assets"))
WORKS_DIR = ASSETS / "works"
OTHERS_DIR = ASSETS / "others"


def _open(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")


def recompressed(im: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=25)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def resized(im: Image.Image) -> Image.Image:
    return im.resize((im.width // 2, im.height // 2), Image.LANCZOS)


def cropped(im: Image.Image) -> Image.Image:
    """Keeps about 60% of the area, off-centre, the way a layout crops a photo."""
    w, h = im.size
    return im.crop((int(w * 0.05), int(h * 0.15), int(w * 0.80), int(h * 0.95)))


def captioned(im: Image.Image, text: str = "Photo: our newsroom") -> Image.Image:
    band = max(24, im.height // 8)
    out = Image.new("RGB", (im.width, im.height + band), "black")
    out.paste(im, (0, 0))
    ImageDraw.Draw(out).text((10, im.height + band // 4), text, fill="white")
    return out


def mirrored(im: Image.Image) -> Image.Image:
    return ImageOps.mirror(im)


def in_banner(im: Image.Image) -> Image.Image:
    """The work at 60% size inside a wide promotional banner with text and shapes."""
    banner = Image.new("RGB", (1200, 500), (236, 240, 245))
    draw = ImageDraw.Draw(banner)
    draw.rectangle((0, 0, 1200, 60), fill=(30, 60, 120))
    draw.text((20, 20), "SUMMER SALE - everything must go", fill="white")
    for i in range(6):
        draw.ellipse((700 + i * 70, 200, 750 + i * 70, 250), fill=(200, 80 + i * 20, 60))
    small = im.resize((int(im.width * 0.6), int(im.height * 0.6)), Image.LANCZOS)
    banner.paste(small, (60, 90))
    return banner


def grayscale(im: Image.Image) -> Image.Image:
    return ImageOps.grayscale(im).convert("RGB")


#: (page slug, work file, transform) for every copy on the demo site.
COPIES = [
    ("recompressed", "astronaut.jpg", recompressed),
    ("resized", "chelsea.jpg", resized),
    ("cropped", "coffee.jpg", cropped),
    ("captioned", "rocket.jpg", captioned),
    ("mirrored", "motorcycle_left.jpg", mirrored),
    ("banner", "fruits.jpg", in_banner),
    ("grayscale", "building.jpg", grayscale),
    ("credited", "castle.jpg", recompressed),
]
#: Pages that credit their copy as a licensed use: the licence check holds these for review (docs/enforcement.md).
CREDIT_LINES = {"credited": "Photo: Demo Photographer / Example Stock, used under licence"}
#: The stock agency the demo photographer lists as licensing their works.
DEMO_AGENCY = "Example Stock"
#: Unrelated photos shown on the pages; basketball-court1-b is the same court as a registered work.
OTHERS = ["basketball-court1-b.jpg", "lake.jpg", "baboon.jpg", "village.jpg"]
#: What a correct scan finds: copy file name on the site -> registered work file name.
EXPECTED = {f"{slug}.jpg": work for slug, work, _ in COPIES}


def build_site(root: Path) -> Path:
    """Write the demo website (index, one page per copy, images) into `root`."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    links = []
    for i, (slug, work, transform) in enumerate(COPIES):
        transform(_open(WORKS_DIR / work)).save(root / "img" / f"{slug}.jpg", quality=88)
        other = OTHERS[i % len(OTHERS)]
        page = (
            f"<!doctype html><html><head><title>Blog post: {html.escape(slug)}</title></head><body>"
            f"<h1>Post about {html.escape(slug)}</h1>"
            f"<figure><img src='img/{slug}.jpg' alt='{html.escape(slug)} picture'>"
            f"<figcaption>{html.escape(CREDIT_LINES.get(slug, f'A {slug} picture'))}</figcaption></figure>"
            f"<p>Some text.</p><img src='img/{other}' alt='unrelated'>"
            "<p><a href='index.html'>home</a></p></body></html>"
        )
        (root / f"{slug}.html").write_text(page, encoding="utf-8")
        links.append(f"<li><a href='{slug}.html'>{html.escape(slug)}</a></li>")
    for other in OTHERS:
        _open(OTHERS_DIR / other).save(root / "img" / other, quality=88)
    (root / "index.html").write_text(
        "<!doctype html><html><head><title>Demo blog</title></head><body><h1>Demo blog</h1>"
        f"<ul>{''.join(links)}</ul></body></html>",
        encoding="utf-8",
    )
    return root


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the demo's output readable
        pass


def serve(root: Path) -> tuple[ThreadingHTTPServer, str]:
    """Serve `root` on 127.0.0.1 at a free port in a daemon thread; returns (server, base URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"
