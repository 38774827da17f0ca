-- 019_erasure_foreign_keys.sql — erasing an agent is never blocked by rows that only name it.
--
-- 001 declared six references to agents without an ON DELETE action. Erasing an agent (or a user,
-- which erases the agents they own) detached those rows with UPDATEs first, but a user-bound key
-- runs as jarvis_api, and row-level security hides from it the rows of OTHER users: Bob's turns
-- with Ada's agent, Bob's task assigned to it. Those kept the agent's id, and the DELETE of the
-- agent failed on the foreign key. PostgreSQL now does the detaching itself: referential actions
-- run as the table's owner and row-level security is not applied to them (the tests check it, as
-- jarvis_api), so every user's rows lose the link, and only the link:
--   tasks.agent_id                           SET NULL  the task is its requester's; it stays, unassigned
--   conversations.agent_id                   SET NULL  the turns are their user's; content kept
--   agent_collaborations.coordinator_agent_id SET NULL shared record of the collaboration
--   system_events.agent_id                   SET NULL  operational log; its retention drops it by month
--   performance_metrics.agent_id             SET NULL  operational metrics (and their rollups)
--   improvement_logs.agent_id                SET NULL  shared log of changes to the system
-- knowledge and code_snippets were SET NULL from 001 (shared by everyone: a fact outlives its
-- author); agent_capabilities and agent_memory CASCADE (they are the agent). Nothing references
-- users but user_preferences (CASCADE): owners are plain columns, so no reference blocks forgetting
-- a user. (The references to tasks are left as they are: tasks are cancelled, never deleted.)
--
-- A row detached this way changed in PostgreSQL without the writer knowing its id, so the
-- projections that carry agent_id (Chroma metadata of conversations, knowledge and snippets; the
-- Knowledge node in Neo4j) would keep the erased id. A trigger queues an outbox upsert for each
-- such row in the same transaction, marked {"detached_from": agent id}; the erasure takes those
-- events over and projects them with its own (jarvis/domain/erasure_steps.py), and a delete made
-- elsewhere (plain SQL) is projected by the background loop.

CREATE FUNCTION pg_temp.on_delete_set_null(p_table regclass, p_column name) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    constraint_name name;
BEGIN
    SELECT c.conname INTO STRICT constraint_name
      FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
     WHERE c.conrelid = p_table AND c.contype = 'f' AND c.conparentid = 0
       AND c.confrelid = 'agents'::regclass AND cardinality(c.conkey) = 1 AND a.attname = p_column;
    -- On a partitioned table the partitions' clones go and come back with the parent's.
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', p_table, constraint_name);
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (%I) REFERENCES agents (id) ON DELETE SET NULL',
                   p_table, constraint_name, p_column);
END;
$$;

SELECT pg_temp.on_delete_set_null('tasks', 'agent_id');
SELECT pg_temp.on_delete_set_null('conversations', 'agent_id');
SELECT pg_temp.on_delete_set_null('agent_collaborations', 'coordinator_agent_id');
SELECT pg_temp.on_delete_set_null('system_events', 'agent_id');
SELECT pg_temp.on_delete_set_null('performance_metrics', 'agent_id');
SELECT pg_temp.on_delete_set_null('improvement_logs', 'agent_id');

-- TG_ARGV: the outbox entity, and the stores its events are pending for
-- (jarvis.projection.entities.stores_for). Only a row whose agent is gone is queued: a writer
-- that clears agent_id itself records its own event.
CREATE FUNCTION jarvis_queue_detached_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM agents WHERE id = OLD.agent_id) THEN
        INSERT INTO outbox (entity, entity_id, operation, payload, pending_stores, next_attempt_at)
        VALUES (TG_ARGV[0], NEW.id::text, 'upsert', jsonb_build_object('detached_from', OLD.agent_id::text),
                TG_ARGV[1]::text[], CURRENT_TIMESTAMP + interval '10 seconds');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER conversations_detached AFTER UPDATE OF agent_id ON conversations
    FOR EACH ROW WHEN (OLD.agent_id IS NOT NULL AND NEW.agent_id IS NULL)
    EXECUTE FUNCTION jarvis_queue_detached_row('conversation', '{chroma}');
CREATE TRIGGER knowledge_detached AFTER UPDATE OF agent_id ON knowledge
    FOR EACH ROW WHEN (OLD.agent_id IS NOT NULL AND NEW.agent_id IS NULL)
    EXECUTE FUNCTION jarvis_queue_detached_row('knowledge', '{neo4j,chroma}');
CREATE TRIGGER code_snippets_detached AFTER UPDATE OF agent_id ON code_snippets
    FOR EACH ROW WHEN (OLD.agent_id IS NOT NULL AND NEW.agent_id IS NULL)
    EXECUTE FUNCTION jarvis_queue_detached_row('code_snippet', '{chroma}');
