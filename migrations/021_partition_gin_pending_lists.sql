-- 021_partition_gin_pending_lists.sql — conversations partitions created later keep a short
-- GIN pending list too.
--
-- 020 gave the GIN indexes of the conversations partitions that existed then
-- gin_pending_list_limit = 64 (kB) and left the months created afterwards at the 4 MB default,
-- reasoning that one user's conversation is small. That reasoning was wrong: the pending list
-- belongs to the partition's index, not to a user, so it holds the pending entries of every
-- user's messages of that month, and a keyword search by any one user reads all of them first
-- (jarvis/domain/keyword.py ranks a user's messages through that index). A month's partition
-- fills with everyone's messages, which is exactly the bulk-insert case 020 measured
-- (11-12 ms against 3.2 ms per keyword ranking).
--
-- A partitioned index takes no storage parameter, so nothing on the parent carries the setting
-- to a new partition: the function that creates the months (002, redefined by 012) now sets it
-- on every GIN index of each partition it creates, right after ATTACH built them. Otherwise
-- the function is 012's, unchanged: same signature, SECURITY INVOKER, no search_path of its own
-- (CREATE OR REPLACE keeps its owner and its grants to jarvis_api and jarvis_service).
-- Partitions created between 020 and this migration (`jarvis partitions` runs monthly), and
-- any other conversations partition (the default included) without the setting, get it here.
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
    gin_index regclass;
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
            -- ATTACH created the partition's indexes from the parent's, with default storage
            -- parameters: every GIN scan would read a pending list of up to 4 MB (020, 021).
            FOR gin_index IN
                SELECT i.indexrelid::regclass
                FROM pg_index i
                JOIN pg_class c ON c.oid = i.indexrelid
                JOIN pg_am a ON a.oid = c.relam
                WHERE i.indrelid = quote_ident(part)::regclass AND a.amname = 'gin'
            LOOP
                EXECUTE format('ALTER INDEX %s SET (gin_pending_list_limit = 64)', gin_index);
            END LOOP;
            RETURN NEXT part;
        END LOOP;
    END LOOP;
END;
$$;

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
          AND NOT coalesce(c.reloptions, '{}') @> ARRAY['gin_pending_list_limit=64']
    LOOP
        EXECUTE format('ALTER INDEX %s SET (gin_pending_list_limit = 64)', partition_index);
    END LOOP;
END;
$$;
