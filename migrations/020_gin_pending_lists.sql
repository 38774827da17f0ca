-- 020_gin_pending_lists.sql — the keyword ranking's GIN indexes keep a short pending list.
--
-- A GIN index with fastupdate (PostgreSQL's default) appends new rows' entries to a pending
-- list, merged into the index when the list passes gin_pending_list_limit (4 MB by default) or
-- when (auto)vacuum or analyze runs; every search through the index reads the whole list
-- first. Right after a bulk ingest that list holds thousands of rows, and the keyword ranking
-- (jarvis/domain/keyword.py: up to eight GIN scans a search) paid for it on every scan:
-- 11-12 ms p50 against 3.1-3.3 ms once the list was merged, at 40,000 knowledge items just
-- copied in; 25 ms hybrid search p50 against 11 ms vector-only in the benchmark's 100,000-item
-- run. With a 64 kB limit (the smallest) the list is merged every few dozen rows: the same
-- search took 3.2-3.4 ms right after the copy, and the copy itself took no longer
-- (2.67-2.75 s for 40,000 rows either way). docs/benchmark-notes.md, item 21.
--
-- Conversations are partitioned: a partitioned index takes no storage parameter, so each
-- existing partition's index is set here; partitions created later keep the default (one
-- user's conversation is small, and ranked exactly: few rows, few entries pending).
ALTER INDEX idx_knowledge_search_tsv SET (gin_pending_list_limit = 64);
ALTER INDEX idx_code_search_tsv SET (gin_pending_list_limit = 64);
ALTER INDEX idx_memory_search_tsv SET (gin_pending_list_limit = 64);

DO $$
DECLARE
    partition_index regclass;
BEGIN
    FOR partition_index IN
        SELECT i.indexrelid::regclass
        FROM pg_inherits p
        JOIN pg_index i ON i.indrelid = p.inhrelid
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_am a ON a.oid = c.relam
        WHERE p.inhparent = 'public.conversations'::regclass AND a.amname = 'gin'
    LOOP
        EXECUTE format('ALTER INDEX %s SET (gin_pending_list_limit = 64)', partition_index);
    END LOOP;
END;
$$;
