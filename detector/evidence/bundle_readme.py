"""The README.txt inside every evidence bundle: what each file is and how a stranger verifies it
with only `openssl` and `sha256sum`, or with copyhound."""

from __future__ import annotations

import re

from detector.evidence.case import environment

# What each kind of file is, by name pattern; the first that matches describes it.
_DESCRIPTIONS = (
    (r"^README\.txt$", "this file"),
    (r"^SHA256SUMS$", "SHA-256 of every file below, for `sha256sum -c`; itself listed in manifest.json"),
    (r"^works/work-\d+-thumbnail\.jpg$", "a thumbnail of the registered work"),
    (r"^works/work-\d+\.", "the registered work, the file exactly as registered"),
    (r"^matches/\d+/copy\.", "the copy, the bytes exactly as fetched from the web"),
    (r"^matches/\d+/capture\.warc\.gz$", ("the WARC capture (ISO 28500): a warcinfo record, then the page's "
                                          "and the image's response and request records as crawled")),
    (r"^matches/\d+/report\.html$", "the evidence report"),
    (r"^matches/\d+/report\.pdf$", "the evidence report, printable"),
    (r"^matches/\d+/notices/", "a takedown notice drafted for the match"),
    (r"^matches/\d+/offers/", "a licensing offer letter for the match"),
    (r"^ledger/checkpoint\.json$", ("the ledger checkpoint (tree size, newest entry hash, Merkle root, time) "
                                    "the ledger proofs in manifest.json lead to")),
    (r"^ledger/checkpoint\.sig$", "the workspace key's Ed25519 signature of ledger/checkpoint.json, raw"),
    (r"^ledger/checkpoint\.tsr$", ("an RFC 3161 time-stamp of ledger/checkpoint.json by an outside "
                                   "time-stamping authority")),
)


def describe(name: str) -> str:
    return next((text for pattern, text in _DESCRIPTIONS if re.match(pattern, name)), "evidence")


def render(files: dict[str, bytes], *, has_checkpoint: bool, has_tsa: bool) -> str:
    listed = sorted(set(files) | {"README.txt", "SHA256SUMS"})
    return environment().get_template("bundle_readme.txt.j2").render(
        files=[(name, describe(name)) for name in listed], has_checkpoint=has_checkpoint, has_tsa=has_tsa)
