"""Detection on several machines: Celery tasks over Redis, one per content, recorded exactly once.

`app` builds the Celery application and its one task; `worker` is what runs in each worker process
(its detector, reloaded when the index files change; its heartbeat); `scheduler` is the scan's side
(enqueue the pending contents, wait for the store to show them detected); `broker` reads and writes
the little copyhound keeps in Redis beside Celery's messages (heartbeats) and the queue's depth.
"""
