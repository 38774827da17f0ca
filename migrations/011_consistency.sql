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

-- ------------------------------------------------------------------ edges and their endpoints
-- A graph edge is a row whose endpoints live in six tables, so a plain foreign key cannot
-- hold it. These triggers do what one would: an edge can only be written while both of its
-- endpoint rows exist (locked FOR KEY SHARE, as a foreign key locks its parent, so a
-- concurrent delete of an endpoint waits for the edge's transaction and then removes it, or
-- the edge's insert fails), and deleting an endpoint row deletes every edge that names it.
-- Functions are SECURITY DEFINER so row-level security on an endpoint table never hides a
-- parent from the check.

CREATE FUNCTION jarvis_node_exists(label TEXT, node_key TEXT, lock BOOLEAN DEFAULT false)
RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF label IN ('Agent', 'Task', 'Model', 'Knowledge')
       AND node_key !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN false;
    END IF;
    IF lock THEN
        CASE label
            WHEN 'Agent' THEN PERFORM 1 FROM agents WHERE id = node_key::uuid FOR KEY SHARE;
            WHEN 'Task' THEN PERFORM 1 FROM tasks WHERE id = node_key::uuid FOR KEY SHARE;
            WHEN 'Model' THEN PERFORM 1 FROM models WHERE id = node_key::uuid FOR KEY SHARE;
            WHEN 'Knowledge' THEN PERFORM 1 FROM knowledge WHERE id = node_key::uuid FOR KEY SHARE;
            WHEN 'User' THEN PERFORM 1 FROM users WHERE id = node_key FOR KEY SHARE;
            WHEN 'Capability' THEN PERFORM 1 FROM capabilities WHERE name = node_key FOR KEY SHARE;
            ELSE RETURN false;
        END CASE;
    ELSE
        CASE label
            WHEN 'Agent' THEN PERFORM 1 FROM agents WHERE id = node_key::uuid;
            WHEN 'Task' THEN PERFORM 1 FROM tasks WHERE id = node_key::uuid;
            WHEN 'Model' THEN PERFORM 1 FROM models WHERE id = node_key::uuid;
            WHEN 'Knowledge' THEN PERFORM 1 FROM knowledge WHERE id = node_key::uuid;
            WHEN 'User' THEN PERFORM 1 FROM users WHERE id = node_key;
            WHEN 'Capability' THEN PERFORM 1 FROM capabilities WHERE name = node_key;
            ELSE RETURN false;
        END CASE;
    END IF;
    RETURN FOUND;
END
$$;

CREATE FUNCTION jarvis_edge_endpoints_exist() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT jarvis_node_exists(NEW.src_label, NEW.src_id, true) THEN
        RAISE EXCEPTION 'a % edge needs its source % %', NEW.rel_type, NEW.src_label, NEW.src_id
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (src_id)=(%s) is not present in table "%s".', NEW.src_id, NEW.src_label);
    END IF;
    IF NOT jarvis_node_exists(NEW.dst_label, NEW.dst_id, true) THEN
        RAISE EXCEPTION 'a % edge needs its target % %', NEW.rel_type, NEW.dst_label, NEW.dst_id
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (dst_id)=(%s) is not present in table "%s".', NEW.dst_id, NEW.dst_label);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER graph_edges_endpoints_exist BEFORE INSERT OR UPDATE OF src_label, src_id, dst_label, dst_id
    ON graph_edges FOR EACH ROW EXECUTE FUNCTION jarvis_edge_endpoints_exist();

-- TG_ARGV: the node label, and the column holding the node's key.
CREATE FUNCTION jarvis_drop_edges_of_node() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    node_key TEXT := to_jsonb(OLD) ->> TG_ARGV[1];
BEGIN
    DELETE FROM graph_edges
    WHERE (src_label = TG_ARGV[0] AND src_id = node_key) OR (dst_label = TG_ARGV[0] AND dst_id = node_key);
    RETURN OLD;
END
$$;
CREATE TRIGGER agents_drop_edges AFTER DELETE ON agents
    FOR EACH ROW EXECUTE FUNCTION jarvis_drop_edges_of_node('Agent', 'id');
CREATE TRIGGER tasks_drop_edges AFTER DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION jarvis_drop_edges_of_node('Task', 'id');
CREATE TRIGGER models_drop_edges AFTER DELETE ON models
    FOR EACH ROW EXECUTE FUNCTION jarvis_drop_edges_of_node('Model', 'id');
CREATE TRIGGER knowledge_drop_edges AFTER DELETE ON knowledge
    FOR EACH ROW EXECUTE FUNCTION jarvis_drop_edges_of_node('Knowledge', 'id');
CREATE TRIGGER users_drop_edges AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION jarvis_drop_edges_of_node('User', 'id');
CREATE TRIGGER capabilities_drop_edges AFTER DELETE ON capabilities
    FOR EACH ROW EXECUTE FUNCTION jarvis_drop_edges_of_node('Capability', 'name');

-- Edges already orphaned before this migration (the race it closes) are listed by
-- `jarvis verify` and removed by `jarvis sync` (with their outbox events, so Neo4j follows).

-- ------------------------------------------------------------------ erasure receipts
-- What `forget_user` (and the other erasures) removed, kept so the receipt can be fetched
-- again: the ids erased per store, to check later that none remains (a store that was down
-- during the erasure is completed by the outbox projector when it returns).
CREATE TABLE erasure_receipts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    subject_type VARCHAR(32) NOT NULL CONSTRAINT erasure_receipts_subject_type_check
        CHECK (subject_type IN ('user', 'agent', 'session', 'preference')),
    subject_id TEXT NOT NULL,
    removed JSONB NOT NULL,          -- store -> {what: count} removed from PostgreSQL's view
    erased JSONB NOT NULL,           -- store -> {collection or label: [ids]} to check for leftovers
    requested_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_erasure_receipts_subject ON erasure_receipts (subject_type, subject_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON erasure_receipts TO jarvis_api;
