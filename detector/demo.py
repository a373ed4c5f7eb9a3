"""`copyhound demo`: the whole job on the bundled example, in a fresh workspace.

Registers the demo works, serves the demo website on 127.0.0.1, scans it, and checks the result
against what the site is known to contain.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from detector import config
from detector.config.targets import target_from_site
from detector.demo_site import CREDIT_LINES, DEMO_AGENCY, EXPECTED, WORKS_DIR, build_site, serve
from detector.embedders import load_embedder
from detector.embedders.clip import clip_weights_cached
from detector.enforcement import holds, licensed
from detector.errors import UsageError
from detector.evidence.bundle import export_bundle
from detector.evidence.notices import make_notice
from detector.evidence.profile import set_profile
from detector.evidence.report import write_report
from detector.evidence.review import review_match
from detector.licensing.contributors import set_contributors
from detector.licensing.settlement import send_offer
from detector.register import WorkInfo, image_paths, register_files
from detector.scan import run_scan
from detector.suggest import command
from detector.tokens import create_token
from detector.workspace import Workspace, create_workspace
from detector.workspace.store import Store, open_store

OWNER = "Demo Photographer"


@dataclass
class DemoResult:
    workspace: Workspace
    embedder_note: str | None
    summary: dict
    found: dict[str, str]          # copy file name -> work file name, for decided matches
    missed: list[str]              # copies on the site that no match names
    wrong: list[str]               # matches on images that are not copies of that work
    evidence: list[Path]           # report, notice, offer and bundle written for one match
    offer_page: str | None         # the public page of that match's licensing offer
    token: str                     # signs the demo photographer in to the portal
    held: dict[str, str]           # copy file name -> why the licence or flood check holds it for review
    unheld: list[str]              # credited copies that no hold names


def choose_embedder_spec() -> tuple[str, str | None]:
    """The default CLIP model when its weights are already here; otherwise 'none', and why."""
    spec = config.EmbedderSettings().spec
    if clip_weights_cached(spec):
        return spec, None
    return "none", (
        f"The CLIP weights for {spec} are not cached on this machine and the demo does not download them, "
        "so it runs on perceptual hashes and local features only. For CLIP, connect once and run "
        f"`copyhound init --embedder {spec}`, or give a local checkpoint with clip:MODEL@PATH."
    )


def run_demo(home: Path, progress=lambda stage, done, total: None, distributed: bool = False,
             crawlers: int = 1) -> DemoResult:
    """`distributed`: crawl in `crawlers` processes on the workspace's Redis frontier and detect in its
    `copyhound worker` processes (the workspace made beforehand with `init --redis`, docs/scale.md)."""
    # --distributed detects with the workspace's own embedder (below): asking whether CLIP's weights are cached
    # would import torch and open_clip, many seconds, for nothing.
    spec, note = ("none", None) if distributed else choose_embedder_spec()
    # The demo site is our own server on loopback: no need to be slow and polite with it.
    local_crawl = replace(config.CrawlSettings(), download_delay=0.0, autothrottle=False)
    ws, _ = create_workspace(home, config.Settings(crawl=local_crawl).with_embedder(spec))
    settings = ws.settings()
    if distributed:
        if not settings.distributed.redis_url:
            raise UsageError(f"demo --distributed needs a workspace with Redis: run `{command('init', '--home', ws.home)} "
                             "--embedder none --redis redis://HOST:PORT/0` first (docs/scale.md).")
        # The workers detect with the workspace's own embedder, so the works are registered with it too.
        spec, note = settings.embedder.spec, None
    store = open_store(ws)
    embedder = load_embedder(spec, settings.embedder.batch_size, settings.embedder.threads)
    register_files(ws, store, settings, embedder, image_paths([WORKS_DIR], recursive=False),
                   WorkInfo(owner=OWNER, creator=OWNER))
    licensed.add(store, store.owner_by_name(OWNER), "agency", DEMO_AGENCY, note="demo: licensed through the agency")
    site_root = build_site(ws.home / "demo-site")
    server, base_url = serve(site_root)
    try:
        # Also without delay in a workspace made beforehand (`init --redis`, docs/scale.md), whose config.toml
        # keeps the polite default of a second between requests: the demo site is still our own.
        target = replace(target_from_site(base_url, allow_private=True), download_delay=local_crawl.download_delay)
        summary = run_scan(ws, store, settings, embedder, [target], progress=progress, distributed=distributed,
                           crawlers=crawlers)
    finally:
        server.shutdown()
    found, wrong = {}, []
    for row in store.matches():
        copy_name = Path(urlsplit(row["image_url"]).path).name
        if EXPECTED.get(copy_name) == row["asset_filename"]:
            found[copy_name] = row["asset_filename"]
        else:
            wrong.append(f"{copy_name} matched {row['asset_filename']}")
    missed = sorted(set(EXPECTED) - set(found))
    held = held_copies(store)
    unheld = sorted(f"{slug}.jpg" for slug in CREDIT_LINES if f"{slug}.jpg" not in held)
    evidence, offer_page = act_on_one_match(ws, store, settings)
    _, token = create_token(store, OWNER, "demo")  # so the next step, the portal, needs no setup
    store.close()
    return DemoResult(ws, note, summary, found, missed, wrong, evidence, offer_page, token, held, unheld)


def held_copies(store: Store) -> dict[str, str]:
    """Copy file name -> why its match is held for review (the scan ran the licence and flood checks)."""
    rows = store.matches()
    names = {m["id"]: Path(urlsplit(m["image_url"]).path).name for m in rows}
    return {names[match_id]: holds.held_reason(store, match_id) for match_id in holds.active(store, list(names))}


#: The demo rights holder's contact details, as `copyhound owner set` would store them.
DEMO_PROFILE = {
    "legal_name": "Demo Photographer Ltd", "address": "1 Example Street, 1000 Exampletown",
    "email": "rights@photographer.example", "phone": "+1 555 0100",
    "signature": "/s/ Demo Photographer", "jurisdiction": "US",
}


def act_on_one_match(ws: Workspace, store: Store, settings: config.Settings) -> tuple[list[Path], str | None]:
    """Confirm the cropped copy's match and write everything a rights holder would act with; send a
    licensing offer for it. Returns the files written and the offer's public page URL."""
    chosen = [m for m in store.matches() if m["image_url"].endswith("/cropped.jpg") and m["decision"] == "match"]
    if not chosen:
        return [], None
    match_id = chosen[0]["id"]
    set_profile(store, OWNER, **DEMO_PROFILE)
    set_contributors(store, chosen[0]["asset_id"], [f"{OWNER}=70", "Demo Retoucher=30"])
    review_match(store, match_id, "confirmed", "demo: no licence on file")
    paths = write_report(ws, store, settings, match_id, pdf=True)
    paths.append(make_notice(ws, store, settings, match_id, "dmca").path)
    sent = send_offer(ws, store, settings, match_id)
    paths.append(sent.letter)
    paths.append(export_bundle(ws, store, settings, [match_id], ws.output_dir / f"bundle-match-{match_id}.zip"))
    return paths, sent.url
