-- 008_ownership.sql — one ownership model, enforced by PostgreSQL for every user-owned table.
--
-- What belongs to a user (the README's "Who owns what" says the same for Redis and the projections):
--   users              the row whose id is the user
--   conversations      user_id
--   user_preferences   user_id
--   tasks              requested_by (a task without a requester belongs to no user: services only)
--   agents             owner_user_id (new, optional): an agent with no owner is shared — every
--                      key may see it, only service keys may change it; an owned agent is seen
--                      and changed only by its owner
--   agent_capabilities seen with its agent; changed only by the agent's owner
--   agent_memory       the memory of an agent its user owns; a shared agent's memory is for
--                      service keys only (it may hold anything any user told that agent)
--   system_events      an event about an agent the user owns or a task the user requested
-- Shared by everyone (not user-owned): knowledge, code_snippets, task_patterns, capabilities,
-- models, collaborations, metrics, improvement logs, graph_edges, the outbox.
--
-- Two roles reach these tables from the API, and neither owns them:
--   jarvis_api      for keys bound to a user. Its policies compare the owner column with
--                   app.current_user and nothing else: no setting it can change widens them.
--                   With no principal named, app.current_user is unset and it sees nothing.
--   jarvis_service  for service keys, the outbox projector and the key check. Its policies
--                   read app.all_users: a service transaction that does not say 'on' sees no
--                   user's rows either (fail closed for both roles).
-- app.all_users is an ordinary setting that any role may set with set_config(); that is
-- harmless now, because no policy that applies to jarvis_api reads it. The API holds one pool
-- per role and picks it by the caller's key, so a user-bound request never runs as the
-- service role. The migrating role (the tables' owner) gets the service policies too; a
-- superuser (the local stack's and compose's `postgres`) is never subject to row-level
-- security, whatever FORCE says — FORCE binds an owner that is not a superuser.
--
-- `jarvis migrate` gives both roles their login passwords from the settings (never stored here).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jarvis_service') THEN
        CREATE ROLE jarvis_service NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB;
    END IF;
END;
$$;

ALTER TABLE agents ADD COLUMN owner_user_id VARCHAR(255);
CREATE INDEX idx_agents_owner ON agents (owner_user_id) WHERE owner_user_id IS NOT NULL;

-- 004's policy let jarvis_api widen its own view with set_config('app.all_users', 'on').
DROP POLICY IF EXISTS user_conversations ON conversations;

-- The principal's user: NULL unless a transaction named one (an empty string names nobody).
CREATE FUNCTION jarvis_principal() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT NULLIF(current_setting('app.current_user', true), '') $$;
-- Whether a (service) transaction said it acts for every user.
CREATE FUNCTION jarvis_every_user() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT coalesce(current_setting('app.all_users', true) = 'on', false) $$;

-- ---------------------------------------------------------------- the user's own rows (jarvis_api)

CREATE POLICY own_rows ON conversations FOR ALL TO jarvis_api
    USING (user_id = jarvis_principal()) WITH CHECK (user_id = jarvis_principal());
CREATE POLICY own_rows ON users FOR ALL TO jarvis_api
    USING (id = jarvis_principal()) WITH CHECK (id = jarvis_principal());
CREATE POLICY own_rows ON user_preferences FOR ALL TO jarvis_api
    USING (user_id = jarvis_principal()) WITH CHECK (user_id = jarvis_principal());
CREATE POLICY own_rows ON tasks FOR ALL TO jarvis_api
    USING (requested_by = jarvis_principal()) WITH CHECK (requested_by = jarvis_principal());

CREATE POLICY shared_or_own_agents ON agents FOR SELECT TO jarvis_api
    USING (owner_user_id IS NULL OR owner_user_id = jarvis_principal());
CREATE POLICY own_agents_insert ON agents FOR INSERT TO jarvis_api
    WITH CHECK (owner_user_id = jarvis_principal());
CREATE POLICY own_agents_update ON agents FOR UPDATE TO jarvis_api
    USING (owner_user_id = jarvis_principal()) WITH CHECK (owner_user_id = jarvis_principal());
CREATE POLICY own_agents_delete ON agents FOR DELETE TO jarvis_api
    USING (owner_user_id = jarvis_principal());

-- The subqueries read agents and tasks under their own policies, as jarvis_api.
CREATE POLICY visible_agents ON agent_capabilities FOR SELECT TO jarvis_api
    USING (EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_id));
CREATE POLICY own_agents_insert ON agent_capabilities FOR INSERT TO jarvis_api
    WITH CHECK (EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_id AND a.owner_user_id = jarvis_principal()));
CREATE POLICY own_agents_update ON agent_capabilities FOR UPDATE TO jarvis_api
    USING (EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_id AND a.owner_user_id = jarvis_principal()))
    WITH CHECK (EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_id AND a.owner_user_id = jarvis_principal()));
CREATE POLICY own_agents_delete ON agent_capabilities FOR DELETE TO jarvis_api
    USING (EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_id AND a.owner_user_id = jarvis_principal()));

CREATE POLICY own_agents ON agent_memory FOR ALL TO jarvis_api
    USING (EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_id AND a.owner_user_id = jarvis_principal()))
    WITH CHECK (EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_id AND a.owner_user_id = jarvis_principal()));

CREATE POLICY own_agents_or_tasks ON system_events FOR ALL TO jarvis_api
    USING (EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_id AND a.owner_user_id = jarvis_principal())
           OR EXISTS (SELECT 1 FROM tasks t WHERE t.id = task_id))
    WITH CHECK (EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_id AND a.owner_user_id = jarvis_principal())
                OR EXISTS (SELECT 1 FROM tasks t WHERE t.id = task_id));

-- ------------------------------------------------ every user's rows (jarvis_service, the owner)

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['conversations', 'users', 'user_preferences', 'tasks', 'agents',
                             'agent_capabilities', 'agent_memory', 'system_events']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY every_user ON %I FOR ALL TO jarvis_service, CURRENT_USER '
                       'USING (jarvis_every_user()) WITH CHECK (jarvis_every_user())', t);
    END LOOP;
END;
$$;

-- ---------------------------------------------------------------- privileges

-- The service role gets what jarvis_api got in 004 (tables, not partitions), and the same on
-- tables later migrations create. jarvis_api no longer reads API keys: the key check runs as
-- the service role, so a user-bound connection cannot see another key's hash or owner.
DO $$
DECLARE
    t record;
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO jarvis_service', current_database());
    GRANT USAGE ON SCHEMA public TO jarvis_service;
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND c.relname <> 'schema_migrations'
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO jarvis_service', t.relname);
    END LOOP;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO jarvis_service;
    GRANT EXECUTE ON FUNCTION jarvis_create_monthly_partitions(integer, timestamptz) TO jarvis_service;
    REVOKE ALL ON api_keys FROM jarvis_api;
END;
$$;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO jarvis_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO jarvis_service;
