-- 017_search_term_statistics.sql — what BM25 needs to know about a corpus, kept as it changes.
--
-- The keyword ranking (jarvis/domain/keyword.py) scores rows with BM25 over the stored
-- `search_tsv` of migration 012. It used to count, per search, the corpus size and every query
-- term's document frequency among the rows it could see, then score every row holding any
-- query term: 1.1 s at 100,000 knowledge items. Here the counts are kept per table, per owner
-- and per lexeme, by statement-level triggers (transition tables: one upsert per statement,
-- whatever its row count), so a search reads them in one indexed lookup, and scores only the
-- rows holding its rarest terms together (docs/retrieval-notes.md).
--
-- Whose counts: statistics of one user's rows are that user's data. Shared tables (knowledge,
-- code_snippets) count under owner ''; conversations under their user_id, agent memory under
-- its agent_id, and row-level security shows a user-bound role only its own users' and agents'
-- counts (migrations/008's model). A search's IDF is computed over the owner's whole corpus,
-- not over the rows its other filters (session, time, metadata) leave — as Lucene does.
--
-- Writes: the counts of one (table, owner) are updated in one order — the corpus row ('')
-- first, then lexemes alphabetically — and held to commit, so two transactions writing to the
-- same table and owner queue behind each other instead of deadlocking.

CREATE TABLE search_term_stats (
    scope_table TEXT NOT NULL,      -- the table whose search_tsv is counted
    owner TEXT NOT NULL,            -- '' for shared tables; a user_id or an agent_id
    lexeme TEXT NOT NULL,           -- '' is the corpus row: docs = rows, dl_sum = their lengths
    docs BIGINT NOT NULL,           -- rows holding the lexeme
    dl_sum BIGINT NOT NULL,         -- corpus row only: total length (lexemes), for the average
    CONSTRAINT search_term_stats_pkey PRIMARY KEY (scope_table, owner, lexeme)
);
-- a search over every owner's rows (a service key's, across users) sums a lexeme's owners
CREATE INDEX idx_search_term_stats_lexeme ON search_term_stats (scope_table, lexeme);

-- A term's frequency in a row, weighted by where it occurs (012's labels: the text itself 1, a
-- title-like field — topic, purpose, a memory's key — 0.5, C 0.4, a turn's context 0.3) and
-- damped as ts_rank damps it: the heaviest occurrence counts in full, the j-th other one
-- 1/j^2 of its weight, so a word repeated does not swamp one used once. Computed by ts_rank's
-- C code (its sum, before its division by pi^2/6): cheap enough to score a row per term. The
-- one definition of it (a single expression, so PostgreSQL inlines it).
CREATE FUNCTION jarvis_term_frequency(search_tsv tsvector, term tsquery) RETURNS real
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (ts_rank('{0.3, 0.4, 0.5, 1.0}', search_tsv, term) * 1.64493406685)::real
$$;

-- One row added (+1) to or removed (-1) from an owner's corpus.
CREATE TYPE jarvis_term_change AS (owner TEXT, search_tsv tsvector, sign INTEGER);

CREATE FUNCTION jarvis_count_search_terms(p_table text, p_changes jarvis_term_change[]) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH changed AS (
        SELECT c.owner, c.search_tsv, c.sign FROM unnest(p_changes) AS c WHERE c.search_tsv IS NOT NULL),
    terms AS (
        SELECT owner, '' AS lexeme, sign, length(search_tsv) AS dl FROM changed
        UNION ALL
        SELECT c.owner, u.lexeme, c.sign, 0
        FROM changed c CROSS JOIN LATERAL unnest(tsvector_to_array(c.search_tsv)) AS u(lexeme)),
    delta AS (
        SELECT owner, lexeme, sum(sign) AS docs, sum(sign * dl) AS dl_sum FROM terms GROUP BY owner, lexeme)
    INSERT INTO search_term_stats AS s (scope_table, owner, lexeme, docs, dl_sum)
    SELECT p_table, owner, lexeme, docs, dl_sum FROM delta ORDER BY owner, lexeme
    ON CONFLICT (scope_table, owner, lexeme) DO UPDATE
        SET docs = s.docs + excluded.docs, dl_sum = s.dl_sum + excluded.dl_sum
$$;

-- The statement triggers: rows inserted count +1, deleted -1; an update counts only the rows
-- whose words or owner changed (an access count, a validity closed: nothing to do).
CREATE FUNCTION jarvis_search_terms_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF TG_TABLE_NAME = 'conversations' THEN
            PERFORM jarvis_count_search_terms(TG_TABLE_NAME, ARRAY(
                SELECT ROW(coalesce(user_id, ''), search_tsv, 1)::jarvis_term_change FROM added_rows));
        ELSIF TG_TABLE_NAME = 'agent_memory' THEN
            PERFORM jarvis_count_search_terms(TG_TABLE_NAME, ARRAY(
                SELECT ROW(agent_id::text, search_tsv, 1)::jarvis_term_change FROM added_rows));
        ELSE
            PERFORM jarvis_count_search_terms(TG_TABLE_NAME, ARRAY(
                SELECT ROW('', search_tsv, 1)::jarvis_term_change FROM added_rows));
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF TG_TABLE_NAME = 'conversations' THEN
            PERFORM jarvis_count_search_terms(TG_TABLE_NAME, ARRAY(
                SELECT ROW(coalesce(user_id, ''), search_tsv, -1)::jarvis_term_change FROM removed_rows));
        ELSIF TG_TABLE_NAME = 'agent_memory' THEN
            PERFORM jarvis_count_search_terms(TG_TABLE_NAME, ARRAY(
                SELECT ROW(agent_id::text, search_tsv, -1)::jarvis_term_change FROM removed_rows));
        ELSE
            PERFORM jarvis_count_search_terms(TG_TABLE_NAME, ARRAY(
                SELECT ROW('', search_tsv, -1)::jarvis_term_change FROM removed_rows));
        END IF;
    ELSIF TG_TABLE_NAME = 'conversations' THEN
        PERFORM jarvis_count_search_terms(TG_TABLE_NAME, ARRAY(
            SELECT ROW(coalesce(o.user_id, ''), o.search_tsv, -1)::jarvis_term_change
            FROM removed_rows o JOIN added_rows n USING (id)
            WHERE (o.user_id, o.search_tsv) IS DISTINCT FROM (n.user_id, n.search_tsv)
            UNION ALL
            SELECT ROW(coalesce(n.user_id, ''), n.search_tsv, 1)::jarvis_term_change
            FROM removed_rows o JOIN added_rows n USING (id)
            WHERE (o.user_id, o.search_tsv) IS DISTINCT FROM (n.user_id, n.search_tsv)));
    ELSIF TG_TABLE_NAME = 'agent_memory' THEN
        PERFORM jarvis_count_search_terms(TG_TABLE_NAME, ARRAY(
            SELECT ROW(o.agent_id::text, o.search_tsv, -1)::jarvis_term_change
            FROM removed_rows o JOIN added_rows n USING (id)
            WHERE (o.agent_id, o.search_tsv) IS DISTINCT FROM (n.agent_id, n.search_tsv)
            UNION ALL
            SELECT ROW(n.agent_id::text, n.search_tsv, 1)::jarvis_term_change
            FROM removed_rows o JOIN added_rows n USING (id)
            WHERE (o.agent_id, o.search_tsv) IS DISTINCT FROM (n.agent_id, n.search_tsv)));
    ELSE
        PERFORM jarvis_count_search_terms(TG_TABLE_NAME, ARRAY(
            SELECT ROW('', o.search_tsv, -1)::jarvis_term_change
            FROM removed_rows o JOIN added_rows n USING (id) WHERE o.search_tsv IS DISTINCT FROM n.search_tsv
            UNION ALL
            SELECT ROW('', n.search_tsv, 1)::jarvis_term_change
            FROM removed_rows o JOIN added_rows n USING (id) WHERE o.search_tsv IS DISTINCT FROM n.search_tsv));
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION jarvis_search_terms_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    DELETE FROM search_term_stats WHERE scope_table = TG_TABLE_NAME;
    RETURN NULL;
END;
$$;

-- Retention drops whole months of conversations (a partition, not a statement on the parent,
-- so no trigger sees it): it uncounts the partition's rows first with this. Like the functions
-- above it runs as its owner, with pg_catalog first and pg_temp last on its search path (so no
-- caller's temporary object can stand in for a catalog or public one).
CREATE FUNCTION jarvis_uncount_conversation_partition(p_partition regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    changes jarvis_term_change[];
BEGIN
    -- It runs as the owner: only a partition of conversations, never any other table.
    IF NOT EXISTS (SELECT 1 FROM pg_inherits
                   WHERE inhrelid = p_partition AND inhparent = 'public.conversations'::regclass) THEN
        RAISE EXCEPTION 'not a partition of conversations: %', p_partition USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('SELECT ARRAY(SELECT ROW(coalesce(user_id, ''''), search_tsv, -1)::jarvis_term_change FROM %s)',
                   p_partition) INTO changes;
    PERFORM jarvis_count_search_terms('conversations', changes);
END;
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['knowledge', 'code_snippets', 'agent_memory', 'conversations'] LOOP
        EXECUTE format('CREATE TRIGGER search_terms_inserted AFTER INSERT ON %I REFERENCING NEW TABLE AS added_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION jarvis_search_terms_changed()', t);
        EXECUTE format('CREATE TRIGGER search_terms_updated AFTER UPDATE ON %I '
                       'REFERENCING OLD TABLE AS removed_rows NEW TABLE AS added_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION jarvis_search_terms_changed()', t);
        EXECUTE format('CREATE TRIGGER search_terms_deleted AFTER DELETE ON %I REFERENCING OLD TABLE AS removed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION jarvis_search_terms_changed()', t);
        EXECUTE format('CREATE TRIGGER search_terms_truncated AFTER TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION jarvis_search_terms_truncated()', t);
    END LOOP;
END;
$$;

-- The rows already there (the owner role sees every row: row-level security binds it only in
-- a transaction that says it acts for every user, which a migration does).
SELECT set_config('app.all_users', 'on', true);
SELECT jarvis_count_search_terms('knowledge', ARRAY(
    SELECT ROW('', search_tsv, 1)::jarvis_term_change FROM knowledge));
SELECT jarvis_count_search_terms('code_snippets', ARRAY(
    SELECT ROW('', search_tsv, 1)::jarvis_term_change FROM code_snippets));
SELECT jarvis_count_search_terms('agent_memory', ARRAY(
    SELECT ROW(agent_id::text, search_tsv, 1)::jarvis_term_change FROM agent_memory));
SELECT jarvis_count_search_terms('conversations', ARRAY(
    SELECT ROW(coalesce(user_id, ''), search_tsv, 1)::jarvis_term_change FROM conversations));

-- Reading: shared tables' counts are everyone's; a user-bound role (jarvis_api) sees the
-- counts of its own user's conversations and of its own agents' memory; the service role
-- sees every owner's counts in a transaction acting for every user. Only the triggers write.
ALTER TABLE search_term_stats ENABLE ROW LEVEL SECURITY;
CREATE POLICY shared_or_own_counts ON search_term_stats FOR SELECT TO jarvis_api
    USING (scope_table IN ('knowledge', 'code_snippets')
           OR (scope_table = 'conversations' AND owner = jarvis_principal())
           OR (scope_table = 'agent_memory' AND EXISTS (
               SELECT 1 FROM agents a WHERE a.id::text = owner AND a.owner_user_id = jarvis_principal())));
CREATE POLICY shared_or_every_user ON search_term_stats FOR SELECT TO jarvis_service
    USING (scope_table IN ('knowledge', 'code_snippets') OR jarvis_every_user());
REVOKE INSERT, UPDATE, DELETE ON search_term_stats FROM jarvis_service;
-- The counting functions run as the owner (the writers' roles may not write the counts):
-- nobody calls them but the triggers and retention.
REVOKE EXECUTE ON FUNCTION jarvis_count_search_terms(text, jarvis_term_change[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION jarvis_uncount_conversation_partition(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jarvis_uncount_conversation_partition(regclass) TO jarvis_service;
GRANT SELECT ON search_term_stats TO jarvis_api, jarvis_service;
