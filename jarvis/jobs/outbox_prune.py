"""Keep the outbox bounded: applied events older than a configurable age are deleted.

An applied event is history: every store it named has it, and projection is state-based
(a replay reads the current row), so nothing ever needs it again. Pending events and dead
letters are never pruned, whatever their age: they are work still to do. Deletes go in
batches along the partial index ``idx_outbox_applied``, so a large backlog of history never
holds one long transaction.
"""

from __future__ import annotations

from jarvis.connections import Stores
from jarvis.principal import EVERY_USER, scope_transaction

PRUNE_APPLIED = """
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox
    WHERE cardinality(pending_stores) = 0 AND cardinality(dead_stores) = 0
      AND processed_at < CURRENT_TIMESTAMP - make_interval(secs => %(age)s)
    ORDER BY processed_at LIMIT %(batch)s)
"""


def prune_outbox(stores: Stores, *, older_than_seconds: float | None = None, batch: int = 5000) -> int:
    """Delete applied events older than *older_than_seconds* (default: the settings'
    ``outbox_keep_applied_hours``); return how many went."""
    age = older_than_seconds if older_than_seconds is not None else stores.settings.outbox_keep_applied_hours * 3600
    total = 0
    while True:
        with stores.postgres.pool.connection() as conn:
            scope_transaction(conn, EVERY_USER)  # applied events of every user (migration 023)
            deleted = conn.execute(PRUNE_APPLIED, {"age": age, "batch": batch}).rowcount
        total += deleted
        if deleted < batch:
            return total
