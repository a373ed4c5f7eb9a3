"""Commands that turn a match into evidence: report, notice, export, verify-bundle, ledger (offers: licensing)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from detector.cli.common import Home, OutDir, app, console, err, open_parts
from detector.errors import UsageError


@app.command()
def report(
    match_id: Annotated[int, typer.Argument(metavar="MATCH", help="Match id.")],
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write a PDF.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help=(
        "Folder to write to (default: output/reports), or the file: FILE.pdf (with FILE.html beside it) or "
        "FILE.html."))] = None,
    home: Home = None,
) -> None:
    """Write the evidence report of a match: self-contained HTML (and PDF)."""
    from detector.evidence.report import write_report

    ws, settings, store = open_parts(home)
    named = out is not None and out.suffix.lower() in (".pdf", ".html")
    folder, stem = (out.parent, out.stem) if named else (out, None)
    pdf = pdf or (named and out.suffix.lower() == ".pdf")
    for path in write_report(ws, store, settings, match_id, pdf=pdf, out_dir=folder, stem=stem):
        console.print(f"Wrote {path}", highlight=False, soft_wrap=True)


@app.command()
def notice(
    match_id: Annotated[int, typer.Argument(metavar="MATCH", help="Match id.")],
    kind: Annotated[str, typer.Option("--kind", help="dmca (17 U.S.C. 512(c)(3)) or dsa (EU DSA Article 16).")],
    out: OutDir = None,
    home: Home = None,
) -> None:
    """Draft a takedown notice for a match, record it and enter it in the ledger."""
    from detector.evidence.notices import make_notice

    ws, settings, store = open_parts(home)
    made = make_notice(ws, store, settings, match_id, kind, out_dir=out)
    console.print(f"Wrote {kind.upper()} notice {made.id} for match {match_id}: {made.path}", highlight=False, soft_wrap=True)


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="The bundle file to write (.zip).")],
    match: Annotated[list[int] | None, typer.Option("--match", help="Match id (repeatable).")] = None,
    asset: Annotated[int | None, typer.Option(help="Every match of this asset (not rejected/authorized).")] = None,
    status: Annotated[str | None, typer.Option(help="Every match with this status, e.g. confirmed.")] = None,
    since: Annotated[str | None, typer.Option(help="Only matches seen on or after this date (YYYY-MM-DD).")] = None,
    wacz: Annotated[bool, typer.Option("--wacz", help=(
        "Also write the captures as a replayable WACZ beside the zip, signed (and time-stamped with "
        "provenance.tsa_url) per the WACZ signing spec."))] = False,
    home: Home = None,
) -> None:
    """Export a signed evidence bundle (zip) of matches, with captures, WARC records, reports, notices, offers."""
    from detector.evidence.bundle import export_bundle, select_matches

    ws, settings, store = open_parts(home)
    ids = select_matches(store, match_ids=match, asset_id=asset, status=status, since=since)
    path = export_bundle(ws, store, settings, ids, out)
    console.print(f"Wrote a signed bundle of {len(ids)} match(es) to {path}", highlight=False, soft_wrap=True)
    if wacz:
        from detector.evidence.wacz_export import write_wacz

        replay = path.with_suffix(".wacz")
        signed = write_wacz(ws, store, settings, ids, replay)
        stamped = (" and time-stamped" if "timeSignature" in signed else
                   " (not time-stamped: set provenance.tsa_url in config.toml for an RFC 3161 time-stamp)")
        console.print(f"Wrote the captures as a WACZ, signed{stamped}, to {replay} (replay with ReplayWeb.page or "
                      "pywb; check with `copyhound verify-bundle`)", highlight=False, soft_wrap=True)


@app.command("verify-bundle")
def verify_bundle(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="The bundle (.zip) or signed WACZ (.wacz) to check.")],
    key: Annotated[Path | None, typer.Option(help="Trusted public key (PEM) the file must be signed with.")] = None,
    tsa_cert: Annotated[Path | None, typer.Option(
        "--tsa-cert", help="A WACZ's time-stamp must chain to this TSA certificate (PEM); without it, it is "
                           "checked against the certificate it carries.")] = None,
) -> None:
    """Check a bundle's or WACZ's signature and every file's hash; name whatever was tampered with (exit 1)."""
    from detector.evidence.wacz_check import is_wacz

    for given, what in ((path, "bundle"), (key, "--key"), (tsa_cert, "--tsa-cert")):
        if given is not None and not given.is_file():
            raise UsageError(f"{what}: no such file: {given}." + (" Give the .zip or .wacz that `copyhound export` "
                                                                   "wrote." if what == "bundle" else ""))
    if is_wacz(path):
        _verify_wacz(path, key, tsa_cert)
        return
    from detector.evidence.bundle_check import verify_bundle as check_bundle

    check = check_bundle(path, trusted_public_key=key.read_bytes() if key else None)
    for problem in check.problems:
        err.print(f"{problem.code}: {problem.message}", highlight=False, markup=False)
    if not check.ok:
        raise typer.Exit(1)
    console.print(f"{path}: intact, signed by key {check.public_key_sha256} "
                  "(compare it with the fingerprint the rights holder publishes).", highlight=False, soft_wrap=True)
    if check.checkpoint_time:
        console.print(f"Its ledger entries are proven against a checkpoint time-stamped {check.checkpoint_time} "
                      "(check the TSA's certificate as its README says).", highlight=False, soft_wrap=True)


def _verify_wacz(path: Path, key: Path | None, tsa_cert: Path | None) -> None:
    from detector.evidence.wacz_check import verify_wacz
    from detector.provenance.timestamp import load_roots

    check = verify_wacz(path, trusted_public_key=key.read_bytes() if key else None,
                        tsa_roots=load_roots(str(tsa_cert)) if tsa_cert else None)
    for problem in check.problems:
        err.print(f"{problem.code}: {problem.message}", highlight=False, markup=False)
    if not check.ok:
        raise typer.Exit(1)
    console.print(f"{path}: intact (every file matches datapackage.json, which matches its signed digest), signed by "
                  f"{check.signer}" + (" (compare it with the fingerprint the rights holder publishes)."
                                       if check.signer.startswith("key") else "."), highlight=False, soft_wrap=True)
    if check.stamped_at:
        by = f" by {check.stamp_authority}" if check.stamp_authority else ""
        console.print(f"Time-stamped {check.stamped_at}{by}, " + (
            "whose certificate chains to --tsa-cert." if check.stamp_trusted else
            "checked against the certificate it carries; pass --tsa-cert with the TSA's certificate to check who "
            "stamped it."), highlight=False, soft_wrap=True)
    for note in check.notes:
        console.print(note, highlight=False, soft_wrap=True)


ledger_app = typer.Typer(help="The provenance ledger (an append-only hash chain).", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("verify")
def ledger_verify(
    head_file: Annotated[Path | None, typer.Option(
        "--head", help="Also check the chain against this head, written by `ledger export-head` earlier and kept "
                       "where the workspace's owner cannot rewrite it.")] = None,
    home: Home = None,
) -> None:
    """Check the chain and every signed checkpoint; name every edited, reordered or deleted entry (exit 1)."""
    from detector.errors import UsageError
    from detector.provenance import checkpoints, ledger, signing, timestamp

    ws, settings, store = open_parts(home)
    published = checkpoints.read_head(head_file) if head_file else None
    made = checkpoints.load(store)
    problems = ledger.verify(store)
    roots = timestamp.load_roots(settings.provenance.tsa_certificate) if made or published else None
    if made:  # a workspace without checkpoints may have no signing key yet
        problems += checkpoints.verify(store, signing.public_key(ws), roots)
    if published is not None:
        try:
            key = signing.public_key(ws)
        except UsageError:  # the head names its own key; only the comparison with the workspace's is left out
            key = None
        problems += checkpoints.verify_head(store, published, key, roots)
    for problem in problems:
        err.print(f"{problem.code}: {problem.message}", highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)
    head = store.ledger_head()
    console.print(f"Ledger intact: {head['seq'] if head else 0} entries"
                  + (f", head {head['hash']}" if head else "")
                  + f"; agrees with {len(made)} signed checkpoint(s)"
                  + (f" and the published head of {head_file}." if head_file else "."), highlight=False, soft_wrap=True)
