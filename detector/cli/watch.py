"""`copyhound watch bluesky`: follow the Bluesky firehose (Jetstream) and scan every image post."""

from __future__ import annotations

from typing import Annotated

import typer

from detector.cli.common import Home, app, console, embedder_of, err, open_parts

watch_app = typer.Typer(help="Watch live sources and scan what they post.", no_args_is_help=True)
app.add_typer(watch_app, name="watch")


@watch_app.command("bluesky")
def bluesky(
    jetstream: Annotated[str, typer.Option("--jetstream", help="The Jetstream relay (wss://...).")] =
        "wss://jetstream2.us-east.bsky.network",
    cdn: Annotated[str, typer.Option("--cdn", help="Where post images are fetched from.")] = "https://cdn.bsky.app",
    cdn_delay: Annotated[float, typer.Option("--cdn-delay", min=0, help="Seconds between image requests to the "
                                                                       "CDN (crawl.download_delay is for sites).")] = 0.0,
    appview: Annotated[str, typer.Option("--appview", help="The AppView asked for authors' handles "
                                                          "(app.bsky.actor.getProfiles).")] =
        "https://public.api.bsky.app",
    max_lag: Annotated[float, typer.Option("--max-lag", min=0, help="Seconds behind the live stream past which image "
                                                                   "posts are skipped and counted, not analysed; keep "
                                                                   "it under the relay's history (0: never skip).")]
        = 43_200.0,
    allow_private: Annotated[bool, typer.Option("--allow-private",
                                                help="Allow loopback/private addresses (a self-hosted relay, "
                                                     "tests).")] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Image leads read before they are crawled and "
                                                              "detected; bounds memory. Each batch starts a crawl "
                                                              "process (about a second of CPU), so small batches "
                                                              "cost more a post.")] = 100,
    idle: Annotated[float, typer.Option("--idle", min=0.1, help="Seconds of quiet that end a batch early.")] = 5.0,
    stop_when_idle: Annotated[bool, typer.Option("--stop-when-idle", help="Stop when the relay goes quiet (for "
                                                                          "replays and tests).")] = False,
    home: Home = None,
) -> None:
    """Read posts with images from Bluesky's Jetstream, resume from the saved cursor, and scan each batch
    (the images through the crawler, then detection); run it as a service (contrib/copyhound-watch-bluesky.service)."""
    from detector.sources import SourceError
    from detector.sources.bluesky import Handles, read_batch
    from detector.watch import watch

    ws, settings, store = open_parts(home)
    handles = Handles(appview, allow_private)

    def read(cursor: int | None):
        return read_batch(jetstream, cdn, cursor, batch, idle, allow_private, max_lag, handles)

    def note(detail: str) -> None:
        err.print(f"watch bluesky: {detail}", highlight=False, markup=False)

    try:
        watch(ws, store, settings, embedder_of(settings), read, allow_private, cdn_delay, stop_when_idle, _report,
              note)
    except SourceError as e:
        note(str(e))
        raise typer.Exit(1) from None


def _report(summary: dict) -> None:
    crawl, detect = summary.get("crawl", {}), summary.get("detect", {})
    console.print(f"scan {summary['scan_id']}: {crawl.get('images_fetched', 0)} image(s) fetched, "
                  f"{detect.get('images', 0)} analysed, {detect.get('matches_new', 0)} new match(es)", highlight=False)
