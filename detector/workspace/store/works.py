"""The store's registered works: owners, assets, their cached features and embeddings, their content credentials."""

from __future__ import annotations

import json

from detector.errors import NotFound, UsageError
from detector.workspace.store.database import Database
from detector.workspace.store.rows import json_columns as _json_columns
from detector.workspace.store.rows import utc_now


class Works:
    """Owners and the works they registered (mixed into `Store`)."""

    db: Database

    # -- owners ------------------------------------------------------------------------------

    def ensure_owner(self, name: str) -> dict:
        name = name.strip()
        if not name:
            raise UsageError("Owner name is empty; give one with --owner NAME.")
        # One statement: two processes adding the same new owner at once (two registers) both succeed.
        self.db.execute("INSERT INTO owners(name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                        [name, utc_now()])
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

    def replace_features(self, asset_id: int, features: dict[str, bytes]) -> None:
        """Replace a work's cached local features of every kind (extracted again by a newer extractor)."""
        with self.db.atomic():
            self.db.execute("DELETE FROM asset_features WHERE asset_id = ?", [asset_id])
            for kind, data in features.items():
                self.db["asset_features"].insert({"asset_id": asset_id, "kind": kind, "data": data})

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

    # -- content credentials: the C2PA manifests of works and copies --------------------------------

    def set_asset_credentials(self, asset_id: int, credentials: dict) -> None:
        """Store what was read of a work's C2PA manifest ({} when it carries none)."""
        self.db["assets"].update(asset_id, {"credentials": json.dumps(credentials, sort_keys=True)})

    def set_candidate_credentials(self, candidate_id: int, credentials: dict) -> None:
        """Store what was read of a captured copy's C2PA manifest ({} when it carries none)."""
        self.db["candidates"].update(candidate_id, {"credentials": json.dumps(credentials, sort_keys=True)})
