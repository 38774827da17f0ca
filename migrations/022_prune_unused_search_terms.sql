-- 022_prune_unused_search_terms.sql — retention removes the counts of words no row holds any more.
--
-- Migration 017 keeps a row per (table, owner, word) in search_term_stats. A word's row stays
-- when the last row holding it goes, its count at 0: every distinct token ever written (an id in
-- a topic, a number, an error code, a hash) keeps a row for good, so the table grows without end
-- (100,000 knowledge items copied in and deleted again left 100,000 rows at 0). A missing row
-- reads as 0 to the keyword ranking (jarvis/domain/keyword.py), so these rows only take room.
--
-- Only the triggers write the counts (the service role may not), so the pruning is a function run
-- as the owner, called by retention (jarvis/jobs/retention.py) in slices of p_limit rows. It
-- skips rows a writer holds (FOR UPDATE SKIP LOCKED): a transaction bringing the word back is
-- never waited for, so it never deadlocks with 017's ordered upserts; a row it had locked and
-- counted up is not at 0 any more, and one it left at 0 goes on the next run. The corpus rows
-- (lexeme '') stay.
CREATE FUNCTION jarvis_prune_unused_search_terms(p_limit integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    pruned integer;
BEGIN
    WITH unused AS (
        SELECT scope_table, owner, lexeme FROM search_term_stats
        WHERE docs <= 0 AND lexeme <> '' LIMIT greatest(p_limit, 0) FOR UPDATE SKIP LOCKED)
    DELETE FROM search_term_stats s USING unused u
    WHERE s.scope_table = u.scope_table AND s.owner = u.owner AND s.lexeme = u.lexeme;
    GET DIAGNOSTICS pruned = ROW_COUNT;
    RETURN pruned;
END;
$$;
REVOKE EXECUTE ON FUNCTION jarvis_prune_unused_search_terms(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jarvis_prune_unused_search_terms(integer) TO jarvis_service;
