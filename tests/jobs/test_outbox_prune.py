"""The outbox stays bounded: old applied events are pruned, pending and dead ones never."""

from __future__ import annotations

import uuid

from jarvis.jobs.outbox_prune import prune_outbox

AGE_EVENT = (
    "UPDATE outbox SET created_at = CURRENT_TIMESTAMP - interval '3 days', "
    "processed_at = CASE WHEN processed_at IS NULL THEN NULL ELSE CURRENT_TIMESTAMP - interval '2 days' END "
    "WHERE id = %s"
)
MAKE_EVENT = (
    "INSERT INTO outbox (entity, entity_id, operation, pending_stores, dead_stores, next_attempt_at) "
    "VALUES ('knowledge', %s, 'upsert', %s, %s, CURRENT_TIMESTAMP + interval '1 hour') RETURNING id"
)


def test_old_applied_events_are_pruned_and_pending_or_dead_ones_are_kept(jarvis, name) -> None:
    old = jarvis.add_knowledge(topic=f"{name}-old", content="An applied event two days old.")
    recent = jarvis.add_knowledge(topic=f"{name}-recent", content="An applied event just now.")
    with jarvis.stores.postgres.pool.connection() as conn:

        def event_of(entity_id: str) -> int:
            return conn.execute("SELECT id FROM outbox WHERE entity_id = %s", (entity_id,)).fetchone()[0]

        applied_old, applied_recent = event_of(old["id"]), event_of(recent["id"])
        pending = conn.execute(MAKE_EVENT, (str(uuid.uuid4()), ["chroma"], [])).fetchone()[0]
        dead = conn.execute(MAKE_EVENT, (str(uuid.uuid4()), [], ["chroma"])).fetchone()[0]
        for event in (applied_old, pending, dead):
            conn.execute(AGE_EVENT, (event,))
    try:
        assert prune_outbox(jarvis.stores, older_than_seconds=86400) >= 1
        with jarvis.stores.postgres.pool.connection() as conn:
            left = {
                row[0]
                for row in conn.execute(
                    "SELECT id FROM outbox WHERE id = ANY(%s)", ([applied_old, applied_recent, pending, dead],)
                )
            }
        assert left == {applied_recent, pending, dead}
    finally:
        with jarvis.stores.postgres.pool.connection() as conn:
            conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", ([pending, dead],))
