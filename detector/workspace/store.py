"""The workspace database: the only module that talks SQLite (through sqlite-utils).

Opening a store applies the schema migrations it lacks (`detector.workspace.schema`). WAL mode lets the
portal read while a scan writes. Every multi-row write runs inside `Store.atomic()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import sqlite_utils

from detector.errors import NotFound, UsageError
from detector.workspace.schema import MIGRATIONS, SCHEMA_VERSION


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _json_columns(row: dict, names: Iterable[str]) -> dict:
    for name in names:
        if isinstance(row.get(name), str):
            row[name] = json.loads(row[name])
    return row


class Store:
    """Typed access to the workspace database. Rows come back as plain dicts."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.db = sqlite_utils.Database(self.path)
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.enable_wal()
        self.db.register_function(_url_host, name="url_host", deterministic=True)
        self._migrate()

    def close(self) -> None:
        self.db.close()

    # -- schema ------------------------------------------------------------------------------

    def schema_version(self) -> int:
        if "meta" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path} has schema version {current}, newer than this copyhound "
                f"understands ({SCHEMA_VERSION}). Upgrade copyhound to open it."
            )
        for version in range(current, SCHEMA_VERSION):
            with self.db.atomic():
                for statement in _statements(MIGRATIONS[version]):
                    self.db.execute(statement)
                self.set_meta("schema_version", str(version + 1))

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self.db.atomic():
            yield

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    # -- owners ------------------------------------------------------------------------------

    def ensure_owner(self, name: str) -> dict:
        name = name.strip()
        if not name:
            raise UsageError("Owner name is empty; give one with --owner NAME.")
        row = self.db.execute("SELECT id FROM owners WHERE name = ?", [name]).fetchone()
        if row is None:
            self.db["owners"].insert({"name": name, "created_at": utc_now()})
        return self.owner_by_name(name)

    def owner_by_name(self, name: str) -> dict:
        rows = list(self.db["owners"].rows_where("name = ?", [name]))
        if not rows:
            known = ", ".join(r["name"] for r in self.db["owners"].rows) or "none yet"
            raise NotFound(f"No owner named {name!r}; known owners: {known}.")
        return rows[0]

    def owner(self, owner_id: int) -> dict:
        return self.db["owners"].get(owner_id)

    def update_owner(self, owner_id: int, **fields) -> dict:
        self.db["owners"].update(owner_id, fields)
        return self.owner(owner_id)

    def owners(self) -> list[dict]:
        return list(self.db["owners"].rows_where(order_by="name"))

    # -- assets ------------------------------------------------------------------------------

    def asset_by_sha(self, owner_id: int, sha256: str) -> dict | None:
        rows = list(self.db["assets"].rows_where("owner_id = ? AND sha256 = ?", [owner_id, sha256]))
        return _json_columns(rows[0], ["rights"]) if rows else None

    def add_asset(self, record: dict, features: dict[str, bytes], embedding: tuple[str, bytes] | None) -> int:
        """Insert one asset with its cached local features and embedding, all or nothing."""
        record = dict(record, rights=json.dumps(record.get("rights") or {}, sort_keys=True))
        with self.db.atomic():
            asset_id = self.db["assets"].insert(dict(record, registered_at=utc_now())).last_pk
            for kind, data in features.items():
                self.db["asset_features"].insert({"asset_id": asset_id, "kind": kind, "data": data})
            if embedding is not None:
                embedder_id, vector = embedding
                self.db["embeddings"].insert(
                    {"asset_id": asset_id, "embedder_id": embedder_id, "vector": vector}
                )
        return asset_id

    def asset(self, asset_id: int, owner_id: int | None = None) -> dict:
        """One asset; NotFound when missing or (with owner_id) when it belongs to someone else."""
        where, params = "assets.id = ?", [asset_id]
        if owner_id is not None:
            where, params = where + " AND assets.owner_id = ?", params + [owner_id]
        rows = self.assets(where=where, params=params)
        if not rows:
            raise NotFound(f"No asset with id {asset_id}; list them with `copyhound assets`.")
        return rows[0]

    def assets(self, where: str = "1", params: list | None = None) -> list[dict]:
        sql = (
            "SELECT assets.*, owners.name AS owner FROM assets JOIN owners ON owners.id = assets.owner_id "
            f"WHERE {where} ORDER BY assets.id"
        )
        return [_json_columns(r, ["rights"]) for r in self.db.query(sql, params or [])]

    def asset_features(self, asset_id: int, kind: str) -> bytes | None:
        row = self.db.execute(
            "SELECT data FROM asset_features WHERE asset_id = ? AND kind = ?", [asset_id, kind]
        ).fetchone()
        return row[0] if row else None

    # -- scale: the local-feature shortlist index ---------------------------------------------

    def asset_ids_with_features(self, kind: str) -> list[int]:
        """Ids of the works whose local features of `kind` are cached, in id order."""
        return [r[0] for r in self.db.execute(
            "SELECT asset_id FROM asset_features WHERE kind = ? ORDER BY asset_id", [kind]).fetchall()]

    def embeddings(self, embedder_id: str) -> list[tuple[int, bytes]]:
        return list(
            self.db.execute(
                "SELECT asset_id, vector FROM embeddings WHERE embedder_id = ? ORDER BY asset_id",
                [embedder_id],
            ).fetchall()
        )

    def embedder_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT embedder_id FROM embeddings").fetchall()]

    def replace_embeddings(self, embedder_id: str, rows: list[tuple[int, bytes]]) -> None:
        with self.db.atomic():
            self.db.execute("DELETE FROM embeddings")
            for asset_id, vector in rows:
                self.db["embeddings"].insert(
                    {"asset_id": asset_id, "embedder_id": embedder_id, "vector": vector}
                )

    def hashes(self) -> list[dict]:
        return list(self.db.query("SELECT id, phash, dhash, pdq FROM assets ORDER BY id"))


    # -- scans, candidates, crawl events -----------------------------------------------------

    def start_scan(self, options: dict) -> int:
        return self.db["scans"].insert(
            {"started_at": utc_now(), "status": "running", "options": json.dumps(options, sort_keys=True)}
        ).last_pk

    def finish_scan(self, scan_id: int, status: str, summary: dict) -> None:
        self.db["scans"].update(
            scan_id,
            {"finished_at": utc_now(), "status": status, "summary": json.dumps(summary, sort_keys=True)},
        )

    def scan(self, scan_id: int) -> dict:
        rows = list(self.db["scans"].rows_where("id = ?", [scan_id]))
        if not rows:
            raise NotFound(f"No scan with id {scan_id}; list them with `copyhound scans`.")
        return _json_columns(rows[0], ["options", "summary"])

    def scans(self, limit: int = 20) -> list[dict]:
        rows = self.db["scans"].rows_where(order_by="id DESC", limit=limit)
        return [_json_columns(r, ["options", "summary"]) for r in rows]

    def add_candidate(self, record: dict) -> int | None:
        """Record one sighting; returns its id, or None when this scan already holds it (a resumed crawl)."""
        record = dict(record, headers=json.dumps(record.get("headers") or {}, sort_keys=True))
        cursor = self.db.execute(
            f"INSERT OR IGNORE INTO candidates ({', '.join(record)}) VALUES ({', '.join('?' for _ in record)})",
            list(record.values()),
        )
        return cursor.lastrowid if cursor.rowcount else None

    def candidate(self, candidate_id: int) -> dict:
        rows = list(self.db["candidates"].rows_where("id = ?", [candidate_id]))
        if not rows:
            raise NotFound(f"No candidate with id {candidate_id}.")
        return _json_columns(rows[0], ["headers"])

    def candidates(self, where: str = "1", params: list | None = None) -> list[dict]:
        rows = self.db["candidates"].rows_where(where, params or [], order_by="id")
        return [_json_columns(r, ["headers"]) for r in rows]

    def update_candidate(self, candidate_id: int, **fields) -> None:
        self.db["candidates"].update(candidate_id, fields)

    def add_crawl_event(self, scan_id: int | None, target: str | None, url: str, reason: str,
                        detail: str, page_url: str | None = None) -> None:
        self.db["crawl_events"].insert(
            {"scan_id": scan_id, "target": target, "url": url, "page_url": page_url,
             "reason": reason, "detail": detail, "at": utc_now()}
        )

    def crawl_events(self, scan_id: int) -> list[dict]:
        return list(self.db["crawl_events"].rows_where("scan_id = ?", [scan_id], order_by="id"))


    # -- matches -----------------------------------------------------------------------------

    def record_match(self, *, asset: dict, candidate: dict, score: float, decision: str,
                     signals: dict, status: str = "new") -> tuple[int, bool]:
        """Insert a match, or count one more sighting of a known (asset, page, content) use.

        Returns (match id, created). A repeat sighting refreshes score, signals and last_seen but
        keeps the reviewer's status: a rejected match stays rejected.
        """
        now = utc_now()
        key = [asset["id"], candidate["page_url"], candidate["sha256"]]
        existing = self.db.execute(
            "SELECT id, candidate_id FROM matches WHERE asset_id = ? AND page_url = ? AND sha256 = ?", key
        ).fetchone()
        if existing is not None:
            match_id, last_candidate = existing
            if last_candidate == candidate["id"]:  # the same sighting detected again (a resumed scan)
                return match_id, False
            self.db.execute(
                "UPDATE matches SET candidate_id = ?, score = ?, decision = ?, signals = ?, "
                "last_seen = ?, sightings = sightings + 1, image_url = ? WHERE id = ?",
                [candidate["id"], score, decision, json.dumps(signals, sort_keys=True), now,
                 candidate["image_url"], match_id],
            )
            return match_id, False
        match_id = self.db["matches"].insert({
            "asset_id": asset["id"], "owner_id": asset["owner_id"], "sha256": candidate["sha256"],
            "page_url": candidate["page_url"], "image_url": candidate["image_url"],
            "candidate_id": candidate["id"], "score": score, "decision": decision,
            "signals": json.dumps(signals, sort_keys=True), "status": status,
            "first_seen": now, "last_seen": now, "sightings": 1,
        }).last_pk
        return match_id, True

    _MATCH_SELECT = (
        "SELECT matches.*, assets.filename AS asset_filename, assets.title AS asset_title, "
        "owners.name AS owner FROM matches "
        "JOIN assets ON assets.id = matches.asset_id JOIN owners ON owners.id = matches.owner_id "
    )

    def matches(self, where: str = "1", params: list | None = None, limit: int | None = None,
                offset: int = 0) -> list[dict]:
        sql = self._MATCH_SELECT + f"WHERE {where} ORDER BY matches.id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [_json_columns(r, ["signals"]) for r in self.db.query(sql, params or [])]

    def find_matches(self, filters: MatchFilter, limit: int | None = None, offset: int = 0) -> tuple[list[dict], int]:
        """Matches passing `filters` (one page of them) and how many pass in all."""
        where, params = filters.sql()
        total = self.db.execute(
            f"SELECT count(*) FROM matches JOIN owners ON owners.id = matches.owner_id WHERE {where}", params
        ).fetchone()[0]
        return self.matches(where, params, limit=limit, offset=offset), total

    def match(self, match_id: int, owner_id: int | None = None) -> dict:
        """One match; NotFound when missing or (with owner_id) when it belongs to someone else."""
        where, params = "matches.id = ?", [match_id]
        if owner_id is not None:
            where, params = where + " AND matches.owner_id = ?", params + [owner_id]
        rows = self.matches(where, params)
        if not rows:
            raise NotFound(f"No match with id {match_id}; list them with `copyhound matches`.")
        return rows[0]

    def set_match_status(self, match_id: int, status: str, note: str | None) -> dict:
        self.db["matches"].update(match_id, {"status": status, "note": note, "reviewed_at": utc_now()})
        return self.match(match_id)

    def add_authorized_use(self, owner_id: int, pattern: str, note: str | None) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO authorized_uses(owner_id, pattern, note, created_at) VALUES (?, ?, ?, ?)",
            [owner_id, pattern, note, utc_now()],
        )

    def authorized_uses(self, owner_id: int) -> list[dict]:
        return list(self.db["authorized_uses"].rows_where("owner_id = ?", [owner_id], order_by="id"))

    # -- evidence ----------------------------------------------------------------------------

    def ledger_head(self) -> dict | None:
        """The newest ledger entry as recorded in meta ({'seq', 'hash'}), or None before the first."""
        value = self.get_meta("ledger_head")
        return json.loads(value) if value else None

    def append_ledger_row(self, row: dict, head: dict | None) -> None:
        """Insert one ledger row and move the head, in one transaction, if the head is still `head`."""
        with self.db.atomic():
            if self.ledger_head() != head:
                raise UsageError("The ledger moved while an entry was being written; run the command again.")
            self.db["ledger"].insert(row)
            self.set_meta("ledger_head", json.dumps({"seq": row["seq"], "hash": row["hash"]}))

    def ledger_rows(self, subjects: list[str] | None = None) -> list[dict]:
        """Ledger rows in seq order; only those about `subjects` when given."""
        if subjects is None:
            return list(self.db.query("SELECT * FROM ledger ORDER BY seq"))
        marks = ", ".join("?" for _ in subjects)
        return list(self.db.query(f"SELECT * FROM ledger WHERE subject IN ({marks}) ORDER BY seq", subjects))

    def add_notice(self, record: dict) -> int:
        return self.db["notices"].insert(record).last_pk

    def notices(self, match_ids: list[int]) -> list[dict]:
        marks = ", ".join("?" for _ in match_ids)
        return list(self.db.query(f"SELECT * FROM notices WHERE match_id IN ({marks}) ORDER BY id", match_ids))

    def add_offer(self, record: dict) -> int:
        return self.db["offers"].insert(dict(record, breakdown=json.dumps(record["breakdown"]))).last_pk

    def offer(self, offer_id: int, owner_id: int | None = None) -> dict:
        """One offer; NotFound when missing or (with owner_id) when it belongs to someone else."""
        where, params = "id = ?", [offer_id]
        if owner_id is not None:
            where, params = where + " AND owner_id = ?", params + [owner_id]
        rows = list(self.db["offers"].rows_where(where, params))
        if not rows:
            raise NotFound(f"No offer with id {offer_id}; offers are listed in each match's bundle and report.")
        return _json_columns(rows[0], ["breakdown"])

    def offers(self, match_ids: list[int]) -> list[dict]:
        marks = ", ".join("?" for _ in match_ids)
        rows = self.db.query(f"SELECT * FROM offers WHERE match_id IN ({marks}) ORDER BY id", match_ids)
        return [_json_columns(r, ["breakdown"]) for r in rows]

    def update_offer(self, offer_id: int, **fields) -> dict:
        self.db["offers"].update(offer_id, fields)
        return self.offer(offer_id)

    # -- portal --------------------------------------------------------------------------------

    def add_api_token(self, token_hash: str, owner_id: int | None, label: str | None) -> int:
        return self.db["api_tokens"].insert(
            {"token_hash": token_hash, "owner_id": owner_id, "label": label, "created_at": utc_now()}
        ).last_pk

    _TOKEN_SELECT = ("SELECT api_tokens.*, owners.name AS owner FROM api_tokens "
                     "LEFT JOIN owners ON owners.id = api_tokens.owner_id ")

    def api_token_by_hash(self, token_hash: str) -> dict | None:
        """The token row with this hash (revoked or not), or None."""
        rows = list(self.db.query(self._TOKEN_SELECT + "WHERE token_hash = ?", [token_hash]))
        return rows[0] if rows else None

    def api_token(self, token_id: int) -> dict:
        rows = list(self.db.query(self._TOKEN_SELECT + "WHERE api_tokens.id = ?", [token_id]))
        if not rows:
            raise NotFound(f"No API token with id {token_id}; list them with `copyhound tokens list`.")
        return rows[0]

    def api_tokens(self) -> list[dict]:
        return list(self.db.query(self._TOKEN_SELECT + "ORDER BY api_tokens.id"))

    def revoke_api_token(self, token_id: int) -> dict:
        """Mark a token revoked (once; revoking again keeps the first time)."""
        self.api_token(token_id)
        self.db.execute("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                        [utc_now(), token_id])
        return self.api_token(token_id)

    def count_assets(self, where: str = "1", params: list | None = None) -> int:
        sql = f"SELECT count(*) FROM assets JOIN owners ON owners.id = assets.owner_id WHERE {where}"
        return self.db.execute(sql, params or []).fetchone()[0]

    def assets_page(self, where: str, params: list, limit: int, offset: int) -> list[dict]:
        sql = (
            "SELECT assets.*, owners.name AS owner FROM assets JOIN owners ON owners.id = assets.owner_id "
            f"WHERE {where} ORDER BY assets.id LIMIT ? OFFSET ?"
        )
        return [_json_columns(r, ["rights"]) for r in self.db.query(sql, list(params) + [limit, offset])]

    def match_status_counts(self, owner_id: int | None) -> dict[str, int]:
        """Matches per review status, for one owner or (None) all of them."""
        where, params = ("owner_id = ?", [owner_id]) if owner_id is not None else ("1", [])
        rows = self.db.execute(f"SELECT status, count(*) FROM matches WHERE {where} GROUP BY status", params)
        return dict(rows.fetchall())

    def count_scans(self) -> int:
        return self.db.execute("SELECT count(*) FROM scans").fetchone()[0]

    def scans_page(self, limit: int, offset: int) -> list[dict]:
        rows = self.db["scans"].rows_where(order_by="id DESC", limit=limit, offset=offset)
        return [_json_columns(r, ["options", "summary"]) for r in rows]

    def _owned(self, table: str, owner_id: int | None, match_id: int | None) -> tuple[str, list]:
        clauses, params = ["1"], []
        if owner_id is not None:
            clauses.append(f"{table}.owner_id = ?")
            params.append(owner_id)
        if match_id is not None:
            clauses.append(f"{table}.match_id = ?")
            params.append(match_id)
        return " AND ".join(clauses), params

    def notices_page(self, owner_id: int | None, match_id: int | None, limit: int,
                     offset: int) -> tuple[list[dict], int]:
        """Notices (newest first) of one owner (None: all), optionally of one match; and their total."""
        where, params = self._owned("notices", owner_id, match_id)
        total = self.db.execute(f"SELECT count(*) FROM notices WHERE {where}", params).fetchone()[0]
        rows = self.db.query(f"SELECT * FROM notices WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                             params + [limit, offset])
        return list(rows), total

    def notice(self, notice_id: int, owner_id: int | None = None) -> dict:
        """One notice; NotFound when missing or (with owner_id) when it belongs to someone else."""
        where, params = self._owned("notices", owner_id, None)
        rows = list(self.db.query(f"SELECT * FROM notices WHERE id = ? AND {where}", [notice_id] + params))
        if not rows:
            raise NotFound(f"No notice with id {notice_id}; notices are listed under each match.")
        return rows[0]

    def offers_page(self, owner_id: int | None, match_id: int | None, limit: int,
                    offset: int) -> tuple[list[dict], int]:
        """Offers (newest first) of one owner (None: all), optionally of one match; and their total."""
        where, params = self._owned("offers", owner_id, match_id)
        total = self.db.execute(f"SELECT count(*) FROM offers WHERE {where}", params).fetchone()[0]
        rows = self.db.query(f"SELECT * FROM offers WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                             params + [limit, offset])
        return [_json_columns(r, ["breakdown"]) for r in rows], total



MATCH_STATUSES = ("new", "confirmed", "rejected", "authorized")
DECISIONS = ("match", "review")


@dataclass(frozen=True)
class MatchFilter:
    """The filters of `copyhound matches` and the portal's match list, validated on construction."""

    owner: str | None = None
    owner_id: int | None = None
    asset: int | None = None
    status: str | None = None
    decision: str | None = None
    since: str | None = None
    min_score: float | None = None
    domain: str | None = None

    def __post_init__(self):
        if self.status is not None and self.status not in MATCH_STATUSES:
            raise UsageError(f"status {self.status!r} is not known; use one of: {', '.join(MATCH_STATUSES)}.")
        if self.decision is not None and self.decision not in DECISIONS:
            raise UsageError(f"decision {self.decision!r} is not known; use one of: {', '.join(DECISIONS)}.")
        if self.min_score is not None and not 0 <= self.min_score <= 1:
            raise UsageError(f"min_score must be between 0 and 1; got {self.min_score}.")
        if self.since is not None:
            try:
                datetime.fromisoformat(self.since)
            except ValueError:
                raise UsageError(
                    f"since {self.since!r} is not a date; use YYYY-MM-DD or an ISO 8601 time."
                ) from None

    def sql(self) -> tuple[str, list]:
        clauses, params = ["1"], []
        for column, value in (("owners.name", self.owner), ("matches.owner_id", self.owner_id),
                              ("matches.asset_id", self.asset), ("matches.status", self.status),
                              ("matches.decision", self.decision)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            clauses.append("matches.last_seen >= ?")
            params.append(self.since)
        if self.min_score is not None:
            clauses.append("matches.score >= ?")
            params.append(self.min_score)
        if self.domain is not None:
            domain = self.domain.strip().lower()
            clauses.append("(url_host(matches.page_url) = ? OR url_host(matches.page_url) LIKE ?)")
            params += [domain, "%." + domain]
        return " AND ".join(clauses), params


def _url_host(url: str | None) -> str:
    return (urlsplit(url or "").hostname or "").lower()


def _statements(script: str) -> list[str]:
    """Split a migration into statements (no semicolons occur inside our string literals)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
