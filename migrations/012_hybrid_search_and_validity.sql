-- 012_hybrid_search_and_validity.sql — keyword rankings beside the vector ones, the context a
-- conversation turn was indexed with, and knowledge that is valid for a time.
--
-- Every text scope gets a stored, generated tsvector (English configuration: stems and drops
-- stop words, so a question and its answer meet on "hiking"/"hiked") and a GIN index on it.
-- Search ranks it beside the vector ranking and fuses the two (jarvis/domain/hybrid.py).
-- The main text weighs 'A'; secondary text (a topic, a purpose, a memory's key, a turn's
-- context) weighs less, so a word of the text itself outranks the same word nearby.

-- conversations: `context` holds what a turn was indexed with besides its own words (the
-- session's date and the turn before it): a turn answering "what did she adopt?" often says
-- only "yes, last week!". The seed's full-text index keeps its name, now on the stored column.
ALTER TABLE conversations ADD COLUMN context TEXT;
ALTER TABLE conversations ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, content), 'A')
    || setweight(to_tsvector('english'::regconfig, coalesce(context, '')), 'D')) STORED;
DROP INDEX IF EXISTS idx_conversations_text_search;
CREATE INDEX idx_conversations_text_search ON conversations USING gin (search_tsv);

-- knowledge: when a fact holds (valid_from/valid_to), beside when it was recorded (created_at).
-- A fact that supersedes another closes the other's validity; nothing is deleted.
ALTER TABLE knowledge ADD COLUMN valid_from TIMESTAMPTZ;
UPDATE knowledge SET valid_from = created_at;
ALTER TABLE knowledge ALTER COLUMN valid_from SET NOT NULL,
                      ALTER COLUMN valid_from SET DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE knowledge ADD COLUMN valid_to TIMESTAMPTZ,
                      ADD COLUMN supersedes UUID REFERENCES knowledge (id) ON DELETE SET NULL,
                      ADD CONSTRAINT knowledge_validity_check CHECK (valid_to IS NULL OR valid_to >= valid_from);
CREATE INDEX idx_knowledge_supersedes ON knowledge (supersedes) WHERE supersedes IS NOT NULL;
ALTER TABLE knowledge ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, topic), 'B')
    || setweight(to_tsvector('english'::regconfig, content), 'A')) STORED;
CREATE INDEX idx_knowledge_search_tsv ON knowledge USING gin (search_tsv);

ALTER TABLE code_snippets ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, coalesce(purpose, '')), 'B')
    || setweight(to_tsvector('english'::regconfig, content), 'A')) STORED;
CREATE INDEX idx_code_search_tsv ON code_snippets USING gin (search_tsv);

ALTER TABLE agent_memory ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, key), 'B')
    || setweight(to_tsvector('english'::regconfig, value), 'A')) STORED;
CREATE INDEX idx_memory_search_tsv ON agent_memory USING gin (search_tsv);

-- (new)-[:SUPERSEDES]->(old) between knowledge facts, as a graph edge like the others.
ALTER TABLE graph_edges DROP CONSTRAINT graph_edges_rel_type_check;
ALTER TABLE graph_edges ADD CONSTRAINT graph_edges_rel_type_check CHECK (rel_type IN (
    'ASSIGNED_TO', 'REQUESTED_BY', 'DEPENDS_ON', 'PRODUCES',
    'HAS_CAPABILITY', 'USES_MODEL', 'COLLABORATES_WITH', 'LEARNED_FROM',
    'PREFERS', 'INTERACTED_WITH',
    'RELATED_TO', 'GENERATED_BY', 'USED_IN', 'SUPERSEDES'));

-- The projections gain fields the filters read (created_ts, meta_*, valid_from_ts/valid_to_ts,
-- and validity on Knowledge nodes): queue every existing row for re-projection, which reads
-- the row as it is now and upserts it (stored vectors, nothing re-embedded). `jarvis sync`
-- or the server's projector applies them; on a fresh database these insert nothing.
INSERT INTO outbox (entity, entity_id, operation, pending_stores)
SELECT 'knowledge', id::text, 'upsert', ARRAY['neo4j', 'chroma'] FROM knowledge
UNION ALL SELECT 'conversation', id::text, 'upsert', ARRAY['chroma'] FROM conversations
UNION ALL SELECT 'code_snippet', id::text, 'upsert', ARRAY['chroma'] FROM code_snippets
UNION ALL SELECT 'agent_capability', id::text, 'upsert', ARRAY['qdrant'] FROM agent_capabilities
UNION ALL SELECT 'task_pattern', id::text, 'upsert', ARRAY['qdrant'] FROM task_patterns
UNION ALL SELECT 'user_preference', id::text, 'upsert', ARRAY['qdrant'] FROM user_preferences;

-- New monthly partitions must carry the generated column too (ATTACH requires it), and rows
-- moved out of the default partition are copied without it (PostgreSQL computes it): the
-- function of 002, with INCLUDING GENERATED and an explicit list of the stored columns.
CREATE OR REPLACE FUNCTION jarvis_create_monthly_partitions(
    p_months_ahead integer DEFAULT 3,
    p_from timestamptz DEFAULT CURRENT_TIMESTAMP
) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    parent text;
    part text;
    stored text;
    month_start timestamp;
    lo timestamptz;
    hi timestamptz;
BEGIN
    IF p_months_ahead < 0 OR p_months_ahead > 120 THEN
        RAISE EXCEPTION 'p_months_ahead must be between 0 and 120, got %', p_months_ahead;
    END IF;
    FOREACH parent IN ARRAY ARRAY['conversations', 'system_events', 'performance_metrics'] LOOP
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO stored
        FROM pg_attribute
        WHERE attrelid = parent::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
        FOR i IN 0..p_months_ahead LOOP
            month_start := date_trunc('month', p_from AT TIME ZONE 'UTC') + make_interval(months => i);
            lo := month_start AT TIME ZONE 'UTC';
            hi := (month_start + interval '1 month') AT TIME ZONE 'UTC';
            part := format('%s_%s', parent, to_char(month_start, 'YYYY_MM'));
            CONTINUE WHEN to_regclass(part) IS NOT NULL;
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED)',
                           part, parent);
            -- Rows of that month that went to the default partition move to their own.
            EXECUTE format('WITH moved AS (DELETE FROM %I WHERE created_at >= $1 AND created_at < $2 RETURNING %s) '
                           'INSERT INTO %I (%s) SELECT %s FROM moved', parent || '_default', stored, part, stored,
                           stored)
                USING lo, hi;
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           parent, part, lo, hi);
            RETURN NEXT part;
        END LOOP;
    END LOOP;
END;
$$;
