"""`copyhound keys`: the workspace's signing key, as an owner publishes it."""

from __future__ import annotations

import typer

from detector.cli.common import Home, app, console, open_parts

keys_app = typer.Typer(help="The workspace's signing key.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("show")
def keys_show(home: Home = None) -> None:
    """Print the public key and its fingerprint, to publish (website, letterhead) so bundles can be checked."""
    from detector.provenance import signing

    ws, _, _ = open_parts(home)
    public_pem = signing.public_key(ws)
    console.print(public_pem.decode("ascii").rstrip(), highlight=False, soft_wrap=True)
    console.print(f"Fingerprint (SHA-256 of the raw 32-byte Ed25519 key): {signing.fingerprint(public_pem)}",
                  highlight=False, soft_wrap=True)
    console.print("Recompute it with: openssl pkey -pubin -in KEY.pem -outform DER | tail -c 32 | sha256sum",
                  highlight=False, soft_wrap=True)
