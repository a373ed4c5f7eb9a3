"""A real workspace with registered works, long-URL matches, notices and offers, for the list commands
(the `listed` fixture in conftest.py builds it once per module)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from detector import config, demo_site
from detector.evidence import notices, profile
from detector.evidence.review import review_match
from detector.licensing import offers
from detector.provenance import signing
from detector.register import WorkInfo, register_files
from detector.workspace import create_workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, utc_now

# Long, real-looking URLs: the default table must show their hosts, not wrap them over lines.
PAGES = [
    "https://www.some-very-long-blog-host-name.example.com/2024/05/17/a-post-with-a-very-long-slug-about-cats",
    "https://shop.example.net/catalogue/posters/animals/cats/summer-sale?utm_source=newsletter&utm_campaign=x",
    "https://news.example.org/photography/2025/01/02/coffee-culture-around-the-world-in-twenty-photos",
]
PROFILE = {"legal_name": "Alice Example Photography Ltd", "address": "1 Lens Street, Camtown",
           "email": "alice@example.org", "signature": "/s/ Alice Example", "jurisdiction": "Germany"}


@dataclass
class Listed:
    home: Path
    matches: list[int]
    notices: list[int]
    offers: list[int]


def build_listed(home: Path) -> Listed:
    ws, _ = create_workspace(home, config.Settings().with_embedder("none"))
    signing.ensure_keypair(ws)
    settings = ws.settings()
    store = Store(ws.db_path)
    names = ["chelsea.jpg", "coffee.jpg"]
    outcomes = register_files(ws, store, settings, None, [demo_site.WORKS_DIR / n for n in names], WorkInfo("alice"))
    profile.set_profile(store, "alice", **PROFILE)
    blobs = BlobStore(ws.blobs_dir)
    scan_id = store.start_scan({"targets": ["test"]})
    match_ids = []
    for i, page in enumerate(PAGES):
        asset = store.asset(outcomes[i % 2].asset_id)
        data = (demo_site.WORKS_DIR / asset["filename"]).read_bytes()
        candidate = {"scan_id": scan_id, "target": "test", "page_url": page, "image_url": f"{page}/img-{i}.jpg",
                     "discovered_at": utc_now(), "fetched_at": utc_now(), "http_status": 200,
                     "sha256": blobs.put(data), "byte_size": len(data), "sniffed_format": "jpeg"}
        candidate["id"] = store.add_candidate(candidate)
        match_ids.append(store.record_match(asset=asset, candidate=candidate, score=1.0, decision="match",
                                            signals={"tier": "identical"})[0])
    store.finish_scan(scan_id, "finished", {"scan_id": scan_id})
    for match_id in match_ids[:2]:  # notices are made only on confirmed matches
        review_match(store, match_id, "confirmed", None)
    notice_ids = [notices.make_notice(ws, store, settings, match_ids[0], "dmca").id,
                  notices.make_notice(ws, store, settings, match_ids[1], "dsa").id]
    offer_ids = [offers.make_offer(ws, store, settings, m).record["id"] for m in match_ids[:2]]
    offers.set_offer_status(store, offer_ids[1], "sent")
    store.close()
    return Listed(ws.home, match_ids, notice_ids, offer_ids)
