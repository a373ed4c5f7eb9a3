"""An owner's "not mine / not a copy": the match is rejected and its image goes on the work's negative list.

The image is kept by its content hash and its pHash (`detector.negatives`), so detection does not
flag it, or a near-identical upload of it, for that work again. The rejection is a review in the
ledger like any other, and the negative list entry is a ledger entry of kind `negative`.
"""

from __future__ import annotations

from detector.config import Settings
from detector.evidence.review import review_match
from detector.negatives import phash_of
from detector.provenance import ledger
from detector.workspace import Workspace
from detector.workspace.blobs import BlobStore
from detector.workspace.store import Store, utc_now

NOTE = "not mine / not a copy"


def mark_not_mine(ws: Workspace, store: Store, settings: Settings, match_id: int, note: str | None = None,
                  owner_id: int | None = None, actor: str = "cli") -> dict:
    """Reject match `match_id` as not a copy and add its image to its work's negative list; the match.

    With `owner_id`, another owner's match is NotFound, exactly like a missing one."""
    match = store.match(match_id, owner_id=owner_id)
    phash = match["signals"].get("candidate_phash")
    blobs = BlobStore(ws.blobs_dir)
    if phash is None and match["sha256"] in blobs:  # matches recorded before detection kept the copy's pHash
        phash = phash_of(blobs.get(match["sha256"]), match["image_url"], settings.intake)
    note = (note or "").strip()[:500] or None
    at = utc_now()
    with store.atomic():
        updated = review_match(store, match_id, "rejected", f"{NOTE}: {note}" if note else NOTE,
                               owner_id=owner_id, actor=actor, at=at)
        store.add_negative({"asset_id": match["asset_id"], "sha256": match["sha256"], "phash": phash,
                            "match_id": match_id, "note": note, "actor": actor, "created_at": at})
        ledger.append(store, "negative", ledger.match_subject(match_id), {
            "asset_id": match["asset_id"], "sha256": match["sha256"], "phash": phash, "note": note, "by": actor,
        }, at=at)
    return updated
