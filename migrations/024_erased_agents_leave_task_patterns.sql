-- 024_erased_agents_leave_task_patterns.sql — an erased agent's id leaves every task pattern.
--
-- task_patterns.optimal_agents is a JSON list of agent ids or names (free strings: no foreign
-- key can say which are ids), so 019's ON DELETE SET NULL could not reach it: an erased agent
-- stayed listed in every pattern that named it, in PostgreSQL and in Qdrant's payload. Now
-- PostgreSQL detaches it here too, whoever deletes the agent and however (the erasure, plain
-- SQL): when an agent row goes, each pattern listing its id (as PostgreSQL writes a UUID, or in
-- capitals) loses that element, every other element kept in order, and gets an outbox upsert
-- marked {"detached_from": agent id} in the same transaction, as 019's trigger does for the rows
-- it detaches — the erasure adopts those events (jarvis_detached_events, migration 023) and
-- Qdrant follows in the same erasure; a delete made elsewhere is projected by the background
-- loop. Names are left alone: a name is not the agent (another agent may take it later).
--
-- The function runs as the owner and acts for every user for its own statements only: the
-- erasing key (jarvis_api) may see its own events alone, and these belong to no user (task
-- patterns are shared). A GIN index finds the patterns naming the agent without reading them all.

CREATE INDEX idx_task_patterns_optimal_agents ON task_patterns USING gin (optimal_agents);

CREATE FUNCTION jarvis_detach_task_patterns() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp SET app.all_users = 'on' AS $$
DECLARE
    spellings text[] := ARRAY[OLD.id::text, upper(OLD.id::text)];
BEGIN
    WITH detached AS (
        UPDATE task_patterns SET optimal_agents = optimal_agents - spellings, updated_at = CURRENT_TIMESTAMP
        WHERE optimal_agents ?| spellings
        RETURNING id)
    INSERT INTO outbox (entity, entity_id, operation, payload, pending_stores, next_attempt_at, owner_user_id)
    SELECT 'task_pattern', d.id::text, 'upsert', jsonb_build_object('detached_from', OLD.id::text), '{qdrant}',
           CURRENT_TIMESTAMP + interval '10 seconds', NULL
    FROM detached d;
    RETURN NULL;
END
$$;
CREATE TRIGGER agents_leave_task_patterns AFTER DELETE ON agents
    FOR EACH ROW EXECUTE FUNCTION jarvis_detach_task_patterns();
