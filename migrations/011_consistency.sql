-- 011_consistency.sql — what keeps the five stores in step under poison, outages and scale-out.
--
-- tasks.lease_expires_at: PostgreSQL's own copy of a delivery's deadline (Redis holds the
-- live one). `requeue` and the server's repair loop read it, so they never hand a task to a
-- second worker while the first one's lease is still valid, even after Redis lost its data.
ALTER TABLE tasks ADD COLUMN lease_expires_at TIMESTAMPTZ;

-- outbox.dead_stores: the stores an event kept failing for (after JARVIS_OUTBOX_MAX_ATTEMPTS
-- tries); such an event no longer blocks or slows anything, stays visible to `jarvis verify`,
-- `jarvis status` and /metrics, and `jarvis sync --retry-dead` makes it pending again.
ALTER TABLE outbox ADD COLUMN dead_stores TEXT[] NOT NULL DEFAULT '{}';
-- outbox.refusals: per store, how many times it answered and refused the event (a store that
-- is down refuses nothing: its events wait for it, however long, and are never dead-lettered).
ALTER TABLE outbox ADD COLUMN refusals JSONB NOT NULL DEFAULT '{}';
CREATE INDEX idx_outbox_dead ON outbox (id) WHERE cardinality(dead_stores) > 0;
-- Pruning deletes applied events by age: only those, in id order, never a pending or dead one.
CREATE INDEX idx_outbox_applied ON outbox (processed_at)
    WHERE cardinality(pending_stores) = 0 AND cardinality(dead_stores) = 0;
