"""What copyhound reads from and writes to Redis itself: the queue's depth and the workers' heartbeats.

Celery owns the messages; this module only looks at them (LLEN of the queue's list, HLEN of kombu's
hash of delivered-but-unacknowledged messages) and keeps one key per worker, rewritten every
`heartbeat` seconds with a time-to-live of three heartbeats, so a worker that vanished drops out on its own.
"""

from __future__ import annotations

import json

import redis

from detector.config import DistributedSettings
from detector.errors import QueueUnavailable
from detector.workspace.store import utc_now

#: kombu's Redis transport keeps messages delivered to a worker and not yet acknowledged in this hash.
UNACKED_KEY = "unacked"
#: Heartbeats missed before a worker counts as gone.
MISSED_BEATS = 3


def connect(url: str) -> redis.Redis:
    """A client for `url` that has answered a PING; one clear line when it does not."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
        client.ping()
    except (redis.RedisError, ValueError) as e:
        raise QueueUnavailable(
            f"Redis at {url} does not answer ({e}). Start redis-server there, or give the URL of one that "
            "runs (redis://HOST:PORT/DB, the distributed.redis_url setting).") from None
    return client


def _worker_key(settings: DistributedSettings, hostname: str) -> str:
    return f"copyhound:{settings.queue}:worker:{hostname}"


def beat(client: redis.Redis, settings: DistributedSettings, info: dict) -> None:
    """Say this worker is alive (`info`: hostname, pid, pool, concurrency, started_at)."""
    client.set(_worker_key(settings, info["hostname"]), json.dumps({**info, "heartbeat_at": utc_now()}),
               ex=MISSED_BEATS * settings.heartbeat)


def forget(client: redis.Redis, settings: DistributedSettings, hostname: str) -> None:
    """A worker that stops cleanly takes its heartbeat with it."""
    client.delete(_worker_key(settings, hostname))


def live_workers(client: redis.Redis, settings: DistributedSettings) -> list[dict]:
    """Workers of this queue that sent a heartbeat within the last three heartbeats, by hostname."""
    found = []
    for key in client.scan_iter(match=_worker_key(settings, "*"), count=100):
        value = client.get(key)
        if value is not None:  # expired between SCAN and GET
            found.append(json.loads(value))
    return sorted(found, key=lambda w: w["hostname"])


def depth(client: redis.Redis, settings: DistributedSettings) -> dict[str, int]:
    """Tasks waiting in the queue, and tasks delivered to workers and not yet acknowledged (every queue of
    this Redis database: kombu keeps one hash for them)."""
    return {"waiting": client.llen(settings.queue), "in_flight": client.hlen(UNACKED_KEY)}
