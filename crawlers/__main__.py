"""`python -m crawlers`: crawl one scan's targets in this process and write the summary as JSON.

Twisted's reactor cannot be restarted within a process, and a scan must survive being killed,
so every crawl runs in a process of its own; `crawlers.run.crawl` starts this one.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
from pathlib import Path

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawlers.configure import hold_target
from crawlers.frontier import new_worker_id, reach
from crawlers.spiders.site import SiteSpider
from crawlers.summary import combine, target_summary
from detector.config import Target, from_dict
from detector.config.targets import check_target
from detector.errors import ConfigError, CopyhoundError
from detector.workspace import open_workspace

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m crawlers", description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="The workspace folder.")
    parser.add_argument("--scan-id", required=True, type=int, help="The scan the captures belong to.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--targets-json", help="The targets as a JSON list of [[targets]] tables.")
    source.add_argument("--targets-file", type=Path, help="A file holding that JSON list.")
    parser.add_argument("--resume", action="store_true", help="Continue this scan's stopped crawl.")
    parser.add_argument("--summary-out", type=Path, help="Write the summary here (default: stdout).")
    parser.add_argument("--parent-pid", type=int, help="Stop when this process (the scan) dies.")
    parser.add_argument("--redis-url", help="Share the scan's crawl frontier with other crawler processes in "
                        "this Redis (see crawlers.frontier); the summary then counts this process's work only.")
    parser.add_argument("--worker", help="This process's name in the shared frontier (default: host, pid, random).")
    return parser


def die_with_parent(parent_pid: int) -> None:
    """Have Linux send SIGTERM (a graceful Scrapy stop) when the process that started us dies.

    A scan killed with SIGKILL cannot stop its crawl, and an orphaned crawl would keep writing
    while a resumed scan starts another. If the parent is already gone, stop at once.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        sys.exit(f"crawl: the scan that started this crawl (pid {parent_pid}) is gone; stopping.")


def _targets(args) -> tuple[Target, ...]:
    text = args.targets_json if args.targets_json is not None else args.targets_file.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"--targets-json is not valid JSON ({e}); pass a list of target tables.") from e
    if not isinstance(data, list) or not data:
        raise ConfigError(f"--targets-json must be a non-empty list of target tables, got {text[:80]!r}.")
    return from_dict({"targets": data}).targets


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)
    try:
        targets = _targets(args)
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ConfigError(f"Target names must be unique within a scan, got {names}.")
        for target in targets:
            check_target(target)
        ws = open_workspace(args.home)
        if args.redis_url:
            reach(args.redis_url)
        # Several processes crawl one target on purpose when they share a frontier, each with a WARC
        # file of its own; otherwise the target's job folder and WARC file are this process's alone.
        held = [] if args.redis_url else [hold_target(ws, target) for target in targets]  # released at exit
        worker = args.worker or new_worker_id()
        settings = Settings()
        settings.setmodule("crawlers.settings", priority="project")
        process = CrawlerProcess(settings)
        crawlers_ = []
        for target in targets:
            crawler = process.create_crawler(SiteSpider)
            process.crawl(crawler, home=args.home, target=target, scan_id=args.scan_id, resume=args.resume,
                          redis_url=args.redis_url, worker=worker)
            crawlers_.append((target.name, crawler))
        process.start()
    except CopyhoundError as e:
        print(f"crawl: {e}", file=sys.stderr)
        return e.exit_code
    summary = combine({name: target_summary(crawler.stats.get_stats()) for name, crawler in crawlers_})
    text = json.dumps(summary, indent=2, sort_keys=True)
    if args.summary_out:
        args.summary_out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    del held  # the targets' locks are released only once the summary is written
    return 0


if __name__ == "__main__":
    sys.exit(main())
