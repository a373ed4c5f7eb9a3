"""Turn whatever stopped a request into a stable reason code and a sentence a person can act on.

Reason codes stored in `crawl_events.reason`: private_address, robots_disallowed, robots_unavailable, too_large,
too_many_redirects, redirect_loop, http_<status>, dns_error, timeout, connection_error,
disk_full, not_image, unsupported_format, unsupported_page, offsite, cap_reached,
robots_ignored, fetch_error.

A failure after redirects is named by the URL that was asked for (the first of the chain).
"""

from __future__ import annotations

import errno

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

#: The reason (and Scrapy close reason) when a write failed because the disk is full.
DISK_FULL = "disk_full"


class Refused(IgnoreRequest):
    """A request a copyhound middleware declined, carrying the reason code and its explanation."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def classify(failure: Failure, max_bytes: int) -> tuple[str, str]:
    """(reason, detail) for a failed request, as delivered to a Scrapy errback."""
    error = failure.value
    request = getattr(failure, "request", None)
    url = asked_url(request) if request is not None else "the request"
    if isinstance(error, Refused):
        return error.reason, error.detail
    if isinstance(error, HttpError):
        response = error.response
        retries = response.meta.get("retry_times", 0)
        after = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
        return (
            f"http_{response.status}",
            f"{response.url} answered HTTP {response.status}{after}.",
        )
    if isinstance(error, (DownloadCancelledError, CancelledError)):
        return (
            "too_large",
            (f"{url} is larger than the {max_bytes}-byte limit, so its download was stopped; "
            "raise crawl.max_image_bytes in config.toml to keep files this big."),
        )
    if isinstance(error, IgnoreRequest) and "max redirections" in str(error):
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if len(set(chain)) < len(chain):
            return "redirect_loop", f"{url} redirects in a loop ({' -> '.join(chain)}); nothing was fetched."
        return "too_many_redirects", (f"{url} redirected more times than crawl.max_redirects allows "
                                      f"(last hop: {request.url}).")
    if isinstance(error, IgnoreRequest) and "DOWNLOAD_MAXSIZE" in str(error):
        return "too_large", (f"{url} decompresses to more than the {max_bytes}-byte limit (a compressed body "
                             "that expands past crawl.max_image_bytes), so its download was stopped.")
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return DISK_FULL, f"{url}: the disk is full ({error}); free space, then resume the scan."
    if isinstance(error, CannotResolveHostError):
        return "dns_error", f"{url}: the host name does not resolve ({error})."
    if isinstance(error, DownloadTimeoutError):
        return "timeout", f"{url}: {error}; raise crawl.timeout for slow sites."
    if isinstance(error, (DownloadConnectionRefusedError, ConnectionError, OSError)):
        return "connection_error", f"{url}: the connection failed ({error})."
    return "fetch_error", f"{url}: {type(error).__name__}: {error}"


def asked_url(request) -> str:
    """The URL a request was made for, before any redirect."""
    return (request.meta.get("redirect_urls") or [request.url])[0]
