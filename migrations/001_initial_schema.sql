-- 001_initial_schema.sql — the seed's tables, made correct for PostgreSQL, plus the tables
-- that make PostgreSQL the system of record for what the seed keeps only in Neo4j, Chroma
-- and Qdrant. Applied by `jarvis migrate` inside one transaction (no BEGIN/COMMIT here).
--
-- Deliberate departures from the seed:
--   * the seed's MySQL-style inline INDEX clauses are real CREATE INDEX statements;
--   * timestamps are TIMESTAMPTZ (an instant, whatever the session's time zone);
--   * the seed's enumerations (in its comments) are CHECK constraints;
--   * gen_random_uuid() is built in since PostgreSQL 13, so uuid-ossp is not needed.

CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE OR REPLACE FUNCTION update_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$;

-- ---------------------------------------------------------------- the seed's tables

CREATE TABLE agents (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) UNIQUE NOT NULL,
    type VARCHAR(100) NOT NULL,                      -- 'letta', 'autogpt', 'crewai', ...
    status VARCHAR(50) NOT NULL DEFAULT 'inactive'
        CONSTRAINT agents_status_check CHECK (status IN ('active', 'inactive', 'error', 'updating', 'terminated')),
    capabilities JSONB NOT NULL DEFAULT '[]',
    configuration JSONB NOT NULL DEFAULT '{}',
    resources JSONB NOT NULL DEFAULT '{}',           -- cpu, memory limits
    port INTEGER UNIQUE CONSTRAINT agents_port_check CHECK (port BETWEEN 1 AND 65535),
    performance_score DOUBLE PRECISION NOT NULL DEFAULT 0.5
        CONSTRAINT agents_performance_score_check CHECK (performance_score BETWEEN 0 AND 1),
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_heartbeat TIMESTAMPTZ
);
CREATE INDEX idx_agent_status ON agents (status);
CREATE INDEX idx_agent_type ON agents (type);

CREATE TABLE tasks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    description TEXT,
    type VARCHAR(100) NOT NULL
        CONSTRAINT tasks_type_check CHECK (type IN ('voice', 'chat', 'autonomous', 'scheduled')),
    status VARCHAR(50) NOT NULL DEFAULT 'pending'
        CONSTRAINT tasks_status_check CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    priority INTEGER NOT NULL DEFAULT 5
        CONSTRAINT tasks_priority_check CHECK (priority BETWEEN 1 AND 10),
    agent_id UUID REFERENCES agents (id),
    parent_task_id UUID REFERENCES tasks (id),
    input_data JSONB,
    output_data JSONB,
    error_details JSONB,
    execution_time_ms INTEGER CONSTRAINT tasks_execution_time_check CHECK (execution_time_ms >= 0),
    -- retries: a failed attempt goes back to 'pending' with run_after in the future
    attempts INTEGER NOT NULL DEFAULT 0 CONSTRAINT tasks_attempts_check CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL DEFAULT 3 CONSTRAINT tasks_max_attempts_check CHECK (max_attempts >= 1),
    run_after TIMESTAMPTZ,
    requested_by VARCHAR(255),
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ
);
CREATE INDEX idx_task_status ON tasks (status);
CREATE INDEX idx_task_agent ON tasks (agent_id);
CREATE INDEX idx_task_priority ON tasks (priority DESC);
CREATE INDEX idx_task_parent ON tasks (parent_task_id);
-- The seed's CONCURRENTLY cannot run inside a migration's transaction; on a new table it
-- would buy nothing anyway.
CREATE INDEX idx_tasks_status_priority ON tasks (status, priority DESC)
    WHERE status IN ('pending', 'running');

CREATE TABLE conversations (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    session_id VARCHAR(255) NOT NULL,
    user_id VARCHAR(255),
    message_type VARCHAR(50) NOT NULL
        CONSTRAINT conversations_message_type_check CHECK (message_type IN ('voice', 'text', 'system')),
    role VARCHAR(50) NOT NULL
        CONSTRAINT conversations_role_check CHECK (role IN ('user', 'assistant', 'system')),
    content TEXT NOT NULL,
    audio_file_path TEXT,
    agent_id UUID REFERENCES agents (id),
    task_id UUID REFERENCES tasks (id),
    metadata JSONB NOT NULL DEFAULT '{}',
    embedding VECTOR(384),
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id, created_at)
);
CREATE INDEX idx_conv_session ON conversations (session_id);
CREATE INDEX idx_conv_user ON conversations (user_id);
CREATE INDEX idx_conv_created ON conversations (created_at DESC);
CREATE INDEX idx_conversations_text_search ON conversations USING gin (to_tsvector('english', content));

CREATE TABLE models (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) UNIQUE NOT NULL,
    type VARCHAR(100) NOT NULL
        CONSTRAINT models_type_check CHECK (type IN ('llm', 'embedding', 'whisper', 'tts')),
    provider VARCHAR(100) NOT NULL,                  -- 'ollama', 'local', 'transformers'
    size_mb INTEGER CONSTRAINT models_size_check CHECK (size_mb >= 0),
    parameters JSONB NOT NULL DEFAULT '{}',
    performance_metrics JSONB NOT NULL DEFAULT '{}',
    status VARCHAR(50) NOT NULL DEFAULT 'available'
        CONSTRAINT models_status_check CHECK (status IN ('available', 'downloading', 'error')),
    path TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_used TIMESTAMPTZ,
    usage_count INTEGER NOT NULL DEFAULT 0 CONSTRAINT models_usage_count_check CHECK (usage_count >= 0)
);
CREATE INDEX idx_model_type ON models (type);
CREATE INDEX idx_model_status ON models (status);

CREATE TABLE agent_collaborations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id UUID REFERENCES tasks (id),
    coordinator_agent_id UUID REFERENCES agents (id),
    participant_agent_ids UUID[] NOT NULL,
    collaboration_type VARCHAR(100)
        CONSTRAINT collaborations_type_check CHECK (collaboration_type IN ('sequential', 'parallel', 'hierarchical')),
    workflow JSONB NOT NULL,
    status VARCHAR(50) NOT NULL DEFAULT 'active'
        CONSTRAINT collaborations_status_check CHECK (status IN ('active', 'completed', 'failed', 'cancelled')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    completed_at TIMESTAMPTZ
);
CREATE INDEX idx_collab_task ON agent_collaborations (task_id);
CREATE INDEX idx_collab_coordinator ON agent_collaborations (coordinator_agent_id);

CREATE TABLE system_events (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    event_type VARCHAR(100) NOT NULL,                -- 'agent_start', 'task_complete', 'error', 'warning'
    severity VARCHAR(50) NOT NULL DEFAULT 'info'
        CONSTRAINT system_events_severity_check CHECK (severity IN ('debug', 'info', 'warning', 'error', 'critical')),
    source VARCHAR(255) NOT NULL,
    agent_id UUID REFERENCES agents (id),
    task_id UUID REFERENCES tasks (id),
    message TEXT NOT NULL,
    details JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id, created_at)
);
CREATE INDEX idx_event_type ON system_events (event_type);
CREATE INDEX idx_event_severity ON system_events (severity);
CREATE INDEX idx_event_created ON system_events (created_at DESC);

CREATE TABLE performance_metrics (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    metric_type VARCHAR(100) NOT NULL
        CONSTRAINT performance_metrics_type_check CHECK (metric_type IN ('latency', 'throughput', 'accuracy', 'resource')),
    source VARCHAR(255) NOT NULL,
    agent_id UUID REFERENCES agents (id),
    value DECIMAL(10, 4) NOT NULL,
    unit VARCHAR(50),
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id, created_at)
);
CREATE INDEX idx_metric_type ON performance_metrics (metric_type);
CREATE INDEX idx_metric_agent ON performance_metrics (agent_id);
CREATE INDEX idx_metric_created ON performance_metrics (created_at DESC);

CREATE TABLE improvement_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    improvement_type VARCHAR(100) NOT NULL
        CONSTRAINT improvement_logs_type_check CHECK (improvement_type IN ('code_generation', 'optimization', 'bug_fix')),
    target VARCHAR(255) NOT NULL,
    description TEXT,
    before_state JSONB,
    after_state JSONB,
    performance_gain DECIMAL(5, 2),
    agent_id UUID REFERENCES agents (id),
    approved BOOLEAN NOT NULL DEFAULT FALSE,
    applied BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    applied_at TIMESTAMPTZ,
    CONSTRAINT improvement_logs_applied_needs_approval CHECK (NOT applied OR approved)
);
CREATE INDEX idx_improve_type ON improvement_logs (improvement_type);
CREATE INDEX idx_improve_applied ON improvement_logs (applied);

CREATE TABLE agent_memory (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    memory_type VARCHAR(100) NOT NULL
        CONSTRAINT agent_memory_type_check CHECK (memory_type IN ('core', 'recall', 'archival', 'working')),
    key VARCHAR(255) NOT NULL,
    value TEXT NOT NULL,
    embedding VECTOR(384),
    importance DECIMAL(3, 2) NOT NULL DEFAULT 0.5
        CONSTRAINT agent_memory_importance_check CHECK (importance BETWEEN 0 AND 1),
    access_count INTEGER NOT NULL DEFAULT 0 CONSTRAINT agent_memory_access_count_check CHECK (access_count >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_accessed TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,
    CONSTRAINT agent_memory_agent_type_key UNIQUE (agent_id, memory_type, key)
);
-- idx_memory_agent is covered by the UNIQUE index's leading column, but the seed names it.
CREATE INDEX idx_memory_agent ON agent_memory (agent_id);
CREATE INDEX idx_memory_type ON agent_memory (memory_type);
CREATE INDEX idx_memory_key ON agent_memory (key);
CREATE INDEX idx_memory_importance ON agent_memory (importance DESC);
CREATE INDEX idx_memory_expires ON agent_memory (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_memory_embedding ON agent_memory USING hnsw (embedding vector_cosine_ops);

-- ------------------------------------- entities the seed keeps only in the projections

CREATE TABLE users (
    id VARCHAR(255) PRIMARY KEY,
    name VARCHAR(255),
    preferences JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE capabilities (
    name VARCHAR(255) PRIMARY KEY,
    category VARCHAR(100),
    description TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_capability_name_trgm ON capabilities USING gin (name gin_trgm_ops);

-- One row per (agent, capability): the Qdrant point of `agent_capabilities`.
CREATE TABLE agent_capabilities (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    capability VARCHAR(255) NOT NULL REFERENCES capabilities (name),
    description TEXT NOT NULL,
    success_rate DECIMAL(5, 4) NOT NULL DEFAULT 0
        CONSTRAINT agent_capabilities_success_rate_check CHECK (success_rate BETWEEN 0 AND 1),
    avg_execution_time INTEGER NOT NULL DEFAULT 0
        CONSTRAINT agent_capabilities_avg_time_check CHECK (avg_execution_time >= 0),   -- ms
    embedding VECTOR(384) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT agent_capabilities_agent_capability_key UNIQUE (agent_id, capability)
);
CREATE INDEX idx_agent_capabilities_capability ON agent_capabilities (capability);
CREATE INDEX idx_agent_capabilities_embedding ON agent_capabilities USING hnsw (embedding vector_cosine_ops);

CREATE TABLE knowledge (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    topic VARCHAR(255) NOT NULL,
    content TEXT NOT NULL,
    source VARCHAR(255),
    category VARCHAR(100),
    confidence DECIMAL(3, 2) NOT NULL DEFAULT 1
        CONSTRAINT knowledge_confidence_check CHECK (confidence BETWEEN 0 AND 1),
    agent_id UUID REFERENCES agents (id) ON DELETE SET NULL,
    embedding VECTOR(384) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_knowledge_topic ON knowledge (topic);
CREATE INDEX idx_knowledge_topic_trgm ON knowledge USING gin (topic gin_trgm_ops);
CREATE INDEX idx_knowledge_agent ON knowledge (agent_id);
CREATE INDEX idx_knowledge_embedding ON knowledge USING hnsw (embedding vector_cosine_ops);

CREATE TABLE code_snippets (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    content TEXT NOT NULL,
    language VARCHAR(50) NOT NULL,                   -- 'python', 'javascript', 'yaml', ...
    purpose TEXT,
    agent_id UUID REFERENCES agents (id) ON DELETE SET NULL,
    performance_score DECIMAL(5, 4)
        CONSTRAINT code_snippets_performance_score_check CHECK (performance_score BETWEEN 0 AND 1),
    tested BOOLEAN NOT NULL DEFAULT FALSE,
    embedding VECTOR(384) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_code_language ON code_snippets (language);
CREATE INDEX idx_code_agent ON code_snippets (agent_id);
CREATE INDEX idx_code_embedding ON code_snippets USING hnsw (embedding vector_cosine_ops);

CREATE TABLE task_patterns (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    pattern_type VARCHAR(100) NOT NULL,
    description TEXT NOT NULL,
    task_sequence JSONB NOT NULL DEFAULT '[]'
        CONSTRAINT task_patterns_sequence_check CHECK (jsonb_typeof(task_sequence) = 'array'),
    success_rate DECIMAL(5, 4) NOT NULL DEFAULT 0
        CONSTRAINT task_patterns_success_rate_check CHECK (success_rate BETWEEN 0 AND 1),
    optimal_agents JSONB NOT NULL DEFAULT '[]'
        CONSTRAINT task_patterns_agents_check CHECK (jsonb_typeof(optimal_agents) = 'array'),
    embedding VECTOR(384) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_task_patterns_type ON task_patterns (pattern_type);
CREATE INDEX idx_task_patterns_embedding ON task_patterns USING hnsw (embedding vector_cosine_ops);

CREATE TABLE user_preferences (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id VARCHAR(255) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    preference_type VARCHAR(50) NOT NULL
        CONSTRAINT user_preferences_type_check CHECK (preference_type IN ('agent', 'task', 'interface')),
    description TEXT NOT NULL,
    value JSONB NOT NULL DEFAULT '{}',
    confidence DECIMAL(3, 2) NOT NULL DEFAULT 0.5
        CONSTRAINT user_preferences_confidence_check CHECK (confidence BETWEEN 0 AND 1),
    embedding VECTOR(384) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_user_preferences_user ON user_preferences (user_id);
-- Qdrant's `user_preferences` is euclidean; the pgvector fallback searches the same way.
CREATE INDEX idx_user_preferences_embedding ON user_preferences USING hnsw (embedding vector_l2_ops);

-- Every relationship of the graph, so Neo4j can be rebuilt from PostgreSQL alone.
CREATE TABLE graph_edges (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rel_type VARCHAR(32) NOT NULL CONSTRAINT graph_edges_rel_type_check CHECK (rel_type IN (
        'ASSIGNED_TO', 'REQUESTED_BY', 'DEPENDS_ON', 'PRODUCES',
        'HAS_CAPABILITY', 'USES_MODEL', 'COLLABORATES_WITH', 'LEARNED_FROM',
        'PREFERS', 'INTERACTED_WITH',
        'RELATED_TO', 'GENERATED_BY', 'USED_IN')),
    src_label VARCHAR(32) NOT NULL CONSTRAINT graph_edges_src_label_check
        CHECK (src_label IN ('Agent', 'Task', 'User', 'Model', 'Capability', 'Knowledge')),
    src_id TEXT NOT NULL,
    dst_label VARCHAR(32) NOT NULL CONSTRAINT graph_edges_dst_label_check
        CHECK (dst_label IN ('Agent', 'Task', 'User', 'Model', 'Capability', 'Knowledge')),
    dst_id TEXT NOT NULL,
    properties JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT graph_edges_identity_key UNIQUE (rel_type, src_label, src_id, dst_label, dst_id)
);
CREATE INDEX idx_graph_edges_src ON graph_edges (src_label, src_id);
CREATE INDEX idx_graph_edges_dst ON graph_edges (dst_label, dst_id);

-- The transactional outbox: written in the same transaction as the entity, applied to the
-- projections after commit. An event is done when no store is left in pending_stores.
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity VARCHAR(64) NOT NULL,                     -- 'agent', 'knowledge', 'edge', ...
    entity_id TEXT NOT NULL,
    operation VARCHAR(16) NOT NULL CONSTRAINT outbox_operation_check CHECK (operation IN ('upsert', 'delete')),
    payload JSONB NOT NULL DEFAULT '{}',
    pending_stores TEXT[] NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error JSONB NOT NULL DEFAULT '{}',          -- store -> last error message
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    processed_at TIMESTAMPTZ
);
CREATE INDEX idx_outbox_pending ON outbox (next_attempt_at, id) WHERE cardinality(pending_stores) > 0;
CREATE INDEX idx_outbox_entity ON outbox (entity, entity_id);

-- ---------------------------------------------------------------- updated_at triggers

CREATE TRIGGER update_agents_updated_at BEFORE UPDATE ON agents
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
CREATE TRIGGER update_agent_memory_updated_at BEFORE UPDATE ON agent_memory
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
CREATE TRIGGER update_agent_capabilities_updated_at BEFORE UPDATE ON agent_capabilities
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
CREATE TRIGGER update_knowledge_updated_at BEFORE UPDATE ON knowledge
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
CREATE TRIGGER update_code_snippets_updated_at BEFORE UPDATE ON code_snippets
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
CREATE TRIGGER update_task_patterns_updated_at BEFORE UPDATE ON task_patterns
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
CREATE TRIGGER update_user_preferences_updated_at BEFORE UPDATE ON user_preferences
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
CREATE TRIGGER update_graph_edges_updated_at BEFORE UPDATE ON graph_edges
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
