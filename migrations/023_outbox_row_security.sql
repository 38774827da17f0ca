-- 023_outbox_row_security.sql — the outbox is owned like every user-owned table, and PostgreSQL says so.
--
-- 008 counted the outbox among the shared tables, and 004's grants let jarvis_api read, update
-- and delete every row of it. But an event names the row it is about (entity_id: a message's,
-- a preference's, a task's id) and may carry a payload, so a user-bound key could list other
-- users' activity, or delete their pending events and leave the projections stale for good.
-- From here the outbox follows 008's ownership model:
--   outbox.owner_user_id  the user the writing transaction acted for (app.current_user),
--                         filled by its default, so no writer names it and no write path
--                         changes; NULL for a transaction acting for every user (service
--                         keys, jobs, the projector) and for the events triggers queue about
--                         rows the writer may not see (019's detached rows): service-only.
-- jarvis_api sees only its user's events (an insert's RETURNING needs that) and may write no
-- event in another user's name; it may no longer update or delete any (only the projector and
-- the jobs do, as jarvis_service). jarvis_service and the owner see every event only in a
-- transaction that says app.all_users = 'on', as everywhere else: the projector, `jarvis sync`,
-- pruning, dead letters and the metrics say so (jarvis/outbox.py: every_user).
-- Rows already there get NULL: service-only (failing closed rather than guessing).

ALTER TABLE outbox ADD COLUMN owner_user_id VARCHAR(255);
ALTER TABLE outbox ALTER COLUMN owner_user_id SET DEFAULT jarvis_principal();

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;

CREATE POLICY own_rows ON outbox FOR ALL TO jarvis_api
    USING (owner_user_id = jarvis_principal()) WITH CHECK (owner_user_id = jarvis_principal());
CREATE POLICY every_user ON outbox FOR ALL TO jarvis_service, CURRENT_USER
    USING (jarvis_every_user()) WITH CHECK (jarvis_every_user());

REVOKE UPDATE, DELETE ON outbox FROM jarvis_api;

-- 019's trigger queued its event as whoever deleted the agent: with the default above, Ada's
-- key erasing her agent would own the events about Bob's messages it detached (and could not
-- insert them: they are not hers to write). It now runs as the owner, acting for every user for
-- its own statements only (the SET clauses are restored when it returns), and queues the event
-- for services alone.
CREATE OR REPLACE FUNCTION jarvis_queue_detached_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp SET app.all_users = 'on' AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM agents WHERE id = OLD.agent_id) THEN
        INSERT INTO outbox (entity, entity_id, operation, payload, pending_stores, next_attempt_at, owner_user_id)
        VALUES (TG_ARGV[0], NEW.id::text, 'upsert', jsonb_build_object('detached_from', OLD.agent_id::text),
                TG_ARGV[1]::text[], CURRENT_TIMESTAMP + interval '10 seconds', NULL);
    END IF;
    RETURN NULL;
END
$$;

-- The erasure of an agent projects the rows its delete detached together with its own events
-- (jarvis/domain/erasure_steps.py). Those events are service-only, so the erasing key cannot
-- see them: this returns their ids, and nothing else (not whose rows they are about), only for
-- an agent that no longer exists, only for events after p_after (the outbox sequence read
-- before the delete). The projector, acting for every user, reads and applies them by id.
CREATE FUNCTION jarvis_detached_events(p_agent uuid, p_after bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp SET app.all_users = 'on' AS $$
    SELECT o.id FROM outbox o
    WHERE o.id > p_after AND o.payload ->> 'detached_from' = p_agent::text
      AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = p_agent)
    ORDER BY o.id
$$;
REVOKE EXECUTE ON FUNCTION jarvis_detached_events(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jarvis_detached_events(uuid, bigint) TO jarvis_api, jarvis_service;
