"""A real workspace holding one owner, one registered work and one match of a copy found on a page.

Shared by the evidence tests (report, notices, offers, bundle). The work is a bundled demo photo
re-saved with EXIF creator and copyright; the copy is a scaled crop pasted into a larger canvas
(a screenshot-like layout) without metadata, so the matched region and the stripped rights are
known exactly. The page and image are written to a real gzipped WARC with warcio.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from detector.config import Settings
from detector.intake import decode_image
from detector.provenance import ledger, signing
from detector.workspace import Workspace, create_workspace, open_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, open_store

DEMO = Path(__file__).resolve().parents[2] / "detector" / "demo_assets" / "works"
PAGE_URL = "https://shop.example.com/products/mug?id=1&ref=a"
IMAGE_URL = "https://cdn.example.com/img/mug.jpg"
FINAL_URL = "https://cdn2.example.com/img/mug.jpg"
SCALE, OFFSET = 0.5, (40, 30)
PROFILE = {"legal_name": "Alice Example Photography Ltd", "address": "1 Lens Street\nCamtown 12345",
           "email": "alice@example.org", "phone": "+1 555 0100", "signature": "/s/ Alice Example",
           "jurisdiction": "Germany"}


@dataclass
class Env:
    ws: Workspace
    store: Store
    settings: Settings
    match_id: int
    asset_id: int
    candidate_id: int
    work_bytes: bytes
    copy_bytes: bytes


def work_jpeg(name: str = "castle.jpg") -> bytes:
    image = Image.open(DEMO / name)
    exif = Image.Exif()
    exif[0x013B] = "Alice Example"
    exif[0x8298] = "(c) 2024 Alice Example Photography Ltd"
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def copy_jpeg(work: bytes, grey: bool = False) -> bytes:
    """The work scaled by SCALE and pasted at OFFSET into a grey 400x300 canvas, no metadata (`grey`: in
    black and white)."""
    image = Image.open(io.BytesIO(work)).convert("L" if grey else "RGB").convert("RGB")
    small = image.resize((round(image.width * SCALE), round(image.height * SCALE)), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (400, 300), (128, 128, 128))
    canvas.paste(small, OFFSET)
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=85)
    return out.getvalue()


def write_warc(path: Path, page_html: bytes, image: bytes) -> tuple[int, int]:
    """A gzipped WARC with the page's and the image's response records; returns their offsets."""
    offsets = []
    with path.open("wb") as f:
        writer = WARCWriter(f, gzip=True)
        for url, ctype, body in ((PAGE_URL, "text/html; charset=utf-8", page_html), (FINAL_URL, "image/jpeg", image)):
            offsets.append(f.tell())
            headers = StatusAndHeaders("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))],
                                       protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers,
                                               warc_headers_dict={"WARC-Date": "2025-03-01T10:00:00Z"})
            writer.write_record(record)
    return offsets[0], offsets[1]


def build_env(tmp_path: Path, *, page_title: str = "Mugs with castles", signals: dict | None = None,
              decision: str = "match", status: str = "new", profile: dict | None = None,
              settings: Settings | None = None, declared: tuple[int, int] | None = (400, 300),
              grey_copy: bool = False) -> Env:
    settings = settings or Settings()
    ws, _ = create_workspace(tmp_path / "ws", settings)
    signing.ensure_keypair(ws)
    store = open_store(ws)  # the SQLite file, or the PostgreSQL database settings.store.url names
    owner = store.ensure_owner("alice")
    store.update_owner(owner["id"], **(PROFILE if profile is None else profile))
    blobs = BlobStore(ws.blobs_dir)
    work = work_jpeg()
    copy = copy_jpeg(work, grey_copy)
    blobs.put(work)
    blobs.put(copy)
    decoded = decode_image(work, "castle.jpg", settings.intake)
    asset_id = store.add_asset({
        "owner_id": owner["id"], "sha256": blobs.put(work), "filename": "castle.jpg", "title": "Castle at dusk",
        "creator": "Alice Example", "license_url": "https://alice.example.org/licence",
        "width": decoded.width, "height": decoded.height, "format": decoded.format, "frames": decoded.frames,
        "byte_size": len(work), "rights": decoded.rights.as_dict(),
    }, features={}, embedding=None)
    ledger.append(store, "register", ledger.asset_subject(asset_id), {"sha256": blobs.put(work)},
                  at="2025-02-01T09:00:00Z")
    page = f"<html><head><title>{page_title}</title></head><body><img src='{IMAGE_URL}'></body></html>"
    page_offset, image_offset = write_warc(ws.warc_dir / "scan-1.warc.gz", page.encode("utf-8"), copy)
    scan_id = store.start_scan({"targets": ["shop"]})
    candidate_id = store.add_candidate({
        "scan_id": scan_id, "target": "shop", "page_url": PAGE_URL, "page_title": page_title,
        "alt_text": "castle mug", "caption": None, "image_url": IMAGE_URL, "final_url": FINAL_URL,
        "declared_width": declared[0] if declared else None, "declared_height": declared[1] if declared else None,
        "discovered_at": "2025-03-01T09:59:00Z", "fetched_at": "2025-03-01T10:00:00Z", "http_status": 200,
        "headers": {"Content-Type": "image/jpeg", "Last-Modified": "Sat, 01 Mar 2025 08:00:00 GMT"},
        "sha256": blobs.put(copy), "byte_size": len(copy), "sniffed_format": "jpeg",
        "warc_file": "warc/scan-1.warc.gz", "warc_offset": image_offset,
        "page_warc_file": "warc/scan-1.warc.gz", "page_warc_offset": page_offset, "state": "detected",
    })
    signals = signals if signals is not None else {
        "sha256_equal": False, "phash_distance": 22, "dhash_distance": 25, "pdq_distance": 110,
        "hash_mirrored": False, "clip_cosine": 0.91, "clip_region": None, "shortlisted_by": ["clip"],
        "verification": {"verified": True, "method": "sift", "good_matches": 140, "inliers": 95,
                         "inlier_ratio": 0.68, "asset_coverage": 0.97, "candidate_coverage": 0.36, "ncc": 0.86,
                         "mirrored": False, "reason": "ok",
                         "transform": [[SCALE, 0, OFFSET[0]], [0, SCALE, OFFSET[1]], [0, 0, 1]]},
        "embedder": "clip:ViT-B-32/laion2b_s34b_b79k#abc123", "thresholds": {"match": 0.8, "review": 0.5},
        "software": "copyhound 0.1.0",
    }
    match_id, _ = store.record_match(asset=store.asset(asset_id), candidate=store.candidate(candidate_id),
                                     score=0.93, decision=decision, signals=signals)
    store.db["matches"].update(match_id, {"first_seen": "2025-03-01T10:00:00Z", "last_seen": "2025-03-01T10:00:00Z"})
    ledger.append(store, "match", ledger.match_subject(match_id), {"score": 0.93}, at="2025-03-01T10:05:00Z")
    if status != "new":
        store.db["matches"].update(match_id, {"status": status, "reviewed_at": "2025-03-02T08:00:00Z"})
        ledger.append(store, "review", ledger.match_subject(match_id), {"status": status},
                      at="2025-03-02T08:00:00Z")
    return Env(ws, store, settings, match_id, asset_id, candidate_id, work, copy)


def copied(env: Env, folder: Path) -> Env:
    """`env` with its workspace copied into `folder` and a store of its own open there: a module builds a case
    (or an expensive export of it) once, and each test changes only its copy. Close `env.store` first."""
    ws = open_workspace(shutil.copytree(env.ws.home, folder / "ws"))
    return replace(env, ws=ws, store=open_store(ws))
