"""One configuration object, loaded once at the edge and passed down.

Each section is a frozen dataclass; every field carries a default and a help string in its
metadata. `config.toml` is written from the same table, so the file a user edits documents
itself, and `docs/configuration.md` is checked against it by a test. Core code never reads the
environment: only `load()` does (for COPYHOUND_HOME, in `workspace`).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from detector.errors import ConfigError


def setting(default: Any, help: str, *, low: float | None = None, high: float | None = None,
            form: tuple[str, str] | None = None):
    """A config field: its default, the sentence that documents it, and what a value must be: numbers (each
    number of a list or table) within `low`..`high`, text matching `form`'s pattern (described by its second
    part). The file and `config set` are checked alike."""
    metadata = {"help": help, "low": low, "high": high, "form": form}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=metadata)
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class EmbedderSettings:
    spec: str = setting(
        "clip:ViT-B-32/laion2b_s34b_b79k",
        "Embedding model: 'clip:MODEL/TAG' (open_clip download/cache), 'clip:MODEL@PATH' "
        "(local checkpoint; MODEL may be a model-config .json), 'onnx:PATH' (an exported image model with its .json sidecar), or 'none' (hashes and local features only).",
    )
    batch_size: int = setting(16, "Images embedded per forward pass.")
    threads: int = setting(
        0, "CPU threads the embedding model may use (torch for clip:, onnxruntime for onnx:); 0 keeps the "
        "runtime's default. Called torch_threads before 0.2; that name is still read."
    )


@dataclass(frozen=True)
class IntakeSettings:
    max_pixels: int = setting(
        40_000_000, "Largest width*height decoded; bigger images are refused as decompression bombs."
    )
    max_bytes: int = setting(20_000_000, "Largest image file accepted, in bytes.")
    min_side: int = setting(32, "Smallest width or height that can be fingerprinted, in pixels.")
    work_side: int = setting(
        1024, "Images are decoded at (about) this long side for fingerprinting and verification."
    )


@dataclass(frozen=True)
class IndexSettings:
    exact_limit: int = setting(
        50_000, "Up to this many registered works the embedding index is exact (flat inner product)."
    )
    factory: str = setting(
        "IVF1024,Flat", "FAISS factory string for the approximate embedding index above exact_limit. "
        "IVF1024,Flat found the true nearest neighbour more often than HNSW32,Flat at 100k works, searched ~4x "
        "faster and built ~5x faster (docs/benchmarks.md); its lists are trained once, on the works present "
        "when it is built."
    )
    search_params: str = setting(
        "", "Search-time parameters of the approximate index, FAISS style: 'efSearch=N' for HNSW, 'nprobe=N' "
        "for IVF (comma-separated). Empty picks measured defaults: efSearch=256, nprobe = 1/32 of the IVF "
        "lists (at least 8); higher values find more true neighbours but search slower. Ignored while the "
        "index is exact; a parameter the factory does not use is refused."
    )
    threads: int = setting(
        1, "OpenMP threads FAISS may use, and BLAS threads NumPy may use. 1 avoids contention with torch's and "
        "OpenCV's thread pools, which made searches 4-30x slower on a 2-core machine, and a second BLAS thread "
        "only spins on detection's small matrix products; raise it on a dedicated search host."
    )


@dataclass(frozen=True)
class DetectSettings:
    workers: int = setting(
        0, "Processes that fingerprint and analyse images during `scan` and `register` (`--workers` overrides "
        "it); 0 means one per core this process may use. They share the loaded indexes; only the command's own "
        "process writes."
    )


@dataclass(frozen=True)
class DistributedSettings:
    redis_url: str = setting(
        "", "Redis shared by the machines of one installation, e.g. redis://127.0.0.1:6379/0: Celery's broker "
        "between `copyhound scan --distributed` and `copyhound worker` processes, and the crawl frontier that "
        "`copyhound crawler` processes share. Empty: crawl and detection stay in the scan's own processes. "
        "`copyhound init --redis URL` sets it."
    )
    queue: str = setting(
        "copyhound-detect", "Celery queue the detection tasks go to; workspaces sharing one Redis need different "
        "names (or different Redis databases)."
    )
    prefetch: int = setting(
        1, "Tasks a worker process reserves beyond the one it runs. 1 keeps a worker that dies from holding "
        "work back from the others; tasks are acknowledged only when recorded."
    )
    heartbeat: int = setting(
        10, "Seconds between a worker's heartbeats (`copyhound status` shows the last one); a worker silent for "
        "three heartbeats counts as gone, and a scan with no live worker stops after that long."
    )
    task_time_limit: int = setting(
        300, "Seconds one content may take to detect in a prefork worker before it is stopped and its candidates "
        "refused as detect_timeout (Celery cannot enforce it in the solo pool)."
    )
    visibility_timeout: int = setting(
        900, "Seconds a task taken by a worker that vanished (kill -9, power loss) waits before Redis hands it "
        "to another worker. Must exceed task_time_limit, or a slow task is handed out twice (recorded once, "
        "but computed twice)."
    )
    max_deliveries: int = setting(
        5, "Times one content's detection task may be delivered (redelivered after its worker died, or retried) "
        "before its candidates are parked as 'failed' with the reason, shown by `copyhound refused` and `status`."
    )

    crawler_lease_s: float = setting(
        15.0, "A crawler process that has not renewed its lease in Redis for this many seconds counts as dead; "
        "the requests it had taken go back to the shared queue for the other crawlers."
    )

    def __post_init__(self):
        if self.visibility_timeout <= self.task_time_limit:
            raise ConfigError(
                f"distributed.visibility_timeout ({self.visibility_timeout}) must be greater than "
                f"distributed.task_time_limit ({self.task_time_limit}); raise visibility_timeout.")
        if self.prefetch < 1 or self.heartbeat < 1 or self.max_deliveries < 1:
            raise ConfigError("distributed.prefetch, distributed.heartbeat and distributed.max_deliveries must be "
                              "at least 1.")


@dataclass(frozen=True)
class ShortlistSettings:
    per_work: int = setting(
        300, "Local descriptors of each work kept in the local-feature shortlist index, spread over the work's "
        "area (a 4x4 grid) so that a crop of any part of it still finds voters."
    )
    exact_limit: int = setting(
        60_000, "Up to this many descriptors (about 200 works) the local-feature index is exact (flat, 512 bytes "
        "per SIFT descriptor); above it an inverted file is trained on the works' own descriptors."
    )
    code_bytes: int = setting(
        16, "Bytes of the product-quantisation code kept per SIFT descriptor in the trained index (plus an 8-byte "
        "work id): 300 x 24 = 7.2 KB per work. Each byte holds two 4-bit codes, scanned with SIMD (FAISS "
        "fast-scan), so 2 x code_bytes must divide 128. ORB descriptors are kept whole (32 bytes), so fewer per work."
    )
    nprobe: int = setting(
        16, "Inverted lists a query descriptor visits in the trained index (lists hold about 1,000 descriptors "
        "each at any catalogue size); more finds more true neighbours but costs more per candidate."
    )
    retrain_growth: float = setting(
        4.0, "The trained index is retrained (its lists re-clustered, every work re-added) when it holds this "
        "many times the descriptors it was trained for; `copyhound reindex` retrains at once."
    )


@dataclass(frozen=True)
class MatchSettings:
    phash_max_distance: int = setting(
        10, "pHash/dHash Hamming distance (of 64) within which a work is shortlisted.", low=0, high=64
    )
    pdq_max_distance: int = setting(
        31, "PDQ Hamming distance (of 256) within which a work is shortlisted (Meta's default).", low=0, high=256
    )
    clip_min_cosine: float = setting(
        0.5, "Lowest embedding cosine similarity at which a work is shortlisted for verification.", low=-1, high=1
    )
    shortlist_size: int = setting(5, "Nearest works taken per query vector before verification.", low=1)
    local_features: str = setting(
        "sift", "Local features for shortlisting and verification: 'sift' (most robust) or 'orb' "
        "(faster, weaker on small copies, heavy crops and dense watermarks).", form=("sift|orb", "'sift' or 'orb'")
    )
    min_feature_votes: int = setting(
        6, "Local-feature votes a work needs to be shortlisted without help from hashes or embeddings."
    )
    clip_review_cosine: float = setting(
        0.9, "Embedding cosine at which an unverified pair is still put up for review.", low=-1, high=1
    )
    match_threshold: float = setting(
        0.8, "Score at or above which a pair is decided 'match'.", low=0, high=1
    )
    review_threshold: float = setting(
        0.5, "Score at or above which (and below match_threshold) a pair is decided 'review'.", low=0, high=1
    )

    def __post_init__(self):
        if self.review_threshold > self.match_threshold:
            raise ConfigError(f"config.match.review_threshold ({self.review_threshold}) must not be above "
                              f"match.match_threshold ({self.match_threshold}).")


@dataclass(frozen=True)
class CommonSettings:
    max_share: float = setting(
        0.5, "Largest share of a verified match's area (the cells of an 8x8 grid over the work holding matched "
        "keypoints) that other registered works may contain too (a shared canton, a logo stamped on many works) for "
        "it to stay a 'match'; above it the pair is put up for review. 1 turns the rule off.", low=0, high=1
    )
    sharers: int = setting(
        5, "Other works checked exactly for the keypoints a verified match rests on: those holding most of their "
        "nearest descriptors in the shortlist index."
    )
    version_share: float = setting(
        0.5, "Share of a work's area another work must show for it to be a version of the same picture (registered "
        "twice, recoloured) rather than a work sharing one element; versions make nothing common.", low=0, high=1
    )


@dataclass(frozen=True)
class CrawlSettings:
    user_agent: str = setting(
        "copyhound/0.1 (+https://github.com/copyhound/copyhound)",
        "User-Agent sent with every request; keep a contact URL in it.",
    )
    contact_url: str = setting(
        "https://github.com/copyhound/copyhound", "Where site owners can reach whoever runs this crawl."
    )
    obey_robots: bool = setting(True, "Obey robots.txt (a target may override it, with a reason).")
    download_delay: float = setting(1.0, "Seconds between requests to the same domain.")
    concurrency_per_domain: int = setting(2, "Requests in flight per domain.")
    autothrottle: bool = setting(True, "Adapt the delay to the server's response times (AutoThrottle).")
    max_depth: int = setting(3, "Links followed from a start URL, at most.")
    max_pages: int = setting(500, "Pages fetched per target per scan, at most.")
    max_image_bytes: int = setting(20_000_000, "Image responses larger than this are dropped.")
    timeout: float = setting(30.0, "Seconds before a request is given up.")
    retries: int = setting(2, "Retries of a failed request (5xx, timeouts), with backoff.")
    retry_backoff: float = setting(
        1.0, "Seconds waited before the first retry of a request; each further retry waits twice as long."
    )
    max_redirects: int = setting(5, "Redirects followed per request, at most.")
    http_cache: bool = setting(
        True, "Keep an RFC 2616 HTTP cache so re-crawls do not refetch what has not changed."
    )


@dataclass(frozen=True)
class Target:
    name: str = setting("", "Short name of the target, used for its resumable crawl state.")
    start_urls: tuple[str, ...] = setting((), "Pages (or sitemap.xml URLs) the crawl starts from.")
    allowed_domains: tuple[str, ...] = setting(
        (), "Domains the crawl may follow links into; empty means the start URLs' domains."
    )
    max_depth: int = setting(0, "Overrides crawl.max_depth for this target when above 0.")
    max_pages: int = setting(0, "Overrides crawl.max_pages for this target when above 0.")
    download_delay: float = setting(-1.0, "Overrides crawl.download_delay when 0 or more.")
    allow_private: bool = setting(
        False, "Allow loopback/private addresses (for tests, demos and intranets you own)."
    )
    ignore_robots: bool = setting(False, "Ignore robots.txt for this target; needs robots_reason.")
    robots_reason: str = setting("", "Why robots.txt is ignored (recorded with every scan).")
    follow_links: bool = setting(
        True, "Follow links and read /sitemap.xml from the start URLs; false fetches only the listed URLs."
    )


@dataclass(frozen=True)
class SourceConfig:
    name: str = setting("", "Short name of the source (letters, digits, '.', '-', '_'); `copyhound sources` uses it.")
    type: str = setting("feed", "What finds the leads: 'feed' (RSS/Atom feeds and image sitemaps of named sites) or "
                        "'common_crawl' (captured pages of URL patterns in Common Crawl), 'vision', 'tineye' or 'serpapi_lens' "
                        "(reverse image search for each registered work); docs/discovery.md.")
    urls: tuple[str, ...] = setting((), "What the source reads: for 'feed', the feed or sitemap URLs; for "
                                    "'common_crawl', URL patterns such as 'example.com/*' or '*.example.com'.")
    cadence_days: float = setting(1.0, "A scan runs the source when its last run is at least this many days old; "
                                  "0 runs it on every scan. For reverse image search it applies to each work: "
                                  "new works are searched at once, the others again after this many days.")
    max_leads: int = setting(500, "New leads one run hands to the crawler, at most; the rest wait for the next run.")
    monthly_budget: int = setting(0, "Requests the source may make to its provider per calendar month (paid "
                                  "queries for a search API); 0 means no cap.")
    allow_private: bool = setting(False, "Allow loopback/private addresses for the source and the pages it leads "
                                  "to (tests, intranets you own).")
    endpoint: str = setting("", "The provider's API base URL; empty means its public one (set it for a mirror, "
                            "a self-hosted index or tests). For 'common_crawl': the CDX server, "
                            "https://index.commoncrawl.org.")
    archive_endpoint: str = setting("", "For 'common_crawl': where the WARC files are read with range requests; "
                                    "empty means https://data.commoncrawl.org.")
    api_key: str = setting("", "For 'vision', 'tineye' and 'serpapi_lens': the provider's API key. Better left empty "
                           "here and set in the environment (GOOGLE_VISION_API_KEY, TINEYE_API_KEY, SERPAPI_API_KEY); "
                           "never logged or shown.")
    work_url: str = setting("", "For 'serpapi_lens', which searches by URL: where each work is published, with "
                            "{filename} or {sha256} filled in, such as 'https://alice.example/photos/{filename}'.")
    collections: tuple[str, ...] = setting((), "For 'common_crawl': the crawls to query, such as 'CC-MAIN-2026-05' "
                                           "(https://index.commoncrawl.org/collinfo.json lists them).")


@dataclass(frozen=True)
class EvidenceSettings:
    bundle_work: str = setting(
        "full", "What bundles carry of the registered work: 'full' (the file) or 'thumbnail'."
    )
    thumbnail_side: int = setting(512, "Long side of the work's thumbnail in bundles and reports.")
    c2pa_trust_anchors: str = setting(
        "", "PEM file of the CA certificates whose Content Credentials (C2PA) signers show as trusted; empty: "
        "none, so every intact manifest reads 'Valid' (signer on no trust list), not 'Trusted'."
    )


@dataclass(frozen=True)
class ProvenanceSettings:
    tsa_url: str = setting(
        "", "URL of an RFC 3161 time-stamping authority that stamps ledger checkpoints; empty: checkpoints "
        "are signed with the workspace key but not time-stamped."
    )
    tsa_certificate: str = setting(
        "", "PEM file of the TSA certificate (or its CA) that time-stamps must chain to; empty: a "
        "time-stamp is checked against the certificate it carries."
    )
    tsa_timeout: float = setting(30.0, "Seconds to wait for the time-stamping authority.")
    checkpoint_after_scan: bool = setting(
        False, "Make a signed (and, with tsa_url, time-stamped) ledger checkpoint at the end of every scan."
    )


@dataclass(frozen=True)
class ReportSettings:
    """The evidence report's PDF and the screenshot of the page where a copy appeared."""

    paper: str = setting("A4", "Paper size of the report's PDF: 'A4' or 'Letter'.")
    screenshots: str = setting(
        "matches", "Which matches get a screenshot of their page after a scan: 'matches' (decision "
        "'match'), 'all' (also 'review'), or 'none'. `copyhound screenshot MATCH` takes one on demand."
    )
    viewport: tuple[int, ...] = setting((1280, 800), "Width and height of the browser window for screenshots, in CSS pixels.")
    screenshot_timeout: float = setting(30.0, "Seconds a screenshot may wait for its page to load.")
    screenshot_concurrency: int = setting(
        4, "Pages a scan's screenshot browser loads at a time (one Chromium, each page in its own context)."
    )
    max_screenshot_height: int = setting(
        8000, "Tallest full-page screenshot kept, in CSS pixels; longer pages are cut at this height."
    )

    def __post_init__(self):
        choices = {"paper": ("A4", "Letter"), "screenshots": ("matches", "all", "none")}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ConfigError(f"report.{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}.")
        if len(self.viewport) != 2 or min(self.viewport) < 100:
            raise ConfigError(f"report.viewport must be [width, height], each 100 or more, got {list(self.viewport)}.")
        if self.screenshot_concurrency < 1:
            raise ConfigError(f"report.screenshot_concurrency must be 1 or more, got {self.screenshot_concurrency}.")


@dataclass(frozen=True)
class PricingSettings:
    """Price rules of licensing offers ([pricing]); [pricing.OWNER] tables override them per owner.

    price = base fee of the licence type x commercial x displayed size x duration x sightings x demand
    x territory x placement x above the fold;
    see detector.licensing.offers for the exact rule and docs/evidence.md for a worked example.
    """

    currency: str = setting("EUR", "ISO 4217 code of the currency every amount is in.",
                            form=("[A-Z]{3}", "an ISO 4217 code of three capital letters, like EUR or USD"))
    base_fees: dict[str, float] = setting(
        {"editorial": 150.0, "web": 250.0, "print": 400.0},
        "Base fee per licence type (a table); `copyhound offer --licence TYPE` picks one.", low=0,
    )
    default_licence: str = setting("web", "Licence type offered when none is given.")
    commercial_multiplier: float = setting(
        2.0, "Factor for commercial use (shops, adverts, client work); offers ask for it explicitly.", low=0
    )
    size_bands: tuple[int, ...] = setting(
        (400, 1200), "Long-side pixel limits of the displayed-size bands, ascending (up to 400, up to 1200, above)."
    )
    size_multipliers: tuple[float, ...] = setting(
        (0.75, 1.0, 1.5), "Factor per displayed-size band: one more entry than size_bands.", low=0
    )
    monthly_increase: float = setting(
        0.1, "Added to the duration factor for each month of use seen after the first (3 months: x1.2).", low=0
    )
    sighting_increase: float = setting(
        0.02, "Added to the sightings factor for each sighting after the first.", low=0
    )
    max_sightings_multiplier: float = setting(1.5, "Upper limit of the sightings factor.", low=1)
    demand_increase: float = setting(
        0.1, "Added to the demand factor for each further site (distinct host) found using the same work.", low=0
    )
    max_demand_multiplier: float = setting(2.0, "Upper limit of the demand factor.", low=1)
    detect_commercial: bool = setting(
        True, "Price a use as commercial when the captured page has shop or product markup, a cart button, "
        "prices or adverts (unless the offer says otherwise)."
    )
    placement_bands: tuple[float, ...] = setting(
        (0.25, 0.6), "Limits of the share of the page's width a copy is shown at, ascending (up to a quarter, "
        "up to 60 %, wider), for the placement factor."
    )
    placement_multipliers: tuple[float, ...] = setting(
        (1.0, 1.0, 1.0), "Factor per placement band: one more entry than placement_bands, e.g. [0.9, 1.0, 1.25] "
        "(all 1: placement is shown in the breakdown but does not change the price)."
    )
    above_fold_multiplier: float = setting(
        1.0, "Factor when the page's screenshot shows the copy in its first screen (above the fold), e.g. 1.2; "
        "without a screenshot, or with the copy not found in it, the factor is 1."
    )
    territory_multipliers: dict[str, float] = setting(
        {}, "Factor per territory: a country code from the site's TLD ('de', 'gb', 'us') or 'lang:xx' from the "
        "page's language for generic domains; 'default' for the rest (1.0 when absent)."
    )
    early_discount_percent: float = setting(
        20.0, "Discount in percent if the offer is accepted within early_discount_days.", low=0, high=100
    )
    early_discount_days: int = setting(14, "Days from the offer during which the early discount applies.", low=0)
    expiry_days: int = setting(30, "Days from the offer after which it expires.", low=1)
    letter_template: str = setting(
        "", "Jinja2 template of the offer letter replacing the built-in one (path; relative to the "
        "workspace). Empty: the built-in letter."
    )
    owners: dict[str, dict] = field(default_factory=dict, metadata={
        "help": "Per-owner overrides: a [pricing.OWNER] table holding any of the settings above.",
        "subtables": True,
    })

    def for_owner(self, name: str) -> PricingSettings:
        """The rules for owner `name`: the defaults with its [pricing.NAME] table applied.

        A base_fees override adds to (or replaces single entries of) the default fees.
        """
        override = dict(self.owners.get(name, {}))
        if "base_fees" in override:
            override["base_fees"] = {**self.base_fees, **override["base_fees"]}
        return replace(self, owners={}, **override)


@dataclass(frozen=True)
class PolicyRule:
    """One rule of an owner's enforcement policy ([[enforcement.rules]]); the first rule that fits acts."""

    name: str = setting("", "Name of the rule, recorded in the ledger with every action it causes.")
    owner: str = setting("", "Owner whose matches the rule is for; empty: every owner.")
    action: str = setting("review", "What to do: offer, dmca, dsa, review (leave it to a person) or ignore.")
    decision: str = setting("", "Only matches decided 'match' or 'review'; empty: either.")
    min_score: float = setting(0.0, "Only matches scoring at least this.")
    min_age_days: int = setting(0, "Only matches first seen at least this many days ago.")
    min_sightings: int = setting(0, "Only matches seen at least this many times.")
    commercial: str = setting("", "'yes': only sites in enforcement.commercial_domains; 'no': only others; "
                                  "empty: any site.")
    countries: tuple[str, ...] = setting((), "Only sites hosted in these countries (ISO codes from the hosting "
                                             "network's RDAP record); empty: any.")
    offer: str = setting("", "Only matches whose latest offer is in one of these states, separated by commas: "
                             "none, draft, sent, viewed, countered, accepted, paid, declined, expired; empty: any.")
    offer_days: int = setting(0, "Only matches whose latest offer was sent (or made) at least this many days ago; "
                                 "with offer = 'sent, viewed, countered' this escalates an unpaid offer.")
    credit: str = setting("", "'none': only matches whose copy credits no place where the work is licensed "
                              "(docs/enforcement.md, licence check); 'found': only credited ones; empty: either.")
    min_collectability: float = setting(0.0, "Only matches whose collectability (0 to 1, docs/enforcement.md) is at "
                                             "least this; 0: any.", low=0, high=1)
    below_collectability: float = setting(0.0, "Only matches whose collectability is below this; 0: any.",
                                          low=0, high=1)


@dataclass(frozen=True)
class EnforcementSettings:
    unreachable_limit: int = setting(
        3, "Scans in a row in which a copy's URL fails with a network error before it counts as removed."
    )
    run_after_scan: bool = setting(False, "Run `copyhound enforce` at the end of every scan.")
    cooling_days: int = setting(7, "Days after an automated action on a match during which no other is taken.")
    daily_cap_owner: int = setting(50, "Automated actions per owner per day, at most.")
    daily_cap_recipient: int = setting(5, "Automated e-mails to one recipient address per day, at most.")
    commercial_domains: tuple[str, ...] = setting(
        (), "Sites (domains, with their sub-domains) that use images commercially, for rules with commercial."
    )
    offer_url: str = setting(
        "", "Link to an offer's page put in offer e-mails, with {offer_id} in it; empty: the offer's own public "
        "page (docs/licensing.md)."
    )
    flood_sites: int = setting(
        20, "A work matched on more than this many distinct sites within flood_window_hours is a flood (a logo, a "
            "template): those matches are held for the owner; 0: never.", low=0
    )
    flood_window_hours: int = setting(24, "The window in which a flood's sites are counted, by first sighting.",
                                      low=1)
    rules: tuple[PolicyRule, ...] = setting(
        (), "Ordered policy rules ([[enforcement.rules]] tables, fields in docs/enforcement.md); none: "
            "`copyhound enforce` does nothing."
    )


#: Countries whose courts and collecting practice make a licence fee for a copied photo realistic
#: (statutory damages, or courts used to licence-analogy damages), as ISO 3166 codes.
_COLLECTABLE_COUNTRIES = ("US", "CA", "GB", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "LU", "DK", "SE", "NO", "FI",
                          "IT", "ES", "PT", "AU", "NZ", "JP")


@dataclass(frozen=True)
class CollectabilitySettings:
    countries: tuple[str, ...] = setting(
        _COLLECTABLE_COUNTRIES, "Countries (ISO codes) where collecting a licence fee is realistic; a site whose "
        "country domain or hosting network is in one counts towards the jurisdiction factor (docs/enforcement.md).",
        form=(r"[A-Z]{2}", "a two-letter ISO 3166 code in capitals, like DE"))
    languages: tuple[str, ...] = setting(
        ("en", "de", "fr", "nl", "da", "sv", "no", "nb", "fi", "it", "es", "pt", "ja"),
        "Page languages (ISO 639-1 codes) of the countries above; a page in one counts towards the jurisdiction "
        "factor.", form=(r"[a-z]{2,3}", "a two- or three-letter ISO 639 code in lower case, like de"))
    ignored_days: int = setting(
        30, "Days after an offer or notice to a site with neither payment nor removal before the site counts as "
            "having ignored it (the site-history factor).", low=1)
    max_lookups: int = setting(
        50, "Hosting-country RDAP lookups one assessment run makes at most (cached ones are free); the rest wait "
            "for the next run.", low=0)


@dataclass(frozen=True)
class RecipientSettings:
    rdap_ip_url: str = setting(
        "https://rdap.arin.net/registry/", "RDAP service for IP networks (ARIN redirects to the right RIR); "
        "the hosting provider's abuse contact comes from it."
    )
    rdap_domain_url: str = setting(
        "https://rdap.org/", "RDAP service for domains (rdap.org redirects to the registry); the registrar's "
        "abuse contact comes from it."
    )
    security_txt: bool = setting(True, "Read the site's /.well-known/security.txt for a contact address.")
    contact_page: bool = setting(
        True, "Read the contact, imprint or legal page linked from the site's home page for mailto: addresses."
    )
    overrides: dict[str, str] = setting(
        {}, "Addresses per domain that replace every lookup (a table: \"shop.example\" = \"legal@shop.example\")."
    )
    cache_days: int = setting(30, "Days a looked-up address is reused before it is looked up again.")
    timeout: float = setting(10.0, "Seconds an RDAP, security.txt or contact page request may take in all (connecting, "
                                   "redirects and the whole answer), not per read.")
    site_timeout: float = setting(30.0, "Seconds all the lookups of one site may take together in one run; what is "
                                        "left unread is recorded as such.")
    allow_private: bool = setting(
        False, "Fetch security.txt and contact pages from sites at loopback/private addresses (tests, intranets)."
    )


@dataclass(frozen=True)
class SmtpSettings:
    host: str = setting("", "SMTP server that sends notices and offers; empty: nothing is sent by e-mail.")
    port: int = setting(587, "SMTP port (587 with STARTTLS, 465 with ssl, 25 plain).")
    starttls: bool = setting(True, "Upgrade the connection with STARTTLS before authenticating.")
    ssl: bool = setting(False, "Connect over TLS from the start (port 465).")
    username: str = setting("", "SMTP user name; empty: no authentication.")
    password_file: str = setting("", "File holding the SMTP password (relative to the workspace).")
    ca_file: str = setting(
        "", "CA certificate (PEM) trusted for the SMTP server's TLS besides the system's, for a private relay "
        "(relative to the workspace)."
    )
    from_address: str = setting("", "Sender address; empty: the owner's e-mail.")
    timeout: float = setting(30.0, "Seconds before the SMTP server is given up.")
    bounce_maildir: str = setting(
        "", "Maildir where bounce reports (DSNs) for the sender arrive (relative to the workspace); `copyhound "
        "deliveries check-bounces` and every scan read it; empty: bounces are not read."
    )


@dataclass(frozen=True)
class LicensingSettings:
    """Settling offers ([licensing]): the public offer page, negotiation, invoices, payment, royalty splits.

    [licensing.OWNER] tables override any of these per owner (see docs/licensing.md).
    """

    public_url: str = setting(
        "http://127.0.0.1:8000", "Base URL at which recipients reach the portal; offer page links start with it."
    )
    licence_term_days: int = setting(
        365, "Days a paid licence lasts; its domain is an authorised use of the work for that long."
    )
    floor_percent: float = setting(
        60.0, "The floor: lowest price ever agreed, in percent of the offer's price; a counter far below it is "
        "answered once with the floor, and no rule accepts or proposes less."
    )
    accept_percent: float = setting(
        80.0, "A counter-offer at or above this percent of the price (and the floor) is accepted at once; a "
        "lower one is answered once with half-way between it and this level, never below the floor."
    )
    commission_percent: float = setting(
        0.0, "Agency commission taken from each payment before it is split among the work's contributors."
    )
    invoice_prefix: str = setting("INV-", "Invoice numbers are this prefix, the owner id and a per-owner number.")
    tax_id: str = setting("", "The owner's tax or VAT number, printed on invoices.")
    tax_percent: float = setting(
        0.0, "Tax (e.g. VAT) included in prices, in percent; invoices show it apart from the net amount."
    )
    tax_note: str = setting("", "A line printed on invoices about tax, e.g. 'VAT reverse charge applies'.")
    payment_link: str = setting(
        "", "Payment link template shown after acceptance, with {amount}, {currency} and {reference} filled "
        "in (URL-encoded), e.g. 'https://pay.example/c?amount={amount}&ref={reference}'. Empty: none."
    )
    bank_transfer: str = setting(
        "", "Bank-transfer details shown after acceptance (account holder, IBAN, BIC); the invoice number "
        "is given as the reference. Empty: none."
    )
    webhook_tolerance_s: int = setting(
        300, "A payment webhook's signed timestamp may be at most this many seconds old (or ahead)."
    )
    page_requests_per_minute: int = setting(
        30, "Requests one address may make to offer pages and the payment webhook per minute."
    )
    owners: dict[str, dict] = field(default_factory=dict, metadata={
        "help": "Per-owner overrides: a [licensing.OWNER] table holding any of the settings above.",
        "subtables": True,
    })

    def for_owner(self, name: str) -> LicensingSettings:
        """The settings for owner `name`: the defaults with its [licensing.NAME] table applied."""
        return replace(self, owners={}, **self.owners.get(name, {}))


@dataclass(frozen=True)
class PortalSettings:
    trusted_proxies: tuple[str, ...] = setting(
        (), "Addresses or networks (CIDR) of the reverse proxies in front of the portal, e.g. [\"127.0.0.1\"]: only "
        "from them is X-Forwarded-For believed as the client's address (rate limits count per client address). "
        "Empty: the TCP peer is the client.")
    rate_limit_storage: str = setting(
        "", "Where the offer page's per-address request counters live: empty for the portal process's memory "
        "(each counter dropped after its minute), or redis://HOST:PORT/DB to share them among portal processes.")


@dataclass(frozen=True)
class StoreSettings:
    url: str = setting(
        "", "Where the workspace database lives: empty for the SQLite file copyhound.db in the workspace (one "
        "machine), or a PostgreSQL URL, postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE, shared by every "
        "machine of a deployment (docs/postgresql.md). `copyhound init --database URL` writes it.")


@dataclass(frozen=True)
class Settings:
    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    match: MatchSettings = field(default_factory=MatchSettings)
    common: CommonSettings = field(default_factory=CommonSettings)
    shortlist: ShortlistSettings = field(default_factory=ShortlistSettings)
    detect: DetectSettings = field(default_factory=DetectSettings)
    distributed: DistributedSettings = field(default_factory=DistributedSettings)
    crawl: CrawlSettings = field(default_factory=CrawlSettings)
    evidence: EvidenceSettings = field(default_factory=EvidenceSettings)
    provenance: ProvenanceSettings = field(default_factory=ProvenanceSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    pricing: PricingSettings = field(default_factory=PricingSettings)
    enforcement: EnforcementSettings = field(default_factory=EnforcementSettings)
    collectability: CollectabilitySettings = field(default_factory=CollectabilitySettings)
    recipients: RecipientSettings = field(default_factory=RecipientSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    licensing: LicensingSettings = field(default_factory=LicensingSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    portal: PortalSettings = field(default_factory=PortalSettings)
    targets: tuple[Target, ...] = ()
    sources: tuple[SourceConfig, ...] = ()

    def with_embedder(self, spec: str) -> Settings:
        return replace(self, embedder=replace(self.embedder, spec=spec))


SECTIONS = ("embedder", "intake", "index", "match", "common", "shortlist", "detect", "distributed", "crawl", "evidence",
            "provenance", "report", "pricing", "licensing", "enforcement", "collectability",
            "recipients", "smtp", "store", "portal")


def _coerce(where: str, value: Any, kind: Any) -> Any:
    origin = get_origin(kind)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {type(value).__name__}: {value!r}")
        (item,) = get_args(kind)[:1]
        return tuple(_coerce(f"{where}[{i}]", v, item) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table, got {type(value).__name__}: {value!r}")
        _, item = get_args(kind)
        return {k: _coerce(f"{where}.{k}", v, item) for k, v in value.items()}
    if is_dataclass(kind):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table, got {type(value).__name__}")
        return _build(where, kind, value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    ok = isinstance(value, bool) if kind is bool else (isinstance(value, kind) and not isinstance(value, bool))
    if not ok:
        raise ConfigError(
            f"{where} must be {kind.__name__}, got {type(value).__name__}: {value!r}"
        )
    return value


def _subtables_field(cls: type) -> str | None:
    """The field that collects a section's [section.NAME] override tables, if it has one."""
    return next((f.name for f in fields(cls) if f.metadata.get("subtables")), None)


def _checked(where: str, cls: type, data: dict) -> dict:
    """`data`'s settings of `cls`, type-checked; unknown keys are refused."""
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)} - {_subtables_field(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; valid ones: {', '.join(sorted(known))}"
        )
    rules = {f.name: f.metadata for f in fields(cls)}
    return {k: _allowed(f"{where}.{k}", _coerce(f"{where}.{k}", v, hints[k]), rules[k]) for k, v in data.items()}


def _allowed(where: str, value: Any, rule: dict) -> Any:
    """`value`, refused (naming the setting and what it must be) when outside its field's `setting` bounds."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, tuple) else (value,)
    low, high, form = rule.get("low"), rule.get("high"), rule.get("form")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float, str)):
            continue
        if isinstance(item, str):
            if form and not re.fullmatch(form[0], item):
                raise ConfigError(f"{where} must be {form[1]}, got {item!r}")
        elif (low is not None and item < low) or (high is not None and item > high):
            bounds = (f"between {low:g} and {high:g}" if low is not None and high is not None
                      else f"at least {low:g}" if low is not None else f"at most {high:g}")
            raise ConfigError(f"{where} must be {bounds}, got {item!r}")
    return value


def _build(where: str, cls: type, data: dict) -> Any:
    nested = _subtables_field(cls)
    if nested is None:
        return cls(**_checked(where, cls, data))
    # [section.NAME] tables are partial overrides: each is checked like the section, keeping only its keys.
    tables = {k: v for k, v in data.items() if isinstance(v, dict) and k not in get_type_hints(cls)}
    values = _checked(where, cls, {k: v for k, v in data.items() if k not in tables})
    values[nested] = {name: _checked(f"{where}.{name}", cls, table) for name, table in tables.items()}
    return cls(**values)


#: Settings renamed since a release, (section, old name) -> new name: old config files keep working.
RENAMED = {("embedder", "torch_threads"): "threads"}


def current_names(data: dict) -> dict:
    """`data` (a parsed config file) with every renamed setting under its current name."""
    data = dict(data)
    for (section, old), new in RENAMED.items():
        table = data.get(section)
        if isinstance(table, dict) and old in table:
            if new in table:
                raise ConfigError(f"config.{section}: {old} is the old name of {new}; keep only {new}.")
            data[section] = {new if k == old else k: v for k, v in table.items()}
    return data


def from_dict(data: dict) -> Settings:
    return _build("config", Settings, current_names(data))


def load(path: Path) -> Settings:
    """Read `config.toml`; a missing file means all defaults."""
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); fix the line it names.") from e
    return from_dict(data)


def documented_fields() -> list[tuple[str, str, Any, str]]:
    """(section, name, default, help) for every setting, in file order."""
    rows = []
    for section in SECTIONS + ("targets", "sources"):
        cls = {"targets": Target, "sources": SourceConfig}.get(section) or type(getattr(Settings(), section))
        for f in fields(cls):
            default = f.default if f.default is not MISSING else f.default_factory()
            rows.append((section, f.name, default, f.metadata["help"]))
    return rows


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if is_dataclass(value):  # a table in a list (enforcement.rules): only what differs from the defaults
        return toml_value({f.name: getattr(value, f.name) for f in fields(value)
                           if getattr(value, f.name) != getattr(type(value)(), f.name)})
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _toml_key(key: str) -> str:
    return key if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key) else json.dumps(key)


def render_toml(settings: Settings) -> str:
    """The config file a user edits: every setting with its help as a comment."""
    out = ["# copyhound workspace configuration. Every setting is shown with its default.", ""]
    for section in SECTIONS:
        values = getattr(settings, section)
        out.append(f"[{section}]")
        for f in fields(values):
            out.append(f"# {f.metadata['help']}")
            if f.metadata.get("subtables"):
                for name, table in getattr(values, f.name).items():
                    out.append(f"[{section}.{_toml_key(name)}]")
                    out += [f"{k} = {toml_value(v)}" for k, v in table.items()]
                continue
            out.append(f"{f.name} = {toml_value(getattr(values, f.name))}")
        out.append("")
    out += _array_of_tables("targets", Target, settings.targets,
                            "# Sites to crawl on every scan. Copy this block once per site:")
    out += ["", *_array_of_tables("sources", SourceConfig, settings.sources,
                                  "# Discovery sources that find pages beyond the targets (docs/discovery.md). "
                                  "One block per source:")]
    return "\n".join(out) + "\n"


def _array_of_tables(name: str, kind: type, rows, intro: str) -> list[str]:
    """A commented `[[name]]` block with every field's default and help, then one block per configured row."""
    out = [intro, f"# [[{name}]]"]
    for f in fields(kind):
        out.append(f"# {f.name} = {toml_value(f.default if f.default is not MISSING else f.default_factory())}"
                   f"  # {f.metadata['help']}")
    for row in rows:
        out += ["", f"[[{name}]]"]
        out += [f"{f.name} = {toml_value(getattr(row, f.name))}" for f in fields(row)]
    return out
