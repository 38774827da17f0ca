"""Fixtures the domain tests share."""

from __future__ import annotations

import pytest

from jarvis.stores import redis_keys as keys


@pytest.fixture
def quiet_queues(jarvis):
    """Queues of this test alone: earlier unfinished tasks are cancelled, the queue keys emptied."""

    def clear() -> None:
        with jarvis.stores.postgres.pool.connection() as conn:
            conn.execute(
                "UPDATE tasks SET status = 'cancelled', lease_token = NULL WHERE status IN ('pending', 'running')"
            )
        jarvis.stores.redis.conn.delete(*keys.QUEUES, keys.QUEUE_INFLIGHT, keys.QUEUE_DELAYED)

    clear()
    yield jarvis
    clear()
