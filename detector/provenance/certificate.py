"""A registration certificate: one JSON file that lets anyone check, without copyhound, that a
work with a given SHA-256 was registered to an owner no later than a time-stamped checkpoint.

It carries the work's `register` ledger entry (whose hash covers owner, file name, SHA-256 and
perceptual hashes), a Merkle inclusion proof of that entry against a ledger checkpoint, the
checkpoint statement with its Ed25519 signature and RFC 3161 time-stamp token, and the public
key. `how_to_verify` in the file lists the steps (Python's standard library and openssl).
"""

from __future__ import annotations

import base64
import json

from detector.errors import UsageError
from detector.provenance import checkpoints, ledger, merkle, signing
from detector.workspace import Workspace
from detector.workspace.store import Store

FORMAT = "copyhound-registration-certificate/1"

HOW_TO_VERIFY = [
    "1. The work: its SHA-256 (sha256sum FILE) equals asset.sha256 and registration.payload's sha256.",
    ("2. The entry: registration.hash is the SHA-256 of the canonical JSON (keys sorted, separators ',' and ':', "
     "UTF-8 kept) of {at, kind, subject, payload, prev_hash} of registration."),
    ("3. The inclusion: from leaf = SHA-256(0x00 || bytes of registration.hash), the RFC 9162 audit path "
     "inclusion.path at index inclusion.leaf_index in a tree of inclusion.tree_size leaves (node = SHA-256(0x01 "
     "|| left || right)) gives the root in checkpoint.statement."),
    ("4. The signature: save checkpoint.statement (exact text) as checkpoint.json, public_key_pem as key.pem and "
     "base64-decode checkpoint.signature_base64 to checkpoint.sig; then `openssl pkeyutl -verify -pubin -inkey "
     "key.pem -rawin -in checkpoint.json -sigfile checkpoint.sig`."),
    ("5. The key: `openssl pkey -pubin -in key.pem -outform DER | tail -c 32 | sha256sum` equals the fingerprint "
     "the owner publishes (and public_key_sha256)."),
    ("6. The time: base64-decode checkpoint.tsa_token_base64 to checkpoint.tsr; `openssl ts -verify -data "
     "checkpoint.json -in checkpoint.tsr -CAfile TSA.pem` with the time-stamping authority's certificate, and "
     "`openssl ts -reply -in checkpoint.tsr -text` shows its time."),
]


def certificate(ws: Workspace, store: Store, asset_id: int, owner_id: int | None = None) -> dict:
    """The certificate of asset `asset_id`; UsageError when no checkpoint covers its registration yet."""
    asset = store.asset(asset_id, owner_id)
    registrations = [e for e in ledger.entries(store, [ledger.asset_subject(asset_id)]) if e["kind"] == "register"]
    if not registrations:
        raise UsageError(f"Asset {asset_id} has no registration entry in the ledger, so nothing can certify it.")
    entry = registrations[0]
    checkpoint = checkpoints.covering(store, entry["seq"])
    if checkpoint is None:
        raise UsageError(f"The registration of asset {asset_id} (ledger entry {entry['seq']}) is not covered by "
                         "a checkpoint yet; make one with `copyhound ledger checkpoint` and run this again.")
    leaves = [merkle.leaf_hash(row["hash"]) for row in store.ledger_rows()[:checkpoint.tree_size]]
    public_pem = signing.public_key(ws)
    owner = store.owner(asset["owner_id"])
    return {
        "format": FORMAT,
        "asset": {k: asset.get(k) for k in ("id", "filename", "sha256", "byte_size", "width", "height", "format",
                                            "title", "creator", "phash", "dhash", "pdq", "registered_at")},
        "owner": {k: owner.get(k) for k in ("name", "legal_name", "jurisdiction")},
        "registration": entry,
        "inclusion": {"leaf_index": entry["seq"] - 1, "tree_size": checkpoint.tree_size,
                      "path": [h.hex() for h in merkle.inclusion_proof(entry["seq"] - 1, leaves)]},
        "checkpoint": {
            "statement": checkpoint.statement_bytes.decode("utf-8"),
            "signature_base64": base64.b64encode(checkpoint.signature).decode("ascii"),
            "tsa_token_base64": base64.b64encode(checkpoint.tsa_token).decode("ascii") if checkpoint.tsa_token
            else None,
        },
        "public_key_pem": public_pem.decode("ascii"),
        "public_key_sha256": signing.fingerprint(public_pem),
        "how_to_verify": HOW_TO_VERIFY,
    }


def render(cert: dict) -> bytes:
    return (json.dumps(cert, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
