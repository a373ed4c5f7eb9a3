"""Commands that anchor the ledger outside the workspace: checkpoints (signed, RFC 3161
time-stamped), the head an owner publishes, and registration certificates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from detector.cli.common import Home, app, console, err, open_parts
from detector.cli.evidence import ledger_app


@ledger_app.command("checkpoint")
def ledger_checkpoint(home: Home = None) -> None:
    """Sign the ledger's head (and time-stamp it with provenance.tsa_url) as a checkpoint."""
    from detector.provenance import checkpoints

    ws, settings, store = open_parts(home)
    made = checkpoints.make(ws, store, settings)
    stamped = "time-stamped by " + settings.provenance.tsa_url if made.tsa_token else \
        "not time-stamped (set provenance.tsa_url)"
    console.print(f"Checkpoint {made.id}: {made.tree_size} entries, head {made.statement['head_hash']}, signed and "
                  f"{stamped}.", highlight=False, soft_wrap=True)


def checkpoint_if_due(ws, settings, store) -> None:
    """After a scan (provenance.checkpoint_after_scan): a checkpoint when entries were added since the last."""
    from detector.provenance import checkpoints

    if checkpoints.due(store):
        made = checkpoints.make(ws, store, settings)
        err.print(f"Ledger checkpoint {made.id} made ({made.tree_size} entries).", highlight=False)


@ledger_app.command("export-head")
def ledger_export_head(home: Home = None) -> None:
    """Print the newest checkpoint as JSON: what an owner publishes so the ledger cannot be rewritten unseen."""
    from detector.provenance import checkpoints

    ws, _, store = open_parts(home)
    print(json.dumps(checkpoints.published_head(ws, store), indent=2, sort_keys=True))


@app.command()
def certificate(
    asset_id: Annotated[int, typer.Argument(metavar="ASSET", help="Asset id.")],
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: output/certificate-ASSET.json).")] = None,
    home: Home = None,
) -> None:
    """Write a registration certificate anyone can verify: hashes, owner, registration, checkpoint, TSA token."""
    from detector.provenance.certificate import certificate as build
    from detector.provenance.certificate import render

    ws, _, store = open_parts(home)
    path = out or ws.output_dir / f"certificate-{asset_id}.json"
    data = render(build(ws, store, asset_id))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    console.print(f"Wrote the certificate of asset {asset_id} to {path}", highlight=False, soft_wrap=True)
