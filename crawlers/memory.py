"""What the site spider remembers during a crawl: pages admitted, what became of each image URL, the
sightings waiting for an image, and which notices were already given.

`LocalMemory` keeps it in the spider's `state` (saved in the job folder across a clean stop).
`SharedMemory` keeps it in Redis beside the shared frontier (`crawlers.frontier`), so crawler
processes on several machines crawling one target for one scan know what the others did: an
image fetched by one process is captured for pages another process read, without a second fetch.
"""

from __future__ import annotations

import pickle

from scrapy_redis import connection

from crawlers.frontier import FrontierKeys, frontier_keys
from crawlers.items import Fetched, Refusal, Sighting
from detector.workspace.blobs import BlobStore

Outcome = Fetched | Refusal

_STATE_KEYS = (("pages", set), ("images", dict), ("pending", dict), ("offsite", set), ("caps", set))

# A page is admitted when known already (the seen-set drops it if it is queued), else while under the
# cap; never once the crawl is finished, whose memory `finish` deleted (a process that joined as the
# last one left would otherwise start the target again from the start URLs).
_ADMIT_PAGE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
"""

# Record an image's outcome and take the sightings waiting for it. Taken sightings stay listed
# under `claimed` until the scan's keys are deleted: a process killed before storing them has its
# image request put back on the queue, and whoever settles it again captures them again (the
# store ignores a sighting it already holds).
_SETTLE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local waiting = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
for _, sighting in ipairs(waiting) do redis.call('RPUSH', KEYS[3], sighting) end
return redis.call('LRANGE', KEYS[3], 0, -1)
"""


class LocalMemory:
    """The memory of one crawler process, in the spider's state dict."""

    def __init__(self, state: dict):
        for key, empty in _STATE_KEYS:
            state.setdefault(key, empty())
        self.state = state

    def finished(self) -> bool:
        """Whether the crawl this memory belongs to is over (only a shared one can be, before it starts)."""
        return False

    def known_page(self, url: str) -> bool:
        return url in self.state["pages"]

    def admit_page(self, url: str, limit: float) -> bool:
        """Count `url` as a page of this crawl; False when `limit` pages are counted already."""
        if len(self.state["pages"]) >= limit:
            return False
        self.state["pages"].add(url)
        return True

    def first_notice(self, kind: str, what: str) -> bool:
        """True the first time a notice of `kind` ("offsite", "caps") about `what` is asked for."""
        if what in self.state[kind]:
            return False
        self.state[kind].add(what)
        return True

    def outcome(self, url: str) -> Outcome | None:
        return self.state["images"].get(url)

    def wait_for(self, url: str, sighting: Sighting) -> tuple[bool, Outcome | None]:
        """Hold `sighting` until image `url` is settled: (request the image?, outcome known by now)."""
        if url in self.state["pending"]:
            self.state["pending"][url].append(sighting)
            return False, None
        self.state["pending"][url] = [sighting]
        return True, None

    def settle(self, url: str, outcome: Outcome, body: bytes | None = None) -> list[Sighting]:
        """Record what image `url` turned out to be; returns the sightings that waited for it."""
        self.state["images"][url] = outcome
        return self.state["pending"].pop(url, [])


class SharedMemory:
    """The memory of every process crawling one target for one scan, in Redis."""

    def __init__(self, server, keys: FrontierKeys, blobs: BlobStore):
        self.server = server
        self.keys = keys
        self.blobs = blobs
        self._admit = server.register_script(_ADMIT_PAGE)
        self._settle = server.register_script(_SETTLE)

    def finished(self) -> bool:
        return bool(self.server.exists(self.keys.finished))

    def known_page(self, url: str) -> bool:
        # Never skipped on this account: the frontier's seen-set drops a page already queued, and a
        # page listed here by a process killed before queueing it is queued by whoever finds it again.
        return False

    def admit_page(self, url: str, limit: float) -> bool:
        return bool(self._admit(keys=[self.keys.shared("pages"), self.keys.finished], args=[url, min(limit, 2**62)]))

    def first_notice(self, kind: str, what: str) -> bool:
        return bool(self.server.sadd(self.keys.shared(kind), what))

    def outcome(self, url: str) -> Outcome | None:
        data = self.server.hget(self.keys.shared("images"), url)
        return pickle.loads(data) if data is not None else None

    def wait_for(self, url: str, sighting: Sighting) -> tuple[bool, Outcome | None]:
        """List `sighting` as waiting for `url`, then look again for an outcome (in that order, so
        one settled in between either took the sighting or is seen here). Once an outcome is
        known, the sighting is ours to capture only if we remove it from the list ourselves."""
        waiting = self.keys.shared(f"waiting:{url}")
        data = pickle.dumps(sighting)
        self.server.rpush(waiting, data)
        outcome = self.outcome(url)
        if outcome is None:
            return True, None  # the frontier's seen-set drops the request if it is queued already
        return False, outcome if self.server.lrem(waiting, 1, data) else None

    def settle(self, url: str, outcome: Outcome, body: bytes | None = None) -> list[Sighting]:
        """Publish `url`'s outcome; its bytes go to the shared blob store first, because other
        processes capture later sightings of it without them."""
        if body is not None:
            self.blobs.put(body)
        claimed = self._settle(
            keys=[self.keys.shared("images"), self.keys.shared(f"waiting:{url}"), self.keys.shared(f"claimed:{url}")],
            args=[url, pickle.dumps(outcome)],
        )
        return [pickle.loads(data) for data in claimed]


def open_memory(state: dict, settings, blobs: BlobStore) -> LocalMemory | SharedMemory:
    """The shared memory when this crawl joins a shared frontier (COPYHOUND_WORKER is set), else the local one."""
    if not settings.get("COPYHOUND_WORKER"):
        return LocalMemory(state)
    return SharedMemory(connection.from_settings(settings), frontier_keys(settings), blobs)
