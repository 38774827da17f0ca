-- 014_langgraph_store.sql — items of the LangGraph store (jarvis.integrations.langgraph_store).
--
-- A LangGraph BaseStore keeps JSON documents under (namespace, key), a namespace being a path
-- of labels. No existing table fits (agent_memory is text per agent and type), so they live
-- here, with an optional embedding for semantic search.
--
-- Whose rows: `owner` is the user the writing principal acts for ('' for a principal acting for
-- every user: in-process library users, service keys). Row-level security, forced even for the
-- table's owner, shows and accepts a user-bound principal's rows only (app.current_user), and
-- every row to app.all_users = 'on', the same settings migrations/004 uses for conversations.

CREATE TABLE langgraph_items (
    owner VARCHAR(255) NOT NULL,
    namespace TEXT[] NOT NULL CONSTRAINT langgraph_items_namespace_check CHECK (cardinality(namespace) > 0),
    key TEXT NOT NULL,
    value JSONB NOT NULL CONSTRAINT langgraph_items_value_check CHECK (jsonb_typeof(value) = 'object'),
    embedding vector(384),                          -- of the indexed fields; NULL when not indexed
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT langgraph_items_pkey PRIMARY KEY (owner, namespace, key)
);
CREATE INDEX idx_langgraph_items_recent ON langgraph_items (owner, updated_at DESC);

ALTER TABLE langgraph_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE langgraph_items FORCE ROW LEVEL SECURITY;
CREATE POLICY langgraph_items_owner ON langgraph_items
    FOR ALL
    USING (current_setting('app.all_users', true) = 'on'
           OR owner = current_setting('app.current_user', true))
    WITH CHECK (current_setting('app.all_users', true) = 'on'
                OR owner = current_setting('app.current_user', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON langgraph_items TO jarvis_api;
