"""Rebuild the Redis task queues from PostgreSQL after Redis lost them (or missed a write).

Every task that is pending, or running with an expired lease, and is in no queue, no
delivery and no retry wait goes back into Redis, once. A task whose lease is still valid
(``tasks.lease_expires_at``) is left with its worker, and a retry whose ``run_after`` is still
ahead waits in ``task:delayed`` for the rest of its delay instead of being delivered at once.

*grace* (seconds) leaves alone what changed in the last moments: the server's repair loop
runs this every few seconds while writers may sit between their commit and their Redis
call, and must not queue a task they are about to queue themselves.
"""

from __future__ import annotations

from jarvis.connections import Stores
from jarvis.outbox import EVERY_USER
from jarvis.principal import scope_transaction

# "now" is PostgreSQL's time plus the clock's ahead (jarvis.clock: 0 but in tests).
UNFINISHED_TASKS = """
WITH clock AS (SELECT CURRENT_TIMESTAMP + make_interval(secs => %(ahead)s) AS now)
SELECT id::text, priority,
       greatest(0, extract(epoch FROM run_after - clock.now))::float8 AS wait
FROM tasks, clock
WHERE (status = 'pending'
       AND created_at <= clock.now - make_interval(secs => %(grace)s)
       AND (%(grace)s = 0 OR run_after IS NULL
            OR run_after <= clock.now - make_interval(secs => %(grace)s)))
   OR (status = 'running'
       AND (lease_expires_at IS NULL
            OR lease_expires_at <= clock.now - make_interval(secs => %(grace)s)))
ORDER BY priority DESC, created_at
"""


def requeue(stores: Stores, *, grace: float = 0.0) -> int:
    """Return how many tasks were put back."""
    with stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)  # every user's tasks (the API's service role sees none unscoped)
        tasks = conn.execute(UNFINISHED_TASKS, {"grace": grace, "ahead": stores.clock.ahead}).fetchall()
    if not tasks:
        return 0
    known = stores.redis.queues.known_task_ids()
    missing = [(task_id, priority, wait) for task_id, priority, wait in tasks if task_id not in known]
    for task_id, priority, wait in missing:  # oldest first: queues pop from the far end
        if wait > 0:
            stores.redis.queues.enqueue_later(task_id, priority, delay=wait)
        else:
            stores.redis.queues.enqueue(task_id, priority)
    return len(missing)
