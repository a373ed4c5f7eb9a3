"""A scan's crawl frontier in Redis, shared by crawler processes on any machines (scrapy-redis).

scrapy-redis keeps the request queue (a sorted set by priority) and the seen-set of request
fingerprints in Redis, so every process crawling a target for a scan pops from one queue and a URL
is requested once per scan, whichever process found it. Two things are added here, because its
queue pops destructively and a process killed with SIGKILL would lose what it had popped:

- each pop moves the request, in one Lua script, from the queue to this process's in-flight hash;
  the entry is deleted only once Scrapy has finished with the request (its callback's requests are
  in the queue and its items in the store), or once a redirect or retry that replaces it is queued;
- each process renews a lease key while it runs; a process whose lease has expired is dead, and
  any live process puts its in-flight requests back on the queue (one Lua script, so two
  survivors cannot both take them).

Enqueueing is one Lua script too (add the fingerprint to the seen-set and the request to the
queue), so a kill between the two cannot leave a URL marked seen that is in no queue.

A process stops when the queue is empty and no live process holds in-flight work (one may still
find new links). Keys, all under `copyhound:scan:<scan id>@<scan start time>:<target>:` (see
`FrontierKeys`; the start time keeps apart the scans of two workspaces that share one Redis).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

import redis
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler
from twisted.internet import task

from detector.errors import CopyhoundError

_FINISHED_MARKER_SECONDS = 7 * 24 * 3600

# Pop the best request and record it as in flight for this process, atomically.
_POP = """
local popped = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #popped == 0 then return false end
redis.call('ZREM', KEYS[1], popped[1])
redis.call('HSET', KEYS[2], popped[1], popped[2])
return popped[1]
"""

# Queue a request unless its fingerprint was seen (ARGV[3] = '1': dont_filter, queue it anyway), or
# the frontier is finished: `finish` deleted the seen-set, so a late process would crawl it all again.
_PUSH = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if ARGV[3] == '1' or redis.call('SADD', KEYS[2], ARGV[4]) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
    return 1
end
return 0
"""

# Put a dead process's in-flight requests back on the queue and forget the process.
_REQUEUE = """
local entries = redis.call('HGETALL', KEYS[2])
for i = 1, #entries, 2 do
    redis.call('ZADD', KEYS[1], entries[i + 1], entries[i])
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return #entries / 2
"""


class FrontierUnavailable(CopyhoundError):
    """The Redis server holding the shared frontier does not answer."""

    exit_code = 3


def new_worker_id() -> str:
    """A name for this crawler process, unique across machines, readable in Redis."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class FrontierKeys:
    """The Redis keys of one target's frontier in one scan (`scan`: its id and start time, `12@2026-...Z`)."""

    scan: str
    target: str

    @property
    def prefix(self) -> str:
        return f"copyhound:scan:{self.scan}:{self.target}"

    @property
    def requests(self) -> str:  # sorted set: scrapy-redis' priority queue
        return f"{self.prefix}:requests"

    @property
    def seen(self) -> str:  # set: scrapy-redis' request fingerprints
        return f"{self.prefix}:seen"

    @property
    def workers(self) -> str:  # set: crawler processes that joined
        return f"{self.prefix}:workers"

    def in_flight(self, worker: str) -> str:  # hash: encoded request -> queue score
        return f"{self.prefix}:in-flight:{worker}"

    def lease(self, worker: str) -> str:  # string with a TTL: the process is alive while it exists
        return f"{self.prefix}:lease:{worker}"

    def shared(self, name: str) -> str:  # the spider's shared memory (see crawlers.memory)
        return f"{self.prefix}:{name}"

    @property
    def finished(self) -> str:  # set once nobody has work left; everything else is then deleted
        return f"{self.prefix}:finished"

    def pattern(self) -> str:
        return f"{self.prefix}:*"


def frontier_keys(settings) -> FrontierKeys:
    return FrontierKeys(settings["COPYHOUND_FRONTIER_SCAN"], settings["COPYHOUND_TARGET"])


def pending(server, keys: FrontierKeys) -> int:
    """Requests queued plus those held by the processes that joined (call `requeue_dead` first)."""
    held = sum(server.hlen(keys.in_flight(w.decode())) for w in server.smembers(keys.workers))
    return server.zcard(keys.requests) + held


def requeue_dead(server, keys: FrontierKeys) -> int:
    """Put the in-flight requests of every process whose lease expired back on the queue."""
    requeued = 0
    for raw in server.smembers(keys.workers):
        worker = raw.decode()
        if not server.exists(keys.lease(worker)):
            requeued += server.eval(_REQUEUE, 3, keys.requests, keys.in_flight(worker), keys.workers, worker)
    return requeued


def finish(server, keys: FrontierKeys) -> None:
    """Delete the keys of a frontier nobody has work in any more, leaving a marker for a week so a
    crawler that joins late does not crawl the scan's targets again from their start URLs."""
    names = list(server.scan_iter(match=keys.pattern(), count=500))
    if names:
        server.delete(*names)
    server.set(keys.finished, b"1", ex=_FINISHED_MARKER_SECONDS)


def reach(url: str):
    """A client of the Redis server at `url`, which has answered a ping."""
    try:
        server = redis.Redis.from_url(url, socket_connect_timeout=10)
        server.ping()
    except (redis.RedisError, ValueError) as e:
        raise FrontierUnavailable(
            f"Cannot reach Redis at {url} ({e}); start it, or fix [distributed] redis_url in config.toml."
        ) from e
    return server


class FrontierQueue(PriorityQueue):
    """scrapy-redis' priority queue, whose pop records the request as in flight for this process."""

    def __init__(self, server, spider, key, serializer=None):
        super().__init__(server, spider, key, serializer)
        self.keys = frontier_keys(spider.crawler.settings)
        self.worker = spider.crawler.settings["COPYHOUND_WORKER"]
        self._pop = server.register_script(_POP)
        self._push = server.register_script(_PUSH)

    def push(self, request, fingerprint: str = "") -> bool:
        """Queue `request` unless its fingerprint is in the seen-set; True when it was queued."""
        data = self._encode_request(request)
        return bool(self._push(keys=[self.key, self.keys.seen, self.keys.finished],
                               args=[data, -request.priority, "1" if not fingerprint else "0", fingerprint]))

    def pop(self, timeout=0):
        data = self._pop(keys=[self.key, self.keys.in_flight(self.worker)])
        if not data:
            return None
        request = self._decode_request(data)
        request.meta["frontier_entry"] = data  # taken off again by the scheduler, which crosses it off when done
        return request


class FrontierScheduler(Scheduler):
    """scrapy-redis' scheduler over `FrontierQueue`: in-flight bookkeeping, leases, a shared end."""

    @classmethod
    def from_crawler(cls, crawler):
        scheduler = super().from_crawler(crawler)
        scheduler.crawler = crawler
        scheduler.keys = frontier_keys(crawler.settings)
        scheduler.worker = crawler.settings["COPYHOUND_WORKER"]
        scheduler.lease_seconds = crawler.settings.getfloat("COPYHOUND_LEASE_SECONDS", 15.0)
        scheduler.popped = {}
        crawler.signals.connect(scheduler.spider_idle, signal=signals.spider_idle)
        return scheduler

    def open(self, spider):
        super().open(spider)
        self._beat()
        self._loop = task.LoopingCall(self._beat)
        self._loop.start(min(1.0, self.lease_seconds / 4), now=False)

    def close(self, reason):
        if self._loop.running:
            self._loop.stop()
        if reason == "finished":
            self._settle_finished()
        # Stopped early (Ctrl-C, a full disk), requests Scrapy dropped unfinished count as finished
        # to it: everything this process took goes back to the queue instead, for the others.
        self.server.delete(self.keys.lease(self.worker))
        requeue_dead(self.server, self.keys)
        if not pending(self.server, self.keys):
            finish(self.server, self.keys)
        super().close(reason)

    def enqueue_request(self, request):
        fingerprint = "" if request.dont_filter else self.df.request_fingerprint(request)
        if not self.queue.push(request, fingerprint):
            self.df.log(request, self.spider)
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis", spider=self.spider)
        return True

    def next_request(self):
        request = super().next_request()
        if request is not None:
            self.popped[request] = request.meta.pop("frontier_entry")
        return request

    def spider_idle(self, spider) -> None:
        """Stay open while any process could still add requests, or dead ones' requests wait."""
        self._settle_finished()
        requeued = requeue_dead(self.server, self.keys)
        if requeued:
            spider.logger.warning("Put %d requests of crawler processes that died back on the shared queue.", requeued)
        if pending(self.server, self.keys):
            raise DontCloseSpider("the shared frontier still has work")

    def _beat(self) -> None:
        # Joining again each beat: a process presumed dead after a long stall is counted again.
        self.server.sadd(self.keys.workers, self.worker)
        self.server.set(self.keys.lease(self.worker), b"1", px=int(self.lease_seconds * 1000))
        self._settle_finished()

    def _settle_finished(self) -> None:
        """Drop the in-flight entries of requests Scrapy has finished with.

        Scrapy's engine holds each request it took from the scheduler in its slot's `inprogress`
        set until the download, the callback and everything the callback yielded (requests queued,
        items through the pipelines) are done, or the redirect or retry replacing it is queued.
        """
        slot = self.crawler.engine._slot  # Scrapy has no public view of it; renamed, this fails loudly
        if slot is None:
            return  # not open (any more): keep the entries, which are put back rather than lost
        finished = [request for request in self.popped if request not in slot.inprogress]
        if finished:
            self.server.hdel(self.keys.in_flight(self.worker), *(self.popped.pop(r) for r in finished))
