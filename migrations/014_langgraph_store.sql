-- 014_langgraph_store.sql — items of the LangGraph store (jarvis.integrations.langgraph_store).
--
-- A LangGraph BaseStore keeps JSON documents under (namespace, key), a namespace being a path
-- of labels. No existing table fits (agent_memory is text per agent and type), so they live
-- here, with an optional embedding for semantic search.
--
-- Whose rows: `owner` is the user the writing principal acts for ('' for a principal acting for
-- every user: in-process library users, service keys). Row-level security, forced even for the
-- table's owner, follows migrations/008's ownership model: jarvis_api (user-bound keys) sees and
-- writes only its principal's rows, whatever it sets app.all_users to; jarvis_service and the
-- owner see every row only in a transaction that says it acts for every user.

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
CREATE POLICY own_rows ON langgraph_items FOR ALL TO jarvis_api
    USING (owner = jarvis_principal()) WITH CHECK (owner = jarvis_principal());
CREATE POLICY every_user ON langgraph_items FOR ALL TO jarvis_service, CURRENT_USER
    USING (jarvis_every_user()) WITH CHECK (jarvis_every_user());

GRANT SELECT, INSERT, UPDATE, DELETE ON langgraph_items TO jarvis_api;
