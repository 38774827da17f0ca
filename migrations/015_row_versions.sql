-- 015_row_versions.sql — every projected row carries a version, so a projection never
-- overwrites a newer version with an older one (issue 13). The version comes from one
-- sequence: a row gets a fresh value when inserted and again on every update (a trigger), so a
-- later state of an entity always has a larger version, even after a delete and a re-insert.
-- The projector writes it into Neo4j node and relationship properties, Chroma metadata and
-- Qdrant payloads (`row_version`), and skips a row whose stored version is newer. Rows that
-- existed before this migration have version 0 until their next update.

CREATE SEQUENCE jarvis_row_version AS bigint;

CREATE FUNCTION jarvis_bump_row_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.row_version := nextval('jarvis_row_version');
    RETURN NEW;
END;
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['agents', 'tasks', 'users', 'models', 'capabilities', 'knowledge', 'conversations',
                             'code_snippets', 'agent_capabilities', 'task_patterns', 'user_preferences', 'graph_edges']
    LOOP
        -- a constant default first (no table rewrite), then the sequence for rows to come
        EXECUTE format('ALTER TABLE %I ADD COLUMN row_version bigint NOT NULL DEFAULT 0', t);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN row_version SET DEFAULT nextval(''jarvis_row_version'')', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION jarvis_bump_row_version()',
                       t || '_row_version', t);
    END LOOP;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'jarvis_api') THEN
        GRANT USAGE, SELECT ON SEQUENCE jarvis_row_version TO jarvis_api;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'jarvis_service') THEN
        GRANT USAGE, SELECT ON SEQUENCE jarvis_row_version TO jarvis_service;
    END IF;
END;
$$;
