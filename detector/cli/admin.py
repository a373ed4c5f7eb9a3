"""Commands around the product: owner profiles, the portal and its tokens, embedding models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from detector.cli.common import Format, Home, Wide, app, check_format, console, err, open_parts, require_extra
from detector.errors import UsageError
from detector.output import render

owner_app = typer.Typer(help="Rights holders' profiles (used by notices and offers).", no_args_is_help=True)
app.add_typer(owner_app, name="owner")


@owner_app.command("set")
def owner_set(
    name: Annotated[str, typer.Argument(help="Owner name (as given to register --owner).")],
    legal_name: Annotated[str | None, typer.Option(help="Full legal name of the rights holder.")] = None,
    address: Annotated[str | None, typer.Option(help="Postal address (may span lines).")] = None,
    email: Annotated[str | None, typer.Option(help="Contact email address.")] = None,
    phone: Annotated[str | None, typer.Option(help="Telephone number.")] = None,
    signature: Annotated[str | None, typer.Option(help="Signature block, e.g. '/s/ Jane Doe'.")] = None,
    jurisdiction: Annotated[str | None, typer.Option(help="Default jurisdiction, e.g. Germany.")] = None,
    home: Home = None,
) -> None:
    """Set profile fields of an owner (an empty value clears a field)."""
    from detector.evidence.profile import PROFILE_FIELDS, set_profile

    _, _, store = open_parts(home)
    row = set_profile(store, name, legal_name=legal_name, address=address, email=email, phone=phone,
                      signature=signature, jurisdiction=jurisdiction)
    render([{"field": f, "value": row.get(f) or ""} for f in PROFILE_FIELDS], ["field", "value"], "table",
           console, title=f"Owner {name}")


# -- portal commands --

@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    home: Home = None,
) -> None:
    """Serve the rights-holder portal: web pages and the JSON API (OpenAPI at /openapi.json)."""
    require_extra("portal", "fastapi", "uvicorn", "multipart", "limits")
    import uvicorn

    from detector.web import create_app

    ws, settings, store = open_parts(home)
    if not store.api_tokens():
        err.print("No API tokens yet: make one with `copyhound tokens create --owner NAME` (or --admin) "
                  "to sign in.", highlight=False, markup=False)
    store.close()
    from detector.licensing import readiness

    served = f"http://{host}:{port}"
    public = settings.licensing.public_url.rstrip("/")
    problems = readiness.problems(settings.licensing)
    if public != served and readiness.unreachable(public):
        problems.append(f"offer links start with {public}, not with {served} where this portal listens")
    for problem in problems:
        err.print(f"warning: {problem}; offers are kept as drafts until {readiness.REMEDY}.", highlight=False,
                  soft_wrap=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"Listening on {host}: put a TLS-terminating proxy in front, tokens travel in every request.",
                  highlight=False, markup=False)
    console.print(f"Portal for {ws.home} on http://{host}:{port}/ (API under /api). Ctrl-C stops it.",
                  highlight=False, soft_wrap=True)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from any loopback client; the app believes
    # it only from portal.trusted_proxies
    uvicorn.run(create_app(ws, settings), host=host, port=port, log_level="info", proxy_headers=False)


tokens_app = typer.Typer(help="API tokens of the portal (stored hashed, shown once).", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
_TOKEN_COLUMNS = ["id", "owner", "label", "created_at", "revoked_at"]


@tokens_app.command("create")
def tokens_create(
    owner: Annotated[str | None, typer.Option(help="Owner the token sees (as given to register --owner).")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="A token that sees every owner.")] = False,
    label: Annotated[str | None, typer.Option(help="What the token is for, shown by `tokens list`.")] = None,
    home: Home = None,
) -> None:
    """Make a token and print it once on stdout (only its SHA-256 is kept)."""
    from detector.tokens import create_token

    if admin == (owner is not None):
        raise UsageError("Give exactly one of --owner NAME (a token for one rights holder) or --admin "
                         "(a token that sees every owner).")
    _, _, store = open_parts(home)
    row, token = create_token(store, owner, label)
    err.print(f"Token {row['id']} for {owner or 'admin (every owner)'}; it is shown only now, so store it "
              f"safely. Revoke it with `copyhound tokens revoke {row['id']}`.", highlight=False, markup=False)
    console.out(token, highlight=False)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="Token id (see `tokens list`).")],
                  home: Home = None) -> None:
    """Revoke a token: API calls and web sessions made with it stop working at once."""
    _, _, store = open_parts(home)
    row = store.revoke_api_token(token_id)
    console.print(f"Token {row['id']} ({row['owner'] or 'admin'}) revoked at {row['revoked_at']}.", highlight=False)


@tokens_app.command("list")
def tokens_list(wide: Wide = False, fmt: Format = "table", home: Home = None) -> None:
    """List tokens (never the tokens themselves)."""
    check_format(fmt)
    _, _, store = open_parts(home)
    rows = [dict({k: r[k] for k in _TOKEN_COLUMNS}, owner=r["owner"] or "(admin)") for r in store.api_tokens()]
    render(rows, _TOKEN_COLUMNS, fmt, console, title="API tokens", wide=wide)


# -- models commands --
models_app = typer.Typer(help="Embedding models: export the configured one for a faster runtime.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("export-onnx")
def models_export_onnx(
    out: Annotated[Path | None, typer.Option(
        help="Model file to write (default: WORKSPACE/models/clip-image[-int8].onnx); its sidecar is OUT.json.")] = None,
    int8: Annotated[bool, typer.Option("--int8", help="Quantise weights to int8 (smaller, usually faster).")] = False,
    home: Home = None,
) -> None:
    """Export the configured open_clip image tower to ONNX, to run it with embedder onnx:PATH."""
    require_extra("onnx", "onnx")
    from detector.embedders.onnx_export import export_spec

    ws, settings, _ = open_parts(home)
    out = out or ws.home / "models" / f"clip-image{'-int8' if int8 else ''}.onnx"
    prep = export_spec(settings.embedder.spec, out, int8=int8)
    console.print(f"Wrote {out} ({prep.dim}-d, {prep.size[1]}x{prep.size[0]} input"
                  f"{', int8 weights' if int8 else ''}) and {out}.json.", highlight=False, soft_wrap=True)
    console.print(f"To use it, set spec = \"onnx:{out}\" under [embedder] in {ws.config_path}, then run "
                  "`copyhound reindex` (vectors of different models are never mixed).", highlight=False, soft_wrap=True)
