"""Per-domain politeness across crawler processes that share a frontier (see docs/crawling.md).

Each process keeps Scrapy's own per-domain delay and concurrency. On top of that, just before a
request goes on the wire (in the download handler, after Scrapy's slot has let it through), the
process
- takes one of the domain's places in Redis: a sorted set of the requests in flight to it, at most
  `CONCURRENT_REQUESTS_PER_DOMAIN` across all processes, each place expiring after the download
  timeout (and a margin) so a killed process's places come free; then
- takes the domain's turn: one Lua script, on the Redis server's clock, grants it only when the
  last request to the domain was granted at least the delay ago, and records the grant; otherwise
  the process waits out the rest and asks again. The turn is granted at the moment of sending,
  not booked ahead, so a process that wakes late cannot shorten the gap to the next request.
Whatever the number of processes and machines, a host has at most that many requests in flight
from us, and two of them start at least the target's download delay apart. Responses from the
HTTP cache never reach the handler, so they take neither.
"""

from __future__ import annotations

import asyncio
import uuid

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.http import Request, Response
from scrapy.utils.httpobj import urlparse_cached
from scrapy_redis import connection

# KEYS[1]: when the domain's last turn was granted (ms on the Redis clock). ARGV[1]: the delay in ms.
# Returns 0 when the turn is granted now, else the ms still to wait before asking again.
_TAKE_TURN = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local last = redis.call('GET', KEYS[1])
local delay = tonumber(ARGV[1])
if last and now < tonumber(last) + delay then return tonumber(last) + delay - now end
redis.call('SET', KEYS[1], now, 'PX', delay + 60000)
return 0
"""


# KEYS[1]: the domain's places (member -> expiry, ms). ARGV: places, hold ms, member. 1 when taken.
_TAKE_PLACE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
_PLACE_POLL_SECONDS = 0.05
_PLACE_MARGIN_SECONDS = 5.0


def places_key(host: str) -> str:
    """The Redis key of `host`'s requests in flight (shared by every scan and target)."""
    return f"copyhound:places:{host}"


def turn_key(host: str) -> str:
    """The Redis key holding when `host`'s last turn was granted (shared by every scan and target)."""
    return f"copyhound:turn:{host}"


class SharedTurnDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler, taking a shared place and turn on the domain before each request."""

    def __init__(self, crawler):
        super().__init__(crawler)
        settings = crawler.settings
        self.delay_ms = round(settings.getfloat("DOWNLOAD_DELAY") * 1000)
        self.places = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        self.hold_ms = round((settings.getfloat("DOWNLOAD_TIMEOUT") + _PLACE_MARGIN_SECONDS) * 1000)
        self.server = connection.from_settings(settings)
        self._take_place = self.server.register_script(_TAKE_PLACE)
        self._take_turn = self.server.register_script(_TAKE_TURN)

    async def download_request(self, request: Request) -> Response:
        host = urlparse_cached(request).hostname or ""
        place = uuid.uuid4().hex
        while not self._take_place(keys=[places_key(host)], args=[self.places, self.hold_ms, place]):
            await asyncio.sleep(_PLACE_POLL_SECONDS)
        try:
            while self.delay_ms > 0 and (wait_ms := int(self._take_turn(keys=[turn_key(host)], args=[self.delay_ms]))):
                await asyncio.sleep(wait_ms / 1000)
            return await super().download_request(request)
        finally:
            self.server.zrem(places_key(host), place)
