"""Targets: what one crawl visits. Built from config.toml, from `--site URL` or from `--urls FILE`,
and checked before any crawl starts.

A target's name names its crawl state folders (HTTP cache, resumable job) and its WARC file, so
it is kept to letters, digits, dot, dash and underscore.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from detector.config import Target
from detector.errors import ConfigError, UsageError

_NAME_OK = re.compile(r"^[A-Za-z0-9._-]+$")


def _check_url(url: str, where: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{where}: {url!r} is not an http(s) URL; give a full address such as https://example.com/gallery."
        )
    return url


def safe_name(text: str) -> str:
    """`text` reduced to the characters a target name may hold."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "target"


def target_from_site(url: str, allow_private: bool = False) -> Target:
    """A target crawling one site from `url` (links within its host, /sitemap.xml, default caps)."""
    url = _check_url(url, "--site")
    netloc = urlsplit(url).netloc
    return Target(
        name=safe_name(f"site-{netloc}"),
        start_urls=(url,),
        allow_private=allow_private,
    )


def targets_from_urls_file(path: Path, allow_private: bool = False) -> Target:
    """A target fetching exactly the page or image URLs listed in `path` (one a line, `#` comments).

    No links are followed: the list came from somewhere that already chose the pages (a
    reverse-image search export, a partner feed). A listed URL that turns out to be an image is
    captured as a candidate whose page is the image itself.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise UsageError(f"--urls {path}: cannot read the file ({e.strerror}); give a readable text file.") from e
    urls: list[str] = []
    for number, line in enumerate(lines, start=1):
        # A URL holds no spaces, so anything after the first word is a note ("URL  # from search").
        words = line.split()
        text = words[0] if words and not words[0].startswith("#") else ""
        if text and text not in urls:
            urls.append(_check_url(text, f"--urls {path}, line {number}"))
    if not urls:
        raise UsageError(
            f"--urls {path} holds no URLs; list one http(s) page or image URL per line (# starts a comment)."
        )
    hosts = tuple(dict.fromkeys(urlsplit(u).hostname for u in urls))
    return Target(
        name=safe_name(f"urls-{path.stem}"),
        start_urls=tuple(urls),
        allowed_domains=hosts,
        allow_private=allow_private,
        follow_links=False,
    )


def check_target(target: Target) -> None:
    """Refuse a target that cannot be crawled as configured, saying which setting to fix."""
    where = f"target {target.name!r}" if target.name else "a [[targets]] entry"
    if not _NAME_OK.match(target.name):
        raise ConfigError(
            f"{where}: name must be letters, digits, '.', '-' or '_' (it names folders), got {target.name!r}; "
            f"for example name = {safe_name(target.name)!r}."
        )
    if not target.start_urls:
        raise ConfigError(f"{where}: start_urls is empty; list the pages or sitemap.xml URLs to start from.")
    for url in target.start_urls:
        _check_url(url, f"{where}, start_urls")
    if target.ignore_robots and not target.robots_reason.strip():
        raise ConfigError(
            f"{where}: ignore_robots = true needs robots_reason = \"...\" saying why robots.txt may be "
            "ignored (for example, the site owner's written permission); it is recorded with every scan."
        )
