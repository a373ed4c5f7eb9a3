"""The workspace database: the only module that talks SQL, to SQLite or to PostgreSQL.

One `Store` class with one copy of each method's SQL serves both backends. `Store(path)` opens the
workspace's SQLite file through sqlite-utils (the embedded default); `Store("postgresql://...")`
opens a PostgreSQL database through `detector.workspace.postgres.PostgresDatabase`, which answers
the same few sqlite-utils calls (`db.execute`, `db.query`, `db[table].insert/get/update/...`,
`db.atomic`). sqlite-utils stays for SQLite because it is the well-kept library the rest already
knows; the PostgreSQL side copies its small surface instead of wrapping both in a third API.
Methods write SQLite's SQL with `?` placeholders, portably where SQL allows (`ON CONFLICT DO
NOTHING`, `RETURNING`, `CASE`); `detector.workspace.dialect` translates the rest (placeholders,
literal `%`, `WHERE 1`, `INSERT OR IGNORE`) and the migrations' column types. Not portable and so
not to be used in a method: `cursor.lastrowid` (use `RETURNING id` or `db[table].insert().last_pk`),
`INSERT OR REPLACE` (use `ON CONFLICT (...) DO UPDATE`), `rowid`, SQLite's date functions, and
booleans summed (`sum(CASE WHEN ... THEN 1 ELSE 0 END)`). `open_store(ws)` opens the store that a
workspace's `[store] url` setting names (empty: its SQLite file); everything opens stores that way.

Opening a store applies the schema migrations it lacks (`detector.workspace.schema`). On SQLite, WAL
mode lets the portal read while a scan writes. Every multi-row write runs inside `Store.atomic()`,
which takes the write lock up front (`BEGIN IMMEDIATE`; on PostgreSQL, one advisory lock): a
transaction that reads and then writes would otherwise be refused at once ("database is locked",
busy timeout or not) whenever another connection wrote in between, because SQLite cannot upgrade a
stale read snapshot to a write.

A database file that is empty or not SQLite is refused (`DatabaseUnusable`) rather than silently
re-initialised, and `database_fault` turns SQLite's corruption errors into one line with the remedy.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import sqlite_utils

from detector.errors import DatabaseUnusable, NotFound, UsageError
from detector.workspace.dialect import URL_HOST_FUNCTION, postgres_migration
from detector.workspace.home import Workspace
from detector.workspace.postgres import PostgresDatabase, is_postgres_url, redacted
from detector.workspace.schema import MIGRATIONS, SCHEMA_VERSION


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _json_columns(row: dict, names: Iterable[str]) -> dict:
    for name in names:
        if isinstance(row.get(name), str):
            row[name] = json.loads(row[name])
    return row


#: Raised by SQLite for a damaged or foreign database file (and its subclasses for other faults).
DatabaseError = sqlite3.DatabaseError

_DAMAGE_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def restore_hint(path: Path) -> str:
    return (f"Restore it from a backup (made with `copyhound backup DEST`): copy the backup to {path} while "
            "nothing runs. Without one, move it away and run `copyhound init` for a new, empty workspace.")


def database_fault(error: BaseException, path: Path) -> DatabaseUnusable | None:
    """The one-line explanation of a SQLite error that means the file is damaged, else None."""
    code = str(getattr(error, "sqlite_errorname", ""))
    if not isinstance(error, DatabaseError) or not code.startswith(_DAMAGE_CODES):
        return None
    what = "is not a SQLite database" if code.startswith("SQLITE_NOTADB") else "is damaged"
    return DatabaseUnusable(f"{path} {what} ({error}). {restore_hint(path)}")


def is_disk_full(error: BaseException) -> bool:
    """True for a write refused because the disk is full (by SQLite or by the file system)."""
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    return str(getattr(error, "sqlite_errorname", "")).startswith("SQLITE_FULL")


class _Database(sqlite_utils.Database):
    """sqlite-utils' Database whose outermost transactions take the write lock when they begin.

    Waiting for the lock at BEGIN lets the busy timeout do its job; nested blocks stay savepoints.
    """

    def execute(self, sql: str, parameters=None):
        """sqlite-utils' execute, which commits a write it began, now also when it returns rows.

        sqlite-utils leaves the implicit transaction of `INSERT ... RETURNING` open (the statement
        has rows, so it looks like a read), holding the write lock; here its rows are read at
        once and it is committed, as PostgreSQL's autocommit does.
        """
        was_in_transaction = self.conn.in_transaction
        cursor = super().execute(sql, parameters)
        if was_in_transaction or not self.conn.in_transaction or cursor.description is None:
            return cursor
        rows = _Rows(cursor.fetchall())
        self.conn.execute("COMMIT")
        return rows

    @contextmanager
    def atomic(self):
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


class _Rows(list):
    """The rows of a finished statement, read like the cursor that returned them."""

    @property
    def rowcount(self) -> int:
        return len(self)

    def fetchone(self):
        return self[0] if self else None

    def fetchall(self) -> list:
        return list(self)


class Store:
    """Typed access to the workspace database. Rows come back as plain dicts.

    `target` is the SQLite file (a missing one is created and migrated; an empty or foreign one
    raises DatabaseUnusable) or a `postgresql://` URL (an empty database is migrated; an unreachable
    server raises DatabaseUnusable). `path` names the database in messages: the file, or the URL
    without its password.
    """

    def __init__(self, target: Path | str):
        if is_postgres_url(target):
            self.path = redacted(target)
            self.db = PostgresDatabase(target)
            self.postgres = True
            self._migrate()
            return
        self.postgres = False
        self.path = Path(target)
        existed = self.path.exists()
        self.db = _Database(self.path)
        try:
            # Asked of SQLite, not read with open(): closing any other descriptor of the file would
            # drop this process's POSIX locks on it, held by its other connections.
            if existed and self.db.execute("PRAGMA page_count").fetchone()[0] == 0:
                self.db.close()
                raise DatabaseUnusable(f"{self.path} is empty (0 bytes): the workspace database was lost. "
                                       f"{restore_hint(self.path)}")
            self.db.execute("PRAGMA busy_timeout = 30000")
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.enable_wal()
            self.db.register_function(_url_host, name="url_host", deterministic=True)
            self._migrate()
        except DatabaseError as e:
            self.db.close()
            fault = database_fault(e, self.path)
            if fault is None:
                raise
            raise fault from None

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
        while current < SCHEMA_VERSION:
            with self.db.atomic():
                # Read again under the write lock: another process opening the store may have migrated.
                current = self.schema_version()
                if current < SCHEMA_VERSION:
                    self._apply(current)
                    current += 1

    def _apply(self, version: int) -> None:
        """Run MIGRATIONS[version] (in PostgreSQL's column types there) and record the new version."""
        if self.postgres:
            for statement in _statements(postgres_migration(MIGRATIONS[version])):
                self.db.run(statement)
            if version == 0:
                self.db.run(URL_HOST_FUNCTION)
        else:
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
        return _json_columns(rows[0], ["rights", "credentials"]) if rows else None

    def add_asset(self, record: dict, features: dict[str, bytes], embedding: tuple[str, bytes] | None) -> int:
        """Insert one asset with its cached local features and embedding, all or nothing."""
        record = dict(record, rights=json.dumps(record.get("rights") or {}, sort_keys=True))
        if "credentials" in record:
            record["credentials"] = json.dumps(record["credentials"], sort_keys=True)
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
        return [_json_columns(r, ["rights", "credentials"]) for r in self.db.query(sql, params or [])]

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
        row = self.db.execute(
            f"INSERT INTO candidates ({', '.join(record)}) VALUES ({', '.join('?' for _ in record)}) "
            "ON CONFLICT DO NOTHING RETURNING id",
            list(record.values()),
        ).fetchone()
        return row[0] if row else None

    def candidate(self, candidate_id: int) -> dict:
        rows = list(self.db["candidates"].rows_where("id = ?", [candidate_id]))
        if not rows:
            raise NotFound(f"No candidate with id {candidate_id}.")
        return _json_columns(rows[0], ["headers", "credentials"])

    def candidates(self, where: str = "1", params: list | None = None) -> list[dict]:
        rows = self.db["candidates"].rows_where(where, params or [], order_by="id")
        return [_json_columns(r, ["headers", "credentials"]) for r in rows]

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

    def set_match_status(self, match_id: int, status: str, note: str | None, at: str | None = None) -> dict:
        self.db["matches"].update(match_id, {"status": status, "note": note, "reviewed_at": at or utc_now()})
        return self.match(match_id)

    def add_authorized_use(self, owner_id: int, pattern: str, note: str | None) -> None:
        self.db.execute(
            "INSERT INTO authorized_uses(owner_id, pattern, note, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
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

    # -- ledger checkpoints (signed, time-stamped heads: detector.evidence.checkpoints) -----------

    def add_ledger_checkpoint(self, row: dict, after_size: int) -> int:
        """Store a checkpoint if the newest one still covers `after_size` entries (none: 0)."""
        with self.db.atomic():
            newest = self.db.execute("SELECT MAX(tree_size) FROM ledger_checkpoints").fetchone()[0] or 0
            if newest != after_size:
                raise UsageError("Another checkpoint was made meanwhile; run the command again.")
            return self.db["ledger_checkpoints"].insert(row).last_pk

    def ledger_checkpoints(self) -> list[dict]:
        """Every checkpoint, oldest first."""
        return list(self.db.query("SELECT * FROM ledger_checkpoints ORDER BY id"))

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

    def open_offers(self) -> list[dict]:
        """Every offer still draft, sent, viewed or countered (the ones that can expire)."""
        rows = self.db.query("SELECT * FROM offers WHERE status IN ('draft', 'sent', 'viewed', 'countered') "
                             "ORDER BY id")
        return [_json_columns(r, ["breakdown"]) for r in rows]

    def update_offer(self, offer_id: int, **fields) -> dict:
        self.db["offers"].update(offer_id, fields)
        return self.offer(offer_id)

    # -- content credentials: the C2PA manifests of works and copies --------------------------------

    def set_asset_credentials(self, asset_id: int, credentials: dict) -> None:
        """Store what was read of a work's C2PA manifest ({} when it carries none)."""
        self.db["assets"].update(asset_id, {"credentials": json.dumps(credentials, sort_keys=True)})

    def set_candidate_credentials(self, candidate_id: int, credentials: dict) -> None:
        """Store what was read of a captured copy's C2PA manifest ({} when it carries none)."""
        self.db["candidates"].update(candidate_id, {"credentials": json.dumps(credentials, sort_keys=True)})

    # -- screenshots: the page as it was seen ---------------------------------------------------

    def add_screenshot(self, record: dict) -> int:
        return self.db["screenshots"].insert(record).last_pk

    def latest_screenshot(self, match_id: int) -> dict | None:
        """The match's newest screenshot that was taken (not refused or failed), or None."""
        rows = list(self.db.query(
            "SELECT * FROM screenshots WHERE match_id = ? AND status = 'taken' ORDER BY id DESC LIMIT 1", [match_id]))
        return rows[0] if rows else None

    def matches_to_screenshot(self, scan_id: int, decisions: list[str]) -> list[dict]:
        """Matches seen in scan `scan_id` with one of `decisions` and no screenshot attempted yet:
        (match id, page URL, the target that found it)."""
        marks = ", ".join("?" for _ in decisions)
        return list(self.db.query(
            f"SELECT m.id AS match_id, m.page_url, c.target FROM matches m JOIN candidates c ON c.id = m.candidate_id "
            f"WHERE c.scan_id = ? AND m.decision IN ({marks}) "
            "AND NOT EXISTS (SELECT 1 FROM screenshots s WHERE s.match_id = m.id) ORDER BY m.id",
            [scan_id, *decisions]))

    def screenshot_subject(self, match_id: int) -> dict:
        """What a screenshot of match `match_id` needs: its page URL and the target that found it."""
        rows = list(self.db.query(
            "SELECT m.id AS match_id, m.page_url, c.target FROM matches m LEFT JOIN candidates c "
            "ON c.id = m.candidate_id WHERE m.id = ?", [match_id]))
        if not rows:
            raise NotFound(f"No match with id {match_id}; list matches with `copyhound matches`.")
        return rows[0]

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
        return [_json_columns(r, ["rights", "credentials"]) for r in self.db.query(sql, list(params) + [limit, offset])]

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

    # -- cli-portal: lists of notices and offers, matches per site, the workspace at a glance --

    _NOTICE_LIST = ("SELECT notices.id, notices.match_id, notices.kind, notices.created_at, notices.sha256, "
                    "owners.name AS owner, matches.page_url, matches.status AS match_status FROM notices "
                    "JOIN matches ON matches.id = notices.match_id JOIN owners ON owners.id = notices.owner_id ")

    def find_notices(self, owner_id: int | None = None, owner: str | None = None, match_id: int | None = None,
                     kind: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
        """Notices (newest first, without their text) passing the filters, and how many pass in all."""
        where, params = _and([("notices.owner_id", owner_id), ("owners.name", owner),
                              ("notices.match_id", match_id), ("notices.kind", kind)])
        total = self.db.execute("SELECT count(*) FROM notices JOIN owners ON owners.id = notices.owner_id "
                                f"WHERE {where}", params).fetchone()[0]
        rows = self.db.query(self._NOTICE_LIST + f"WHERE {where} ORDER BY notices.id DESC LIMIT ? OFFSET ?",
                             params + [limit, offset])
        return list(rows), total

    _OFFER_LIST = ("SELECT offers.id, offers.match_id, offers.licence, offers.commercial, offers.currency, "
                   "offers.amount, offers.early_amount, offers.status, offers.created_at, offers.discount_until, "
                   "offers.expires_at, offers.sent_at, offers.decided_at, owners.name AS owner, matches.page_url "
                   "FROM offers JOIN matches ON matches.id = offers.match_id "
                   "JOIN owners ON owners.id = offers.owner_id ")

    def find_offers(self, owner_id: int | None = None, owner: str | None = None, match_id: int | None = None,
                    status: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
        """Offers (newest first, without their letters) passing the filters, and how many pass in all."""
        where, params = _and([("offers.owner_id", owner_id), ("owners.name", owner),
                              ("offers.match_id", match_id), ("offers.status", status)])
        total = self.db.execute("SELECT count(*) FROM offers JOIN owners ON owners.id = offers.owner_id "
                                f"WHERE {where}", params).fetchone()[0]
        rows = self.db.query(self._OFFER_LIST + f"WHERE {where} ORDER BY offers.id DESC LIMIT ? OFFSET ?",
                             params + [limit, offset])
        return list(rows), total

    def match_counts(self, owner_id: int | None) -> list[dict]:
        """Matches per (decision, status), for one owner or (None) all of them."""
        where, params = _and([("owner_id", owner_id)])
        return list(self.db.query(f"SELECT decision, status, count(*) AS matches FROM matches WHERE {where} "
                                  "GROUP BY decision, status ORDER BY decision, status", params))

    def matches_per_week(self, owner_id: int | None, weeks: int) -> list[dict]:
        """Matches first seen per ISO-like week (YYYY-WW, Monday first) and decision, the last `weeks` weeks."""
        where, params = _and([("owner_id", owner_id)])
        since = (datetime.now(UTC).date() - timedelta(days=int(weeks) * 7)).isoformat()
        # Counted per day in SQL and folded into weeks here: week numbers are not portable SQL.
        per_week: dict[tuple[str, str], int] = {}
        for row in self.db.query(
                "SELECT substr(first_seen, 1, 10) AS day, decision, count(*) AS matches FROM matches "
                f"WHERE {where} AND first_seen >= ? GROUP BY day, decision", params + [since]):
            key = (datetime.fromisoformat(row["day"]).strftime("%Y-%W"), row["decision"])
            per_week[key] = per_week.get(key, 0) + row["matches"]
        return [{"week": week, "decision": decision, "matches": count}
                for (week, decision), count in sorted(per_week.items())]

    def sites(self, owner_id: int | None, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
        """Hosts with matches (most matches first): how many, how many unreviewed, when last seen; and how many hosts."""
        where, params = _and([("owner_id", owner_id)])
        total = self.db.execute(f"SELECT count(DISTINCT url_host(page_url)) FROM matches WHERE {where}",
                                params).fetchone()[0]
        rows = self.db.query(
            "SELECT url_host(page_url) AS host, count(*) AS matches, "
            "sum(CASE WHEN status = 'new' THEN 1 ELSE 0 END) AS unreviewed, "
            "sum(CASE WHEN status = 'confirmed' THEN 1 ELSE 0 END) AS confirmed, max(last_seen) AS last_seen "
            "FROM matches "
            f"WHERE {where} GROUP BY host ORDER BY matches DESC, host LIMIT ? OFFSET ?", params + [limit, offset])
        return list(rows), total

    def site_matches(self, owner_id: int | None, host: str) -> list[dict]:
        """The matches on exactly this host, whole (as `matches` gives them)."""
        where, params = "url_host(matches.page_url) = ?", [host.lower()]
        if owner_id is not None:
            where, params = where + " AND matches.owner_id = ?", params + [owner_id]
        return self.matches(where, params)

    def site_match_ids(self, owner_id: int | None, host: str, status: str | None = None) -> list[int]:
        """Ids of the matches on exactly this host (optionally only those with `status`)."""
        where, params = _and([("owner_id", owner_id), ("status", status)])
        rows = self.db.execute(f"SELECT id FROM matches WHERE {where} AND url_host(page_url) = ? ORDER BY id",
                               params + [host.lower()])
        return [r[0] for r in rows.fetchall()]

    def offer_totals(self, owner_id: int | None) -> list[dict]:
        """Offers per status and currency, with their amounts as stored (exact decimal strings)."""
        where, params = _and([("owner_id", owner_id)])
        rows = self.db.query(f"SELECT status, currency, amount, early_amount, amount_minor, early_amount_minor, "
                             f"standing_minor, decided_at, discount_until FROM offers WHERE {where} ORDER BY id",
                             params)
        return list(rows)

    def unreviewed_match_ids(self, owner_id: int | None) -> list[int]:
        where, params = _and([("owner_id", owner_id)])
        rows = self.db.execute(f"SELECT id FROM matches WHERE {where} AND status = 'new' ORDER BY id", params)
        return [r[0] for r in rows.fetchall()]

    def crawl_progress(self, scan_id: int) -> dict[str, int]:
        """What a running crawl has captured so far: pages with images, images, refused fetches."""
        pages, images = self.db.execute("SELECT count(DISTINCT page_url), count(*) FROM candidates WHERE scan_id = ?",
                                        [scan_id]).fetchone()
        refusals = self.db.execute("SELECT count(*) FROM crawl_events WHERE scan_id = ?", [scan_id]).fetchone()[0]
        return {"pages": pages, "images": images, "refusals": refusals}

    def notice_counts(self, owner_id: int | None) -> dict[str, int]:
        where, params = _and([("owner_id", owner_id)])
        rows = self.db.execute(f"SELECT kind, count(*) FROM notices WHERE {where} GROUP BY kind", params)
        return dict(rows.fetchall())


    # -- enforcement: follow-up on rescans ---------------------------------------------------

    def matches_touched_by_scan(self, scan_id: int) -> list[dict]:
        """Matches whose page this scan fetched or failed to fetch, or whose image it tried."""
        return self.matches(
            "matches.page_url IN (SELECT page_url FROM candidates WHERE scan_id = ?) "
            "OR matches.page_url IN (SELECT coalesce(page_url, url) FROM crawl_events WHERE scan_id = ?) "
            "OR matches.image_url IN (SELECT url FROM crawl_events WHERE scan_id = ?)",
            [scan_id, scan_id, scan_id],
        )

    def set_match_presence(self, match_id: int, **fields) -> None:
        """Record what a rescan saw of a match: presence, presence_at, presence_detail, counts."""
        self.db["matches"].update(match_id, fields)

    # -- enforcement: policy actions, recipients, deliveries ---------------------------------

    def add_enforcement_action(self, record: dict) -> int:
        return self.db["enforcement_actions"].insert(dict(record, detail=json.dumps(record["detail"],
                                                                                     sort_keys=True))).last_pk

    def enforcement_actions(self, match_ids: list[int]) -> list[dict]:
        marks = ", ".join("?" for _ in match_ids)
        rows = self.db.query(f"SELECT * FROM enforcement_actions WHERE match_id IN ({marks}) ORDER BY id", match_ids)
        return [_json_columns(r, ["detail"]) for r in rows]

    def count_enforcement_actions(self, owner_id: int, since: str) -> int:
        return self.db.execute("SELECT count(*) FROM enforcement_actions WHERE owner_id = ? AND at >= ?",
                               [owner_id, since]).fetchone()[0]

    def recipient_lookups(self, host: str, since: str) -> list[dict]:
        """Cached lookups of `host` made at or after `since` (address '' records that a source had none)."""
        return list(self.db["recipient_lookups"].rows_where("host = ? AND looked_up_at >= ?", [host, since],
                                                            order_by="position, source, address"))

    def replace_recipient_lookups(self, host: str, rows: list[dict]) -> None:
        with self.db.atomic():
            self.db.execute("DELETE FROM recipient_lookups WHERE host = ?", [host])
            for position, row in enumerate(rows):
                self.db["recipient_lookups"].insert(dict(row, host=host, position=position))

    def add_delivery(self, record: dict) -> int:
        return self.db["deliveries"].insert(record).last_pk

    def deliveries(self, match_ids: list[int]) -> list[dict]:
        marks = ", ".join("?" for _ in match_ids)
        return list(self.db.query(f"SELECT * FROM deliveries WHERE match_id IN ({marks}) ORDER BY id", match_ids))

    def count_deliveries(self, recipient: str, since: str) -> int:
        return self.db.execute("SELECT count(*) FROM deliveries WHERE lower(recipient) = lower(?) AND at >= ?",
                               [recipient, since]).fetchone()[0]

    # -- casework: bounces ------------------------------------------------------------------------

    def delivery(self, delivery_id: int) -> dict:
        return self.db["deliveries"].get(delivery_id)

    def delivery_by_message_id(self, message_id: str) -> dict | None:
        rows = list(self.db["deliveries"].rows_where("message_id = ?", [message_id], order_by="id", limit=1))
        return rows[0] if rows else None

    def latest_delivery_to(self, recipient: str, before: str | None) -> dict | None:
        """The latest e-mail sent to `recipient` (at or before `before` when given)."""
        where, params = "lower(recipient) = lower(?) AND status = 'sent'", [recipient]
        if before is not None:
            where, params = where + " AND at <= ?", params + [before]
        rows = list(self.db["deliveries"].rows_where(where, params, order_by="id DESC", limit=1))
        return rows[0] if rows else None

    def mark_delivery_bounced(self, delivery_id: int, at: str, bounce: str) -> None:
        self.db["deliveries"].update(delivery_id, {"status": "bounced", "bounced_at": at, "bounce": bounce})

    # -- casework: owners' pricing overrides ----------------------------------------------------

    def owner_pricing(self, owner_id: int) -> dict:
        row = self.db.execute("SELECT pricing FROM owner_pricing WHERE owner_id = ?", [owner_id]).fetchone()
        return json.loads(row[0]) if row else {}

    def set_owner_pricing(self, owner_id: int, values: dict) -> None:
        self.db["owner_pricing"].upsert({"owner_id": owner_id, "pricing": json.dumps(values, sort_keys=True)},
                                        pk="owner_id")

    # -- casework: owners' policy rules ---------------------------------------------------------

    def owner_rules(self, owner_id: int) -> list[dict]:
        rows = self.db.execute("SELECT rule FROM owner_rules WHERE owner_id = ? ORDER BY position", [owner_id])
        return [json.loads(r[0]) for r in rows.fetchall()]

    def replace_owner_rules(self, owner_id: int, rules: list[dict]) -> None:
        with self.db.atomic():
            self.db.execute("DELETE FROM owner_rules WHERE owner_id = ?", [owner_id])
            for position, rule in enumerate(rules):
                self.db["owner_rules"].insert({"owner_id": owner_id, "position": position,
                                               "rule": json.dumps(rule, sort_keys=True)})

    # -- casework: dashboard ---------------------------------------------------------------------

    def presence_by_site(self, owner_id: int | None) -> list[dict]:
        """How many copies per host are in each presence (up, changed, removed, unreachable)."""
        where, params = _and([("owner_id", owner_id)])
        return list(self.db.query(f"SELECT url_host(page_url) AS host, presence, count(*) AS copies FROM matches "
                                  f"WHERE {where} GROUP BY host, presence", params))

    # -- backup (reliability) -----------------------------------------------------------------

    def backup_to(self, dest: Path) -> None:
        """Copy the database to `dest` with SQLite's online backup API, then check the copy.

        The backup API copies a consistent snapshot while scans and the portal keep writing. The
        copy is written beside `dest` and renamed into place only once it passed `quick_check`, so
        a failed backup never leaves a half-written file under the name asked for. On PostgreSQL,
        pg_dump writes a custom-format archive the same way (or the error names the command).
        """
        dest = Path(dest)
        if self.postgres:
            self.db.dump(dest)
            return
        partial = dest.with_name(dest.name + ".partial")
        partial.unlink(missing_ok=True)
        target = sqlite3.connect(partial)
        try:
            self.db.conn.backup(target)
            verdict = target.execute("PRAGMA quick_check").fetchone()[0]
        except DatabaseError as e:
            target.close()
            partial.unlink(missing_ok=True)
            raise database_fault(e, self.path) or e from None
        target.close()
        if verdict != "ok":
            partial.unlink(missing_ok=True)
            raise DatabaseUnusable(f"{self.path} is damaged ({verdict}); no backup was written to {dest}. "
                                   f"{restore_hint(self.path)}")
        os.replace(partial, dest)

    # -- licensing: offer links, counters, acceptances, contributors, payments, licences ---------

    def add_offer_link(self, offer_id: int, nonce: str) -> int:
        return self.db["offer_links"].insert({"offer_id": offer_id, "nonce": nonce, "created_at": utc_now()}).last_pk

    def offer_link(self, nonce: str) -> dict | None:
        rows = list(self.db["offer_links"].rows_where("nonce = ?", [nonce]))
        return rows[0] if rows else None

    def live_offer_link(self, offer_id: int) -> dict | None:
        """The newest link of an offer that was not revoked, or None."""
        rows = list(self.db["offer_links"].rows_where("offer_id = ? AND revoked_at IS NULL", [offer_id],
                                                      order_by="id DESC", limit=1))
        return rows[0] if rows else None

    def revoke_offer_links(self, offer_id: int, at: str) -> int:
        """Revoke every live link of an offer; returns how many were live."""
        cursor = self.db.execute("UPDATE offer_links SET revoked_at = ? WHERE offer_id = ? AND revoked_at IS NULL",
                                 [at, offer_id])
        return cursor.rowcount

    def add_counter_offer(self, record: dict) -> int:
        return self.db["counter_offers"].insert(record).last_pk

    def counter_offers(self, offer_id: int) -> list[dict]:
        return list(self.db["counter_offers"].rows_where("offer_id = ?", [offer_id], order_by="id"))

    def next_invoice_seq(self, owner_id: int) -> int:
        row = self.db.execute("SELECT coalesce(max(invoice_seq), 0) FROM acceptances WHERE owner_id = ?",
                              [owner_id]).fetchone()
        return row[0] + 1

    def add_acceptance(self, record: dict) -> None:
        self.db["acceptances"].insert(dict(record, terms=json.dumps(record["terms"], sort_keys=True)))

    def acceptance(self, offer_id: int) -> dict | None:
        rows = list(self.db["acceptances"].rows_where("offer_id = ?", [offer_id]))
        return _json_columns(rows[0], ["terms"]) if rows else None

    def acceptance_by_invoice(self, invoice_number: str) -> dict | None:
        rows = list(self.db["acceptances"].rows_where("invoice_number = ?", [invoice_number]))
        return _json_columns(rows[0], ["terms"]) if rows else None

    def add_contributor_shares(self, asset_id: int, effective_from: str, shares: list) -> int:
        return self.db["contributor_shares"].insert({
            "asset_id": asset_id, "effective_from": effective_from, "shares": json.dumps(shares),
            "recorded_at": utc_now()}).last_pk

    def contributor_shares(self, asset_id: int) -> list[dict]:
        """Every share set of a work, oldest effective date first (a later record wins a tie)."""
        rows = self.db["contributor_shares"].rows_where("asset_id = ?", [asset_id], order_by="effective_from, id")
        return [_json_columns(r, ["shares"]) for r in rows]

    def add_payment(self, record: dict, parts: list[dict]) -> int:
        payment_id = self.db["payments"].insert(dict(record, recorded_at=utc_now())).last_pk
        for part in parts:
            self.db["payment_splits"].insert(dict(part, payment_id=payment_id))
        return payment_id

    def payments(self, offer_id: int) -> list[dict]:
        return list(self.db["payments"].rows_where("offer_id = ?", [offer_id], order_by="id"))

    def payment_splits(self, payment_id: int) -> list[dict]:
        return list(self.db["payment_splits"].rows_where("payment_id = ?", [payment_id], order_by="id"))

    def statement_rows(self, owner_id: int | None, start: str, end: str) -> list[dict]:
        """Each contributor's part of each payment received in [start, end), with the payment and the work."""
        where, params = "payments.received_at >= ? AND payments.received_at < ?", [start, end]
        if owner_id is not None:
            where, params = where + " AND payments.owner_id = ?", params + [owner_id]
        return list(self.db.query(
            "SELECT payment_splits.contributor, payment_splits.share, payment_splits.amount_minor AS part_minor, "
            "payments.id AS payment_id, payments.offer_id, payments.currency, payments.amount_minor, "
            "payments.reference, payments.received_at, owners.name AS owner, assets.id AS asset_id, "
            "coalesce(assets.title, assets.filename) AS work FROM payment_splits "
            "JOIN payments ON payments.id = payment_splits.payment_id "
            "JOIN offers ON offers.id = payments.offer_id JOIN matches ON matches.id = offers.match_id "
            "JOIN assets ON assets.id = matches.asset_id JOIN owners ON owners.id = payments.owner_id "
            f"WHERE {where} ORDER BY payments.received_at, payments.id, payment_splits.id", params))

    def add_licence(self, record: dict) -> int:
        """Record the licence a paid offer grants (replacing the offer's earlier one, if any)."""
        others = [c for c in record if c != "offer_id"]
        return self.db.execute(
            f"INSERT INTO licences ({', '.join(record)}) VALUES ({', '.join('?' for _ in record)}) "
            f"ON CONFLICT (offer_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in others)} RETURNING id",
            list(record.values())).fetchone()[0]

    def licence(self, offer_id: int) -> dict | None:
        rows = list(self.db["licences"].rows_where("offer_id = ?", [offer_id]))
        return rows[0] if rows else None

    def licensed_domains(self, at: str) -> dict[int, list[str]]:
        """Per work, the domains of licences in force at `at`."""
        found: dict[int, list[str]] = {}
        for asset_id, domain in self.db.execute(
                "SELECT asset_id, domain FROM licences WHERE starts_at <= ? AND ends_at > ? ORDER BY id", [at, at]):
            found.setdefault(asset_id, []).append(domain)
        return found

    def take_webhook_event(self, event_id: str, at: str) -> bool:
        """Remember a webhook event id; False when it was taken before (a replay)."""
        cursor = self.db.execute("INSERT INTO webhook_events(event_id, received_at) VALUES (?, ?) "
                                 "ON CONFLICT DO NOTHING", [event_id, at])
        return cursor.rowcount == 1


    # -- licensing: a work's own negotiation rules ------------------------------------------------

    def add_work_negotiation(self, record: dict) -> int:
        return self.db["work_negotiation"].insert(record).last_pk

    def work_negotiation(self, asset_id: int) -> dict | None:
        """The newest negotiation record of a work, or None."""
        rows = list(self.db["work_negotiation"].rows_where("asset_id = ?", [asset_id], order_by="id DESC", limit=1))
        return rows[0] if rows else None


    # -- distributed detection: claiming candidates, the queue's progress ------------------------------------
    # Portable SQL (SQLite and PostgreSQL): tasks may be delivered twice, so every write is keyed by candidate.

    _PENDING = "state = 'new' AND sha256 IS NOT NULL"

    def new_candidates(self, candidate_ids: list[int]) -> list[dict]:
        """Those of `candidate_ids` still waiting for detection (state 'new'), by id."""
        if not candidate_ids:
            return []
        marks = ", ".join("?" for _ in candidate_ids)
        return self.candidates(f"state = 'new' AND id IN ({marks})", list(candidate_ids))

    def claim_candidate(self, candidate_id: int, state: str, **fields) -> bool:
        """Move a candidate out of state 'new' (to 'detected' or 'refused'); False when another writer did first.

        The state test is in the UPDATE itself, so two deliveries of one task racing on PostgreSQL
        (READ COMMITTED re-checks the row after the lock) cannot both claim it.
        """
        values = {"state": state, **fields}
        assignments = ", ".join(f"{name} = ?" for name in values)
        cursor = self.db.execute(f"UPDATE candidates SET {assignments} WHERE id = ? AND state = 'new'",
                                 [*values.values(), candidate_id])
        return cursor.rowcount == 1

    def pending_candidates(self, after_id: int = 0) -> list[dict]:
        """Candidates with bytes still waiting for detection, past `after_id`, by id."""
        return self.candidates(f"{self._PENDING} AND id > ?", [after_id])

    def count_pending(self, through_id: int | None = None) -> int:
        """Candidates with bytes still waiting for detection (those up to `through_id` when given)."""
        sql = f"SELECT COUNT(*) FROM candidates WHERE {self._PENDING}"
        params = [] if through_id is None else [through_id]
        if through_id is not None:
            sql += " AND id <= ?"
        return self.db.execute(sql, params).fetchone()[0]

    def detection_outcome(self, since: str, through_id: int) -> dict:
        """What detection recorded from `since` for candidates up to `through_id`: candidates, distinct
        images, refused images by reason, matches by decision, matches first seen then and matches seen again."""
        done = "state <> 'new' AND detected_at >= ? AND id <= ?"
        candidates, images = self.db.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT CASE WHEN state = 'detected' THEN sha256 END) FROM candidates "
            f"WHERE {done}", [since, through_id]).fetchone()
        refused = dict(self.db.execute(
            f"SELECT refusal_reason, COUNT(DISTINCT sha256) FROM candidates WHERE {done} AND state = 'refused' "
            "GROUP BY refusal_reason ORDER BY refusal_reason", [since, through_id]).fetchall())
        rows = self.db.execute(
            f"SELECT decision, first_seen >= ? FROM matches WHERE candidate_id IN (SELECT id FROM candidates "
            f"WHERE {done})", [since, since, through_id]).fetchall()
        decisions: dict[str, int] = {}
        for decision, _ in rows:
            decisions[decision] = decisions.get(decision, 0) + 1
        new = sum(1 for _, is_new in rows if is_new)
        return {"candidates": candidates, "images": images, "refused": refused, "decisions": decisions,
                "matches_new": new, "matches_updated": len(rows) - new}

    def throughput(self, since: str, owner_id: int | None = None) -> dict[str, int]:
        """Work done per stage from `since`: images captured, candidates detected and refused, matches found
        (of `owner_id`'s works when given: candidates belong to no owner, matches do)."""
        captured = self.db.execute("SELECT COUNT(*) FROM candidates WHERE discovered_at >= ? AND sha256 IS NOT NULL",
                                   [since]).fetchone()[0]
        states = dict(self.db.execute("SELECT state, COUNT(*) FROM candidates WHERE detected_at >= ? GROUP BY state",
                                      [since]).fetchall())
        owned, params = ("", [since]) if owner_id is None else (" AND owner_id = ?", [since, owner_id])
        matches = self.db.execute(f"SELECT COUNT(*) FROM matches WHERE first_seen >= ?{owned}", params).fetchone()[0]
        return {"captured": captured, "detected": states.get("detected", 0), "refused": states.get("refused", 0),
                "matches": matches}


    # -- discovery: source runs, their leads, the lead of each candidate (detector.sources) ---------

    def start_source_run(self, source: str, type_: str, scan_id: int | None = None) -> int:
        return self.db["source_runs"].insert({"source": source, "type": type_, "scan_id": scan_id,
                                              "started_at": utc_now(), "status": "running"}).last_pk

    def finish_source_run(self, run_id: int, status: str, *, leads: int, budget_used: int,
                          cursor: dict | None, detail: str | None = None) -> None:
        self.db["source_runs"].update(run_id, {
            "finished_at": utc_now(), "status": status, "leads": leads, "budget_used": budget_used,
            "cursor": None if cursor is None else json.dumps(cursor, sort_keys=True), "detail": detail})

    def attach_source_runs(self, run_ids: list[int], scan_id: int) -> None:
        """Tie runs whose leads were gathered before their scan started to that scan."""
        for run_id in run_ids:
            self.db["source_runs"].update(run_id, {"scan_id": scan_id})

    def source_cursor(self, source: str) -> dict | None:
        """Where `source` resumes: the cursor its newest run saved, or None."""
        row = self.db.execute("SELECT cursor FROM source_runs WHERE source = ? AND cursor IS NOT NULL "
                              "AND status <> 'dry' ORDER BY id DESC LIMIT 1", [source]).fetchone()
        return json.loads(row[0]) if row else None

    def last_source_run(self, source: str) -> dict | None:
        rows = list(self.db["source_runs"].rows_where("source = ? AND status <> 'dry'", [source],
                                                      order_by="id DESC", limit=1))
        return _json_columns(rows[0], ["cursor"]) if rows else None

    def source_budget_used(self, source: str, since: str) -> int:
        return self.db.execute("SELECT COALESCE(SUM(budget_used), 0) FROM source_runs WHERE source = ? "
                               "AND started_at >= ?", [source, since]).fetchone()[0]

    def known_lead_urls(self, source: str, urls: list[str], types: tuple[str, ...] = ()) -> set[str]:
        """Those of `urls` that `source`, or any source of one of `types`, has already led to."""
        if not urls:
            return set()
        marks, kinds = ", ".join("?" for _ in urls), ", ".join("?" for _ in types) or "NULL"
        rows = self.db.execute(
            f"SELECT DISTINCT leads.url FROM leads JOIN source_runs ON source_runs.id = leads.run_id "
            f"WHERE (leads.source = ? OR source_runs.type IN ({kinds})) AND leads.url IN ({marks})",
            [source, *types, *urls]).fetchall()
        return {row[0] for row in rows}

    def add_lead(self, run_id: int, source: str, lead: dict) -> int:
        record = dict(lead, run_id=run_id, source=source, found_at=lead.get("found_at") or utc_now(),
                      provenance=json.dumps(lead.get("provenance") or {}, sort_keys=True))
        return self.db["leads"].insert(record).last_pk

    def lead(self, lead_id: int) -> dict | None:
        rows = list(self.db["leads"].rows_where("id = ?", [lead_id]))
        return _json_columns(rows[0], ["provenance"]) if rows else None

    def run_leads(self, run_id: int) -> list[dict]:
        rows = self.db["leads"].rows_where("run_id = ?", [run_id], order_by="id")
        return [_json_columns(r, ["provenance"]) for r in rows]

    def link_leads(self, scan_id: int) -> int:
        """Set the lead of each candidate of `scan_id` the crawl reached from a lead of that scan's runs."""
        cursor = self.db.execute(
            "UPDATE candidates SET lead_id = (SELECT leads.id FROM leads JOIN source_runs ON source_runs.id = "
            "leads.run_id WHERE source_runs.scan_id = candidates.scan_id AND leads.url = candidates.lead_url "
            "ORDER BY leads.id LIMIT 1) WHERE scan_id = ? AND lead_id IS NULL AND lead_url IS NOT NULL",
            [scan_id])
        return cursor.rowcount

    def source_overview(self) -> list[dict]:
        """Per source that ever ran: its runs, newest run, leads, candidates and matches they brought."""
        rows = self.db.execute(
            "SELECT r.source, MAX(r.type), COUNT(*), MAX(r.id), "
            "(SELECT COUNT(*) FROM leads l WHERE l.source = r.source), "
            "(SELECT COUNT(*) FROM candidates c JOIN leads l ON l.id = c.lead_id WHERE l.source = r.source), "
            "(SELECT COUNT(DISTINCT m.id) FROM matches m JOIN candidates c ON c.id = m.candidate_id "
            " JOIN leads l ON l.id = c.lead_id WHERE l.source = r.source) "
            "FROM source_runs r WHERE r.status <> 'dry' GROUP BY r.source ORDER BY r.source").fetchall()
        names = ("source", "type", "runs", "last_run_id", "leads", "candidates", "matches")
        return [dict(zip(names, row, strict=True)) for row in rows]


def open_store(ws: Workspace) -> Store:
    """The store of workspace `ws`: the database its `[store] url` names, else its SQLite file."""
    return Store(ws.store_target)


MATCH_STATUSES = ("new", "confirmed", "rejected", "authorized")
DECISIONS = ("match", "review")


def _and(pairs: list[tuple[str, object]]) -> tuple[str, list]:
    """A WHERE clause ANDing `column = ?` for each pair whose value is not None."""
    clauses, params = ["1"], []
    for column, value in pairs:
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(clauses), params


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
