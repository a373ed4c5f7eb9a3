"""The workspace database's schema, as forward migrations.

`MIGRATIONS[i]` takes a database from version i to i+1; `detector.workspace.store` applies what is
missing when it opens a database, each migration in its own transaction. New features append a
migration; an old one is never edited, since workspaces in the field have already run it.
"""

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE owners (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    legal_name TEXT, address TEXT, email TEXT, phone TEXT, signature TEXT, jurisdiction TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE assets (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    sha256 TEXT NOT NULL,
    filename TEXT NOT NULL,
    title TEXT, creator TEXT, license_url TEXT,
    width INTEGER NOT NULL, height INTEGER NOT NULL,
    format TEXT NOT NULL, frames INTEGER NOT NULL, byte_size INTEGER NOT NULL,
    rights TEXT NOT NULL DEFAULT '{}',
    phash TEXT, dhash TEXT, pdq TEXT, pdq_quality INTEGER,
    registered_at TEXT NOT NULL,
    UNIQUE (owner_id, sha256)
);
CREATE INDEX assets_sha256 ON assets(sha256);

-- Local features cached at registration (detector.features.LocalFeatures.to_bytes()).
CREATE TABLE asset_features (
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (asset_id, kind)
);

-- Embeddings are kept here so `reindex` can rebuild the FAISS index without re-decoding.
CREATE TABLE embeddings (
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    embedder_id TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (asset_id, embedder_id)
);

CREATE TABLE scans (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,            -- running, finished, failed, interrupted
    options TEXT NOT NULL DEFAULT '{}',
    summary TEXT NOT NULL DEFAULT '{}'
);

-- One row per distinct image per page per scan, with its provenance.
CREATE TABLE candidates (
    id INTEGER PRIMARY KEY,
    scan_id INTEGER NOT NULL REFERENCES scans(id),
    target TEXT NOT NULL,
    page_url TEXT NOT NULL,
    page_title TEXT, alt_text TEXT, caption TEXT,
    image_url TEXT NOT NULL,
    final_url TEXT,
    declared_width INTEGER, declared_height INTEGER,
    discovered_at TEXT NOT NULL,
    fetched_at TEXT,
    http_status INTEGER,
    headers TEXT NOT NULL DEFAULT '{}',
    sha256 TEXT, byte_size INTEGER, sniffed_format TEXT,
    warc_file TEXT, warc_offset INTEGER,
    page_warc_file TEXT, page_warc_offset INTEGER,
    state TEXT NOT NULL DEFAULT 'new',   -- new, detected, refused
    refusal_reason TEXT, refusal_detail TEXT,
    detected_at TEXT,
    UNIQUE (scan_id, page_url, image_url)
);
CREATE INDEX candidates_state ON candidates(state);
CREATE INDEX candidates_sha256 ON candidates(sha256);

-- What the crawl refused or could not fetch, with the reason, so nothing fails silently.
CREATE TABLE crawl_events (
    id INTEGER PRIMARY KEY,
    scan_id INTEGER REFERENCES scans(id),
    target TEXT,
    url TEXT NOT NULL,
    page_url TEXT,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX crawl_events_scan ON crawl_events(scan_id);

CREATE TABLE matches (
    id INTEGER PRIMARY KEY,
    asset_id INTEGER NOT NULL REFERENCES assets(id),
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    sha256 TEXT NOT NULL,               -- content of the copy as fetched
    page_url TEXT NOT NULL,
    image_url TEXT NOT NULL,
    candidate_id INTEGER REFERENCES candidates(id),   -- latest sighting
    score REAL NOT NULL,
    decision TEXT NOT NULL,             -- match, review
    signals TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'new', -- new, confirmed, rejected, authorized
    note TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    sightings INTEGER NOT NULL DEFAULT 1,
    reviewed_at TEXT,
    UNIQUE (asset_id, page_url, sha256)
);
CREATE INDEX matches_owner ON matches(owner_id, status);

CREATE TABLE authorized_uses (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    pattern TEXT NOT NULL,              -- a domain (example.com) or a URL prefix
    note TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (owner_id, pattern)
);
"""

_V2 = """
-- Provenance ledger: an append-only hash chain (detector.provenance.ledger). prev_hash is UNIQUE so two
-- writers racing from the same head cannot fork the chain; meta 'ledger_head' holds the newest
-- entry so that deleting the last entries is detectable too.
CREATE TABLE ledger (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,                 -- register, match, review, notice, offer, export
    subject TEXT NOT NULL,              -- asset:ID, match:ID, export
    payload TEXT NOT NULL,              -- canonical JSON
    prev_hash TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX ledger_subject ON ledger(subject);

CREATE TABLE notices (
    id INTEGER PRIMARY KEY,
    match_id INTEGER NOT NULL REFERENCES matches(id),
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    kind TEXT NOT NULL,                 -- dmca, dsa
    created_at TEXT NOT NULL,
    body TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE INDEX notices_match ON notices(match_id);

CREATE TABLE offers (
    id INTEGER PRIMARY KEY,
    match_id INTEGER NOT NULL REFERENCES matches(id),
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    licence TEXT NOT NULL,
    commercial INTEGER NOT NULL,
    currency TEXT NOT NULL,
    amount TEXT NOT NULL,               -- exact decimal string, e.g. '518.40'
    early_amount TEXT NOT NULL,         -- amount if accepted by discount_until
    breakdown TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'draft',   -- draft, sent, accepted, declined, expired
    created_at TEXT NOT NULL,
    discount_until TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    sent_at TEXT, decided_at TEXT,
    letter TEXT NOT NULL
);
CREATE INDEX offers_match ON offers(match_id);
"""

_V3 = """
-- Portal API tokens (detector.tokens): only the SHA-256 of a token is kept, never the token.
-- owner_id NULL marks an admin token, which sees every owner.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    owner_id INTEGER REFERENCES owners(id),
    label TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""

_V_ENFORCEMENT = """
-- Follow-up on rescans (detector.followup): whether each copy is still up at its URL.
ALTER TABLE matches ADD COLUMN presence TEXT NOT NULL DEFAULT 'up';   -- up, changed, removed, unreachable
ALTER TABLE matches ADD COLUMN presence_at TEXT;                      -- when a scan last checked it
ALTER TABLE matches ADD COLUMN presence_detail TEXT;                  -- what that scan saw
ALTER TABLE matches ADD COLUMN unreachable_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE matches ADD COLUMN removed_at TEXT;

-- Every automated action of an enforcement policy (detector.enforcement), for cooling periods and caps.
CREATE TABLE enforcement_actions (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    match_id INTEGER NOT NULL REFERENCES matches(id),
    rule TEXT NOT NULL,
    action TEXT NOT NULL,               -- offer, dmca, dsa, review, ignore
    recipient TEXT,
    at TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX enforcement_actions_match ON enforcement_actions(match_id);
CREATE INDEX enforcement_actions_owner ON enforcement_actions(owner_id, at);

-- Where notices go (detector.recipients): each address found, its source and when it was looked up.
CREATE TABLE recipient_lookups (
    host TEXT NOT NULL,
    source TEXT NOT NULL,               -- override, rdap_ip, rdap_domain, security_txt
    address TEXT NOT NULL,              -- '' when the source had none (cached too)
    detail TEXT NOT NULL,
    country TEXT,                       -- the hosting network's country (rdap_ip)
    looked_up_at TEXT NOT NULL,
    PRIMARY KEY (host, source, address)
);

-- Each e-mail sent (detector.mailer): who got what, the server's answer, or why it failed.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    match_id INTEGER NOT NULL REFERENCES matches(id),
    notice_id INTEGER REFERENCES notices(id),
    offer_id INTEGER REFERENCES offers(id),
    recipient TEXT NOT NULL,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,               -- sent, failed
    response TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX deliveries_match ON deliveries(match_id);
"""


_V_CHECKPOINTS = """
-- Signed ledger checkpoints (detector.provenance.checkpoints). `statement` is the exact canonical JSON
-- that was signed (Ed25519, hex) and time-stamped (RFC 3161 response, DER; NULL without a TSA);
-- `leaves` lists the entry hashes added since the previous checkpoint, so a later rewrite of any
-- entry can be named, while the signed Merkle root shows whether `leaves` itself was edited.
CREATE TABLE ledger_checkpoints (
    id INTEGER PRIMARY KEY,
    tree_size INTEGER NOT NULL,
    statement TEXT NOT NULL,
    signature TEXT NOT NULL,
    tsa_token BLOB,
    leaves TEXT NOT NULL
);
"""

_V_SCREENSHOTS = """
-- The page as it was seen (crawlers.screenshot): a headless-browser screenshot of the page where a
-- match's copy appeared. The PNG is a blob and a WARC resource record; viewport, user agent and
-- time are what the browser used. status 'taken', or 'refused'/'failed' with the reason in detail.
CREATE TABLE screenshots (
    id INTEGER PRIMARY KEY,
    match_id INTEGER NOT NULL REFERENCES matches(id),
    page_url TEXT NOT NULL,
    final_url TEXT,
    status TEXT NOT NULL,
    detail TEXT,
    taken_at TEXT NOT NULL,
    viewport_width INTEGER NOT NULL,
    viewport_height INTEGER NOT NULL,
    user_agent TEXT NOT NULL,
    browser TEXT,
    sha256 TEXT,
    byte_size INTEGER,
    width INTEGER, height INTEGER,
    cut INTEGER NOT NULL DEFAULT 0,
    warc_file TEXT, warc_offset INTEGER, warc_record_id TEXT, warc_digest TEXT
);
CREATE INDEX screenshots_match ON screenshots(match_id);
"""


_V_LICENSING = """
-- Licensing (detector.licensing): money in integer minor units (cents). Offers written before this
-- migration keep their decimal strings; their minor-unit columns are filled from them here.
ALTER TABLE offers ADD COLUMN amount_minor INTEGER;
ALTER TABLE offers ADD COLUMN early_amount_minor INTEGER;
UPDATE offers SET amount_minor = CAST(ROUND(CAST(amount AS REAL) * 100) AS INTEGER),
                  early_amount_minor = CAST(ROUND(CAST(early_amount AS REAL) * 100) AS INTEGER);
-- The price on the table after negotiation (NULL: the quoted amount, early or not, applies).
ALTER TABLE offers ADD COLUMN standing_minor INTEGER;
ALTER TABLE offers ADD COLUMN viewed_at TEXT;
ALTER TABLE offers ADD COLUMN paid_at TEXT;

-- The public offer page's link: a random nonce, signed; revoking it kills the link for good.
CREATE TABLE offer_links (
    id INTEGER PRIMARY KEY,
    offer_id INTEGER NOT NULL REFERENCES offers(id),
    nonce TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX offer_links_offer ON offer_links(offer_id);

-- Counter-offers made on the page and the answer given to each.
CREATE TABLE counter_offers (
    id INTEGER PRIMARY KEY,
    offer_id INTEGER NOT NULL REFERENCES offers(id),
    amount_minor INTEGER NOT NULL,
    answer TEXT NOT NULL,               -- accepted, proposed, stands
    answer_minor INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX counter_offers_offer ON counter_offers(offer_id);

-- Who accepted an offer, the exact terms and price, and the invoice it produced.
CREATE TABLE acceptances (
    offer_id INTEGER PRIMARY KEY REFERENCES offers(id),
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    name TEXT NOT NULL, organisation TEXT, email TEXT NOT NULL,
    ip TEXT, user_agent TEXT,
    terms TEXT NOT NULL,                -- JSON
    amount_minor INTEGER NOT NULL,
    invoice_seq INTEGER NOT NULL,
    invoice_number TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    UNIQUE (owner_id, invoice_seq)
);

-- Contributors' shares of a work, each set in force from its date until the next one.
CREATE TABLE contributor_shares (
    id INTEGER PRIMARY KEY,
    asset_id INTEGER NOT NULL REFERENCES assets(id),
    effective_from TEXT NOT NULL,       -- YYYY-MM-DD
    shares TEXT NOT NULL,               -- JSON [[name, weight], ...], in the order given
    recorded_at TEXT NOT NULL
);
CREATE INDEX contributor_shares_asset ON contributor_shares(asset_id, effective_from);

CREATE TABLE payments (
    id INTEGER PRIMARY KEY,
    offer_id INTEGER NOT NULL REFERENCES offers(id),
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    currency TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    reference TEXT,
    source TEXT NOT NULL,               -- owner, webhook
    received_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX payments_offer ON payments(offer_id);

-- How each payment was divided: the agency commission (contributor NULL) and each contributor's part.
CREATE TABLE payment_splits (
    id INTEGER PRIMARY KEY,
    payment_id INTEGER NOT NULL REFERENCES payments(id),
    contributor TEXT,
    share TEXT NOT NULL,                -- the weight as given, e.g. '60'
    amount_minor INTEGER NOT NULL
);
CREATE INDEX payment_splits_payment ON payment_splits(payment_id);

-- A paid licence: its domain is an authorised use of its work until ends_at.
CREATE TABLE licences (
    id INTEGER PRIMARY KEY,
    offer_id INTEGER NOT NULL UNIQUE REFERENCES offers(id),
    asset_id INTEGER NOT NULL REFERENCES assets(id),
    domain TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL
);
CREATE INDEX licences_asset ON licences(asset_id);

-- Payment-provider webhook events already taken, so a replayed request is refused.
CREATE TABLE webhook_events (
    event_id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
);
"""

_V_CONTENT_CREDENTIALS = """
-- Content Credentials (detector.credentials): the C2PA manifest read from a registered
-- file at registration and from a captured copy at detection, as JSON ('{}' when the file carries
-- none; NULL when it was never read, as for works registered before this migration).
ALTER TABLE assets ADD COLUMN credentials TEXT;
ALTER TABLE candidates ADD COLUMN credentials TEXT;
"""

_V_CASEWORK = """
-- A delivery the server accepted that bounced later (detector.enforcement.bounces): status 'bounced',
-- when the report says it failed, and what it said.
ALTER TABLE deliveries ADD COLUMN bounced_at TEXT;
ALTER TABLE deliveries ADD COLUMN bounce TEXT;
CREATE INDEX deliveries_message_id ON deliveries(message_id);

-- Pricing overrides an owner set in the portal (detector.licensing.owner_pricing): a JSON object of
-- [pricing] settings laid over config.toml's.
CREATE TABLE owner_pricing (
    owner_id INTEGER PRIMARY KEY REFERENCES owners(id),
    pricing TEXT NOT NULL
);

-- Policy rules an owner keeps in the portal (detector.enforcement.owner_rules), tried in `position`
-- order before config.toml's; `rule` is a JSON object of PolicyRule fields.
CREATE TABLE owner_rules (
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    position INTEGER NOT NULL,
    rule TEXT NOT NULL,
    PRIMARY KEY (owner_id, position)
);
"""

_V_WORK_NEGOTIATION = """
-- A work's own negotiation rules (detector.licensing.work_rules), overriding its owner's [licensing]
-- floor_percent and accept_percent; NULL: the owner's. The newest row of a work is in force.
CREATE TABLE work_negotiation (
    id INTEGER PRIMARY KEY,
    asset_id INTEGER NOT NULL REFERENCES assets(id),
    floor_percent REAL,
    accept_percent REAL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX work_negotiation_asset ON work_negotiation(asset_id);
"""

_V_POSTGRESQL = """
-- The order in which a lookup found its addresses (detector.enforcement.recipients), which SQLite's
-- rowid gave before and PostgreSQL has no equivalent of. Rows cached before this migration are 0.
ALTER TABLE recipient_lookups ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
"""

_V_CLAIMS = """
-- An automated action is claimed (state 'claimed') in the transaction that checks it was not yet taken,
-- before anything is sent, and marked 'done' once its e-mail went out or failed (detector.enforcement.run),
-- so two enforce runs on one database cannot both send it. Rows written before this migration are 'done'.
ALTER TABLE enforcement_actions ADD COLUMN state TEXT NOT NULL DEFAULT 'done';

-- How many times the queue delivered a candidate's detection task (detector.distributed.worker); one
-- that kills its worker every time is parked as state 'failed' after distributed.max_deliveries.
ALTER TABLE candidates ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 0;
"""

_V_SOURCES = """
-- Discovery (detector.sources): each run of a source, the leads it found, and on every candidate the
-- lead that brought it. A run's `cursor` is where the source resumes next time (JSON); `budget_used`
-- counts the paid queries it spent. `lead_url` is the start URL the crawler reached the candidate
-- from; `lead_id` the lead row, linked once the crawl is over (or at once by sources read offline).
CREATE TABLE source_runs (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    type TEXT NOT NULL,
    scan_id INTEGER REFERENCES scans(id),
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,                -- running, finished, failed, dry
    leads INTEGER NOT NULL DEFAULT 0,
    budget_used INTEGER NOT NULL DEFAULT 0,
    cursor TEXT,
    detail TEXT
);
CREATE INDEX source_runs_source ON source_runs(source, id);
CREATE INDEX source_runs_scan ON source_runs(scan_id);

CREATE TABLE leads (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES source_runs(id),
    source TEXT NOT NULL,
    url TEXT NOT NULL,
    kind TEXT NOT NULL,                  -- page, image
    found_by TEXT NOT NULL,
    why TEXT NOT NULL,
    provenance TEXT NOT NULL DEFAULT '{}',
    found_at TEXT NOT NULL
);
CREATE INDEX leads_source_url ON leads(source, url);
CREATE INDEX leads_run ON leads(run_id);

ALTER TABLE candidates ADD COLUMN lead_url TEXT;
ALTER TABLE candidates ADD COLUMN lead_id INTEGER REFERENCES leads(id);
"""

_V_CREDITS = """
-- Where an owner's works are licensed (detector.enforcement.licensed): stock agencies by name, the
-- photographer's names as credited, and URL prefixes of agency contributor pages or previews; for one
-- work (asset_id) or all the owner's works (NULL). Licensees' domains stay in authorized_uses.
CREATE TABLE licensed_sources (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES owners(id),
    asset_id INTEGER REFERENCES assets(id),
    kind TEXT NOT NULL,                  -- agency, photographer, url
    value TEXT NOT NULL,
    note TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX licensed_sources_owner ON licensed_sources(owner_id);

-- The credit check of a match (detector.enforcement.credits): the credits its page, image URL or the
-- copy's own metadata gave, as seen on sighting candidate_id (a later sighting is checked again).
CREATE TABLE credit_checks (
    match_id INTEGER PRIMARY KEY REFERENCES matches(id),
    candidate_id INTEGER,
    findings TEXT NOT NULL,              -- JSON list, [] when no credit was found
    checked_at TEXT NOT NULL
);

-- A match held for the owner (detector.enforcement.holds): kind 'credit' (credited on the page) or
-- 'flood' (its work matched on too many sites at once). No automated action is taken on it until the
-- owner releases it (released_at).
CREATE TABLE match_holds (
    id INTEGER PRIMARY KEY,
    match_id INTEGER NOT NULL REFERENCES matches(id),
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    held_at TEXT NOT NULL,
    released_at TEXT,
    released_by TEXT,
    UNIQUE (match_id, kind)
);

-- Images an owner marked "not mine / not a copy" of a work (detector.negatives): detection does not
-- flag the same content (SHA-256), nor a near-identical one (pHash), for that work again.
CREATE TABLE negatives (
    id INTEGER PRIMARY KEY,
    asset_id INTEGER NOT NULL REFERENCES assets(id),
    sha256 TEXT NOT NULL,
    phash TEXT,
    match_id INTEGER REFERENCES matches(id),
    note TEXT,
    actor TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (asset_id, sha256)
);
"""

_V_COLLECT = """
-- Collectability triage (detector.collectability): each match's latest score in [0, 1] with its
-- factors (JSON: name, value, weight, reason), and each site's hosting country from RDAP, cached.
CREATE TABLE collectability (
    match_id INTEGER PRIMARY KEY REFERENCES matches(id),
    score REAL NOT NULL,
    factors TEXT NOT NULL DEFAULT '[]',
    assessed_at TEXT NOT NULL
);
CREATE INDEX collectability_score ON collectability(score);

CREATE TABLE hosting_countries (
    host TEXT PRIMARY KEY,
    country TEXT,                        -- ISO 3166 code from the network's RDAP record (NULL: none found)
    detail TEXT NOT NULL,                -- where it came from, or why there is none
    looked_up_at TEXT NOT NULL
);
"""

_V_FIRSTHOUR = """
-- Why an offer was kept as a draft rather than sent (its page unreachable, no way to pay, its e-mail
-- refused, or a person asked for a draft); shown where drafts are listed, and written to the ledger.
ALTER TABLE offers ADD COLUMN draft_reason TEXT;
"""

_V_SIGNALS = """
-- Rights signals (detector.site_rights): what the copy's page and site declared of text-and-data mining and
-- AI use when it was captured (crawlers.site_rights: TDMRep headers, meta tags and tdmrep.json, X-Robots-Tag
-- and meta robots, robots.txt rules for AI crawlers), as JSON; NULL for candidates captured before it.
ALTER TABLE candidates ADD COLUMN site_rights TEXT;
"""

_V_REUSE = """
-- Contents analysed as copying nothing (detector.reuse): a content (SHA-256) whose analysis found no work and
-- was not refused, under one detection key (the registered works' index checksums, the settings that decide
-- detection and the software's versions). A later scan records a sighting of that content under the same key
-- as a non-copy without decoding it again; any other key analyses it afresh. `cascade_exit` is where the
-- analysis stopped (detector.cascade).
CREATE TABLE non_copies (
    sha256 TEXT NOT NULL,
    detection_key TEXT NOT NULL,
    analysed_at TEXT NOT NULL,
    cascade_exit TEXT NOT NULL,
    PRIMARY KEY (sha256, detection_key)
);
CREATE INDEX non_copies_key ON non_copies(detection_key);

-- How detection went for each sighting (JSON): the cascade's exit and counts, or, for a content whose earlier
-- non-copy analysis was reused, exit 'reused' with when it was analysed and where it stopped then.
ALTER TABLE candidates ADD COLUMN detection TEXT;
"""

MIGRATIONS: list[str] = [_V1, _V2, _V3, _V_ENFORCEMENT, _V_CHECKPOINTS, _V_SCREENSHOTS, _V_LICENSING,
                         _V_CONTENT_CREDENTIALS, _V_CASEWORK, _V_WORK_NEGOTIATION, _V_POSTGRESQL, _V_CLAIMS,
                         _V_SOURCES, _V_CREDITS, _V_COLLECT, _V_FIRSTHOUR, _V_SIGNALS, _V_REUSE]
SCHEMA_VERSION = len(MIGRATIONS)
