"""Scrapy's filesystem HTTP cache, never serving an entry that was not written whole.

A full disk (or a kill) in the middle of storing a response leaves its files half-written:
Scrapy would later serve, say, a 0-byte body as the image, and the capture would be refused as
not an image although the server sent one. An entry whose write failed is withdrawn at once,
and an entry whose body does not have the length its headers declare is treated as not cached.
"""

from __future__ import annotations

from pathlib import Path

from scrapy.extensions.httpcache import FilesystemCacheStorage


class WholeEntryCacheStorage(FilesystemCacheStorage):
    def store_response(self, spider, request, response) -> None:
        try:
            super().store_response(spider, request, response)
        except OSError:
            # pickled_meta is what makes an entry present; without it the rest is never read.
            (Path(self._get_request_path(spider, request)) / "pickled_meta").unlink(missing_ok=True)
            raise

    def retrieve_response(self, spider, request):
        try:
            response = super().retrieve_response(spider, request)
        except (OSError, EOFError, ValueError):
            return None  # files missing or cut short
        if response is None or not _whole(response):
            return None
        return response


def _whole(response) -> bool:
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit():
        return int(declared) == len(response.body)
    return bool(response.body) or response.status in (204, 304) or 300 <= response.status < 400
