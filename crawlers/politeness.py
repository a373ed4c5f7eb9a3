"""Per-domain politeness across crawler processes that share a frontier (see docs/crawling.md).

Each process keeps Scrapy's own per-domain delay and concurrency. On top of that, just before a
request goes on the wire (in the download handler, after Scrapy's slot has let it through), the
process takes the domain's next turn from Redis: one Lua script, on the Redis server's clock, reads
when the domain may next be asked, books that moment and moves the next free turn one delay
later. Whatever the number of processes and machines, two requests to one host start at least
the target's download delay apart. Responses from the HTTP cache never reach the handler, so
they take no turn.
"""

from __future__ import annotations

import asyncio

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.http import Request, Response
from scrapy.utils.httpobj import urlparse_cached
from scrapy_redis import connection

# KEYS[1]: the domain's next free moment (ms on the Redis clock). ARGV[1]: the delay in ms.
# Returns how many ms to wait for the booked turn.
_TAKE_TURN = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local turn = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local following = turn + tonumber(ARGV[1])
redis.call('SET', KEYS[1], following, 'PX', following - now + 60000)
return turn - now
"""


def turn_key(host: str) -> str:
    """The Redis key holding `host`'s next free moment (shared by every scan and target)."""
    return f"copyhound:turn:{host}"


class SharedTurnDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler, waiting for the domain's shared turn before each request."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self.delay_ms = round(crawler.settings.getfloat("DOWNLOAD_DELAY") * 1000)
        self._take_turn = connection.from_settings(crawler.settings).register_script(_TAKE_TURN)

    async def download_request(self, request: Request) -> Response:
        if self.delay_ms > 0:
            host = urlparse_cached(request).hostname or ""
            wait_ms = int(self._take_turn(keys=[turn_key(host)], args=[self.delay_ms]))
            if wait_ms > 0:
                await asyncio.sleep(wait_ms / 1000)
        return await super().download_request(request)
