"""The workspace database: the only package that talks SQL, to SQLite or to PostgreSQL.

One `Store` class with one copy of each method's SQL serves both backends. It is composed of one
class per domain, so callers import `Store` (and `MatchFilter`, `utc_now`, ...) from here alone:

- `connection`: opening the database, schema migrations, `meta`, transactions, backups;
- `works`: owners, assets, their cached features and embeddings, content credentials;
- `scans`: scans, candidates, crawl events;
- `matches`: recording and finding matches (`MatchFilter`), their review, authorized uses;
- `ledger`: the evidence ledger's rows and head, and its checkpoints;
- `screenshots`: the pages of matches as they were seen;
- `tokens`: the portal's API tokens;
- `portal`: the pages, lists and counts the portal and the CLI show;
- `credits`: where owners' works are licensed, matches' credit checks and holds, works' negative lists;
- `enforcement`: notices, rescans' follow-up, actions, recipients, deliveries, bounces, policy rules;
- `licensing`: offers and everything after them, owners' pricing, works' negotiation rules;
- `collectability`: each match's collectability score with its factors, hosting countries from RDAP;
- `distributed`: claiming candidates once, the detection queue's progress;
- `analyses`: contents analysed as copying nothing, kept under a detection key for later scans;
- `database`: the `Database` protocol, all that these use of a connection; `sqlite` (sqlite-utils)
  and `detector.workspace.postgres` (psycopg) are the two connections that satisfy it;
- `rows`: the helpers the domains share (`utc_now`, JSON columns, WHERE clauses).

`Store(path)` opens the workspace's SQLite file through sqlite-utils (the embedded default);
`Store("postgresql://...")` opens a PostgreSQL database through `PostgresDatabase`, which answers
the same few sqlite-utils calls. sqlite-utils stays for SQLite because it is the well-kept library
the rest already knows; the PostgreSQL side copies its small surface instead of wrapping both in a
third API. Methods write SQLite's SQL with `?` placeholders, portably where SQL allows (`ON CONFLICT
DO NOTHING`, `RETURNING`, `CASE`); `detector.workspace.dialect` translates the rest (placeholders,
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

from detector.workspace.home import Workspace
from detector.workspace.schema import SCHEMA_VERSION
from detector.workspace.store.analyses import Analyses
from detector.workspace.store.collectability import Collectability
from detector.workspace.store.connection import Connection
from detector.workspace.store.credits import Credits
from detector.workspace.store.distributed import Distributed
from detector.workspace.store.enforcement import Enforcement
from detector.workspace.store.ledger import Ledger
from detector.workspace.store.licensing import OFFER_STATUSES, Licensing
from detector.workspace.store.matches import DECISIONS, MATCH_STATUSES, Matches, MatchFilter
from detector.workspace.store.portal import Portal
from detector.workspace.store.rows import utc_now
from detector.workspace.store.scans import Scans
from detector.workspace.store.screenshots import Screenshots
from detector.workspace.store.sources import Sources
from detector.workspace.store.sqlite import DatabaseError, database_fault, is_disk_full, restore_hint
from detector.workspace.store.tokens import Tokens
from detector.workspace.store.works import Works

__all__ = ["DECISIONS", "MATCH_STATUSES", "OFFER_STATUSES", "SCHEMA_VERSION", "DatabaseError", "MatchFilter", "Store",
           "database_fault", "is_disk_full", "open_store", "restore_hint", "utc_now"]


class Store(Connection, Works, Scans, Matches, Ledger, Screenshots, Tokens, Portal, Enforcement, Licensing,
            Distributed, Sources, Credits, Collectability, Analyses):
    """Typed access to the workspace database. Rows come back as plain dicts.

    `target` is the SQLite file (a missing one is created and migrated; an empty or foreign one
    raises DatabaseUnusable) or a `postgresql://` URL (an empty database is migrated; an unreachable
    server raises DatabaseUnusable). `path` names the database in messages: the file, or the URL
    without its password.
    """


def open_store(ws: Workspace) -> Store:
    """The store of workspace `ws`: the database its `[store] url` names, else its SQLite file."""
    return Store(ws.store_target)
