"""Commands about the e-mails sent for cases: bounces read back from the sender's mailbox."""

from __future__ import annotations

import typer

from detector.cli.common import Format, Home, app, check_format, console, open_parts
from detector.errors import ConfigError
from detector.output import render

deliveries_app = typer.Typer(help="E-mails sent with notices and offers.", no_args_is_help=True)
app.add_typer(deliveries_app, name="deliveries")

BOUNCE_COLUMNS = ["id", "match_id", "recipient", "message_id", "bounced_at", "bounce"]


@deliveries_app.command("check-bounces")
def check_bounces(fmt: Format = "table", home: Home = None) -> None:
    """Read bounce reports (DSNs) from smtp.bounce_maildir and mark the e-mails they are about as bounced."""
    from detector.enforcement import bounces

    check_format(fmt)
    ws, settings, store = open_parts(home)
    marked = bounces.check(ws, store, settings.smtp)
    if marked is None:
        raise ConfigError("smtp.bounce_maildir is empty, so there is no mailbox to read bounces from; "
                          "`copyhound config set smtp.bounce_maildir PATH` names the sender's maildir.")
    render(marked, BOUNCE_COLUMNS, fmt, console, title="Bounced e-mails (newly marked)")
