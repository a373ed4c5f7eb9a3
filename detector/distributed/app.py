"""The Celery application: two tasks on one queue, `copyhound.detect_content` (detect one content, record it)
and `copyhound.read_warc` (read one WARC or WAT file of a `scan --warc --distributed` into its candidates).

Delivery is at least once, recording exactly once. Tasks are acknowledged late (after they have
recorded), a prefork child that dies has its task rejected back onto the queue
(`task_reject_on_worker_lost`), and each worker process reserves `prefetch` tasks at most. A worker
that vanishes whole (kill -9 of the solo pool, a machine lost) leaves its task in kombu's unacknowledged
set; Redis hands it out again after `visibility_timeout` seconds, which must exceed the task time limit
or a task still running would be handed to a second worker. Workers sweep for such tasks every
`heartbeat` seconds. A task that arrives twice finds its candidates no longer 'new' and records nothing
(Detector.record).
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from detector.config import DistributedSettings

TASK = "copyhound.detect_content"
WARC_TASK = "copyhound.read_warc"
#: Seconds past the soft time limit (which refuses the content as detect_timeout) before a prefork
#: child still detecting is killed.
HARD_LIMIT_GRACE = 30


def make_app(settings: DistributedSettings, task: Callable | None = None, warc_task: Callable | None = None) -> Celery:
    """The application for a workspace's [distributed] settings. The scan sends to it by the tasks' names;
    a worker passes the tasks' functions (detector.distributed.worker.detect_content and read_warc) to run them."""
    app = Celery("copyhound", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=settings.prefetch,
        task_ignore_result=True,  # the store is where results go; the scan polls it
        task_soft_time_limit=settings.task_time_limit,
        task_time_limit=settings.task_time_limit + HARD_LIMIT_GRACE,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout,
                                  "unacked_restore_interval": settings.heartbeat,
                                  "unacked_restore_throttle": 1},
        worker_hijack_root_logger=False,
        worker_proc_alive_timeout=300,  # a prefork child loads the indexes before it reports ready
    )
    if task is not None:
        app.task(name=TASK, bind=True, max_retries=2)(task)
    if warc_task is not None:
        app.task(name=WARC_TASK, bind=True)(warc_task)
    return app
