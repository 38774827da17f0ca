-- 004_api_keys_and_row_security.sql — API keys, and per-user isolation enforced by PostgreSQL.
--
-- The memory API connects as the role jarvis_api, which is not the tables' owner, so row-level
-- security applies to it. Each transaction says whose data it may see:
--   app.current_user = '<user id>'  -> only that user's conversations;
--   app.all_users    = 'on'         -> every user's (service keys, the outbox projector).
-- With neither set, no conversation is visible: forgetting to set them leaks nothing.
-- `jarvis migrate` gives the role its login password from the settings (never stored here).

CREATE TABLE api_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    prefix VARCHAR(32) NOT NULL CONSTRAINT api_keys_prefix_key UNIQUE,
    key_hash CHAR(64) NOT NULL,                      -- sha256 of the whole key; keys are 256-bit random
    scopes TEXT[] NOT NULL CONSTRAINT api_keys_scopes_check
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'admin', 'backup']::text[]),
    user_id VARCHAR(255),                            -- bound user; NULL for a service key
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_conversations ON conversations
    FOR ALL
    USING (current_setting('app.all_users', true) = 'on'
           OR user_id = current_setting('app.current_user', true))
    WITH CHECK (current_setting('app.all_users', true) = 'on'
                OR user_id = current_setting('app.current_user', true));

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jarvis_api') THEN
        CREATE ROLE jarvis_api NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END;
$$;

-- Privileges on the tables, not on the partitions: through the parent the policy applies;
-- a partition read directly would bypass it, so the role gets no rights on partitions.
DO $$
DECLARE
    t record;
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO jarvis_api', current_database());
    GRANT USAGE ON SCHEMA public TO jarvis_api;
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND c.relname <> 'schema_migrations'
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO jarvis_api', t.relname);
    END LOOP;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO jarvis_api;
    GRANT EXECUTE ON FUNCTION jarvis_create_monthly_partitions(integer, timestamptz) TO jarvis_api;
END;
$$;
