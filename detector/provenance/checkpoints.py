"""Signed, time-stamped ledger checkpoints: what makes the ledger more than the owner's own word.

A checkpoint is a statement (canonical JSON: tree size, newest entry hash, Merkle root of every
entry hash, time, key fingerprint), signed with the workspace's Ed25519 key and, when a TSA is
configured, time-stamped by it (RFC 3161). Whoever holds the database can still rewrite entries
and recompute the chain, but not re-sign an old checkpoint with an old time: the TSA's token
binds the statement's exact bytes to the TSA's clock. `verify` compares today's chain with every
checkpoint and names the first entry that disagrees; publishing a checkpoint (`ledger
export-head`) somewhere the owner cannot rewrite also catches the deletion of checkpoints
themselves: `verify_head` checks the chain against such a head.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from detector.config import Settings
from detector.errors import UsageError
from detector.provenance import ledger, merkle, signing, timestamp
from detector.provenance.ledger import LedgerProblem, canonical_json
from detector.workspace import Workspace
from detector.workspace.store import Store, utc_now

FORMAT = "copyhound-ledger-checkpoint/1"


@dataclass(frozen=True)
class Checkpoint:
    id: int
    statement: dict
    statement_bytes: bytes  # exactly what was signed and time-stamped
    signature: bytes
    tsa_token: bytes | None
    leaves: list[str]  # entry hashes added since the previous checkpoint

    @classmethod
    def from_row(cls, row: dict) -> Checkpoint:
        text = row["statement"]
        try:
            statement = json.loads(text)
        except ValueError:
            statement = {}
        return cls(row["id"], statement if isinstance(statement, dict) else {}, text.encode("utf-8"),
                   bytes.fromhex(row["signature"]), row["tsa_token"], json.loads(row["leaves"]))

    @property
    def tree_size(self) -> int:
        return self.statement.get("tree_size", 0)

    def describe(self, tsa_time: str | None = None) -> str:
        stamped = f", time-stamped {tsa_time} by its TSA" if tsa_time else ""
        return f"checkpoint {self.id} (signed {self.statement.get('at')}{stamped}, {self.tree_size} entries)"


def tree_root(hashes: list[str]) -> str:
    return merkle.root([merkle.leaf_hash(h) for h in hashes]).hex()


def load(store: Store) -> list[Checkpoint]:
    return [Checkpoint.from_row(row) for row in store.ledger_checkpoints()]


def make(ws: Workspace, store: Store, settings: Settings) -> Checkpoint:
    """Sign (and time-stamp, with provenance.tsa_url) the ledger as it is now, and store the checkpoint.

    Refuses a ledger that already fails verification: a checkpoint must never bless a rewrite.
    """
    rows = store.ledger_rows()
    if not rows:
        raise UsageError("The ledger is empty, so there is nothing to checkpoint; register a work first.")
    public_pem = signing.ensure_keypair(ws)
    roots = timestamp.load_roots(settings.provenance.tsa_certificate)
    problems = ledger.verify(store) + verify(store, public_pem, roots)
    if problems:
        raise UsageError(f"The ledger fails verification ({problems[0]}), so no checkpoint was made: it would "
                         "sign the damage. See `copyhound ledger verify` and restore the database from a backup.")
    previous = load(store)
    covered = previous[-1].tree_size if previous else 0
    hashes = [row["hash"] for row in rows]
    statement = {"format": FORMAT, "tree_size": len(rows), "head_hash": hashes[-1], "root": tree_root(hashes),
                 "at": utc_now(), "public_key_sha256": signing.fingerprint(public_pem)}
    statement_bytes = canonical_json(statement).encode("utf-8")
    signature, _ = signing.sign(ws, statement_bytes)
    provenance = settings.provenance
    token = timestamp.request(provenance.tsa_url, statement_bytes, provenance.tsa_timeout, roots).token \
        if provenance.tsa_url else None
    checkpoint_id = store.add_ledger_checkpoint({
        "tree_size": len(rows), "statement": statement_bytes.decode("utf-8"), "signature": signature.hex(),
        "tsa_token": token, "leaves": json.dumps(hashes[covered:]),
    }, after_size=covered)
    return Checkpoint(checkpoint_id, statement, statement_bytes, signature, token, hashes[covered:])


def due(store: Store) -> bool:
    """True when the ledger has entries no checkpoint covers yet."""
    made = load(store)
    head = store.ledger_head()
    return head is not None and (not made or made[-1].tree_size < head["seq"])


def covering(store: Store, size: int) -> Checkpoint | None:
    """The oldest checkpoint covering the first `size` entries (stable once made), or None."""
    return next((c for c in load(store) if c.tree_size >= size), None)


def verify(store: Store, public_pem: bytes, roots: list[x509.Certificate] | None = None) -> list[LedgerProblem]:
    """Check every checkpoint (signature, time-stamp, stored hashes) and the chain against them.

    The first entry whose hash differs from the one a checkpoint recorded is named once; entries
    after it differ too, since each hash covers the one before.
    """
    rows = {row["seq"]: row for row in store.ledger_rows()}
    problems: list[LedgerProblem] = []
    recorded: list[str] = []
    disagreement_named = False
    for checkpoint in load(store):
        tsa_time = None
        if not signing.verify(public_pem, checkpoint.statement_bytes, checkpoint.signature):
            problems.append(LedgerProblem(checkpoint.tree_size, "checkpoint_forged",
                                          f"Checkpoint {checkpoint.id} is not signed by this workspace's key: "
                                          "its statement or signature was edited."))
        if checkpoint.tsa_token is not None:
            tsa_time, why = timestamp.check(checkpoint.tsa_token, checkpoint.statement_bytes, roots)
            if why:
                problems.append(LedgerProblem(checkpoint.tree_size, "checkpoint_timestamp",
                                              f"The time-stamp of checkpoint {checkpoint.id} is not valid for its "
                                              f"statement: {why}."))
        start = len(recorded)
        recorded += checkpoint.leaves
        if len(recorded) != checkpoint.tree_size or tree_root(recorded) != checkpoint.statement.get("root"):
            problems.append(LedgerProblem(checkpoint.tree_size, "checkpoint_leaves",
                                          f"The entry hashes stored with checkpoint {checkpoint.id} do not give "
                                          "its signed Merkle root: they were edited, or an earlier checkpoint "
                                          "was deleted."))
            del recorded[checkpoint.tree_size:]
            continue
        if disagreement_named:
            continue
        for seq in range(start + 1, checkpoint.tree_size + 1):
            row = rows.get(seq)
            if row is None or row["hash"] != recorded[seq - 1]:
                problems.append(_disagreement(seq, row, recorded[seq - 1], checkpoint.describe(tsa_time)))
                disagreement_named = True
                break
    return problems


def _disagreement(seq: int, row: dict | None, recorded: str, checkpoint: str) -> LedgerProblem:
    if row is None:
        return LedgerProblem(seq, "deleted", f"Ledger entry {seq} is missing, but {checkpoint} covered it: it was "
                                             "deleted after that checkpoint.")
    return LedgerProblem(seq, "disagrees_with_checkpoint",
                         f"Ledger entry {seq} ({row['kind']} {row['subject']}, {row['at']}) disagrees with "
                         f"{checkpoint}: its hash was {recorded[:16]}... then and is {row['hash'][:16]}... now, "
                         "so it was rewritten after that checkpoint.")


def published_head(ws: Workspace, store: Store) -> dict:
    """What an owner publishes (website, letterhead, a public repository): the newest checkpoint."""
    checkpoints = load(store)
    if not checkpoints:
        raise UsageError("No ledger checkpoint yet; make one with `copyhound ledger checkpoint`.")
    newest = checkpoints[-1]
    public_pem = signing.public_key(ws)
    tsa_time = timestamp.check(newest.tsa_token, newest.statement_bytes)[0] if newest.tsa_token else None
    return {
        "checkpoint": newest.id, "statement": newest.statement_bytes.decode("utf-8"),
        "signature_base64": base64.b64encode(newest.signature).decode("ascii"),
        "tsa_token_base64": base64.b64encode(newest.tsa_token).decode("ascii") if newest.tsa_token else None,
        "tsa_time": tsa_time, "public_key_pem": public_pem.decode("ascii"),
        "public_key_sha256": signing.fingerprint(public_pem),
    }


def read_head(path) -> dict:
    """A head written by `ledger export-head` earlier, from the file at `path` (UsageError naming what is wrong)."""
    remedy = "give the file `copyhound ledger export-head` wrote (and you published) unchanged."
    try:
        head = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"--head {path}: cannot be read as JSON ({e}); {remedy}") from None
    fields = ("statement", "signature_base64", "public_key_pem")
    if not isinstance(head, dict) or not all(isinstance(head.get(k), str) for k in fields):
        raise UsageError(f"--head {path}: not a published ledger head (it needs {', '.join(fields)}); {remedy}")
    try:
        statement = json.loads(head["statement"])
        base64.b64decode(head["signature_base64"], validate=True)
        if head.get("tsa_token_base64"):
            base64.b64decode(head["tsa_token_base64"], validate=True)
    except ValueError as e:
        raise UsageError(f"--head {path}: its statement or signature is garbled ({e}); {remedy}") from None
    ok = isinstance(statement, dict) and statement.get("format") == FORMAT and \
        isinstance(statement.get("tree_size"), int) and statement["tree_size"] > 0 and \
        all(isinstance(statement.get(k), str) for k in ("head_hash", "root", "at"))
    if not ok:
        raise UsageError(f"--head {path}: its statement is not a {FORMAT} statement; {remedy}")
    return head


def verify_head(store: Store, head: dict, public_pem: bytes | None,
                roots: list[x509.Certificate] | None = None) -> list[LedgerProblem]:
    """Check the ledger against a head published earlier (`read_head`): the head's own signature and
    time-stamp, that it was signed by this workspace's key (`public_pem`), and that today's first
    `tree_size` entries give its newest hash and Merkle root. Checks nothing the workspace could rewrite."""
    statement_bytes = head["statement"].encode("utf-8")
    statement = json.loads(statement_bytes)
    size, problems = statement["tree_size"], []
    where = f"the published head (signed {statement['at']}, {size} entries)"
    if not signing.verify(head["public_key_pem"].encode("ascii"), statement_bytes,
                          base64.b64decode(head["signature_base64"])):
        problems.append(LedgerProblem(size, "head_forged", f"{where[0].upper()}{where[1:]} is not signed by the key "
                                                           "it names: it was edited after it was exported."))
    elif public_pem is not None and signing.fingerprint(public_pem) != signing.fingerprint(
            head["public_key_pem"].encode("ascii")):
        problems.append(LedgerProblem(size, "head_other_key", f"{where[0].upper()}{where[1:]} was signed by another "
                                                              "key than this workspace's: the signing key was replaced."))
    if head.get("tsa_token_base64"):
        tsa_time, why = timestamp.check(base64.b64decode(head["tsa_token_base64"]), statement_bytes, roots)
        if why:
            problems.append(LedgerProblem(size, "head_timestamp", f"The time-stamp of {where} is not valid for "
                                                                  f"its statement: {why}."))
        else:
            where = f"the published head (signed {statement['at']}, time-stamped {tsa_time} by its TSA, {size} entries)"
    rows = store.ledger_rows()[:size]
    if len(rows) < size:
        problems.append(LedgerProblem(len(rows) + 1, "deleted", f"The ledger has {len(rows)} entries, but {where} "
                                                                "covered more: entries were deleted since."))
    elif rows[-1]["hash"] != statement["head_hash"] or tree_root([r["hash"] for r in rows]) != statement["root"]:
        problems.append(LedgerProblem(size, "disagrees_with_head",
                                      f"The ledger's first {size} entries disagree with {where}: their hashes "
                                      "do not give its newest hash and Merkle root, so entries up to "
                                      f"{size} were rewritten since it was published."))
    return problems
