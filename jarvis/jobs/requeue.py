"""Rebuild the Redis task queues from PostgreSQL after Redis lost them.

Every task that is pending (or running, but no longer delivered to anyone) and is in no
queue, no delivery and no retry wait goes back into its priority's queue, once.
"""

from __future__ import annotations

from jarvis.connections import Stores

UNFINISHED_TASKS = "SELECT id::text, priority FROM tasks WHERE status IN ('pending', 'running') ORDER BY priority DESC, created_at"


def requeue(stores: Stores) -> int:
    """Return how many tasks were put back."""
    with stores.postgres.pool.connection() as conn:
        tasks = conn.execute(UNFINISHED_TASKS).fetchall()
    with stores.redis.unavailable():
        known = stores.redis.queues.known_task_ids()
        missing = [(task_id, priority) for task_id, priority in tasks if task_id not in known]
        for task_id, priority in missing:  # oldest first: queues pop from the far end
            stores.redis.queues.enqueue(task_id, priority)
    return len(missing)
