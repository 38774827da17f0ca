"""Counting reads served from the cache without a PostgreSQL write per read.

A memory read from the Redis cache still counts as an access (``access_count``,
``last_accessed``), but the counts are gathered in the process and written in one UPDATE
about a second after the first of them. A process that dies loses at most that second of
counts; nothing else depends on them being exact to the read.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime, timezone

from jarvis.principal import Principal, scope_transaction
from jarvis.stores.postgres import PostgresStore

logger = logging.getLogger("jarvis.access_counts")

ADD_ACCESSES = """
UPDATE agent_memory AS m
SET access_count = m.access_count + v.n, last_accessed = greatest(m.last_accessed, v.at)
FROM unnest(%s::uuid[], %s::int[], %s::timestamptz[]) AS v(id, n, at)
WHERE m.id = v.id
"""


class AccessCounts:
    def __init__(self, postgres: PostgresStore, *, delay: float = 1.0) -> None:
        self.postgres, self.delay = postgres, delay
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._last: dict[str, datetime] = {}
        self._timer: threading.Timer | None = None

    def count(self, memory_id: str) -> None:
        with self._lock:
            self._counts[memory_id] += 1
            self._last[memory_id] = datetime.now(timezone.utc)
            if self._timer is None:
                self._timer = threading.Timer(self.delay, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write what was counted so far (on the timer, and when the facade closes)."""
        with self._lock:
            counts, last, self._counts, self._last = self._counts, self._last, Counter(), {}
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if not counts:
            return
        ids = list(counts)
        try:
            with self.postgres.transaction(lambda conn: scope_transaction(conn, Principal())) as conn:
                conn.execute(ADD_ACCESSES, (ids, [counts[i] for i in ids], [last[i] for i in ids]))
        except Exception:  # noqa: BLE001 - Postgres down: the counts are statistics, not records
            logger.warning("could not record %d memory accesses", sum(counts.values()), exc_info=True)
