-- 002_partitioning.sql — conversations, system_events and performance_metrics become
-- partitioned by month on created_at (their primary keys already include it).
--
-- The conversion reads each table's own index and foreign-key definitions from the catalog,
-- so 001 stays the one place that defines them. Rows already present are kept. A DEFAULT
-- partition takes any row whose month has no partition yet, so no insert is ever rejected;
-- jarvis_create_monthly_partitions() creates the months ahead and moves matching rows out
-- of the default partition (`jarvis partitions` and this migration call it).

CREATE FUNCTION pg_temp.partition_by_month(p_table text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    old_name text := p_table || '_unpartitioned';
    index_defs text[];
    fk_defs text[];
    def text;
BEGIN
    SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid)), '{}')
      INTO index_defs
      FROM pg_index i
     WHERE i.indrelid = p_table::regclass AND NOT i.indisprimary;
    SELECT coalesce(array_agg(format('ALTER TABLE %I ADD CONSTRAINT %I %s',
                                     p_table, c.conname, pg_get_constraintdef(c.oid))), '{}')
      INTO fk_defs
      FROM pg_constraint c
     WHERE c.conrelid = p_table::regclass AND c.contype = 'f';

    EXECUTE format('ALTER TABLE %I RENAME TO %I', p_table, old_name);
    EXECUTE format('ALTER INDEX %I RENAME TO %I', p_table || '_pkey', old_name || '_pkey');
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                   'INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE (created_at)',
                   p_table, old_name);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id, created_at)', p_table);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', p_table || '_default', p_table);
    EXECUTE format('INSERT INTO %I SELECT * FROM %I', p_table, old_name);
    EXECUTE format('DROP TABLE %I', old_name);
    FOREACH def IN ARRAY fk_defs LOOP
        EXECUTE def;
    END LOOP;
    FOREACH def IN ARRAY index_defs LOOP
        EXECUTE def;
    END LOOP;
END;
$$;

SELECT pg_temp.partition_by_month('conversations');
SELECT pg_temp.partition_by_month('system_events');
SELECT pg_temp.partition_by_month('performance_metrics');

-- Creates <table>_YYYY_MM for the month of p_from and p_months_ahead months after it,
-- for each partitioned table; months are UTC. Returns the partitions it created.
CREATE FUNCTION jarvis_create_monthly_partitions(
    p_months_ahead integer DEFAULT 3,
    p_from timestamptz DEFAULT CURRENT_TIMESTAMP
) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    parent text;
    part text;
    month_start timestamp;
    lo timestamptz;
    hi timestamptz;
BEGIN
    IF p_months_ahead < 0 OR p_months_ahead > 120 THEN
        RAISE EXCEPTION 'p_months_ahead must be between 0 and 120, got %', p_months_ahead;
    END IF;
    FOREACH parent IN ARRAY ARRAY['conversations', 'system_events', 'performance_metrics'] LOOP
        FOR i IN 0..p_months_ahead LOOP
            month_start := date_trunc('month', p_from AT TIME ZONE 'UTC') + make_interval(months => i);
            lo := month_start AT TIME ZONE 'UTC';
            hi := (month_start + interval '1 month') AT TIME ZONE 'UTC';
            part := format('%s_%s', parent, to_char(month_start, 'YYYY_MM'));
            CONTINUE WHEN to_regclass(part) IS NOT NULL;
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
            -- Rows of that month that went to the default partition move to their own.
            EXECUTE format('WITH moved AS (DELETE FROM %I WHERE created_at >= $1 AND created_at < $2 RETURNING *) '
                           'INSERT INTO %I SELECT * FROM moved', parent || '_default', part)
                USING lo, hi;
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           parent, part, lo, hi);
            RETURN NEXT part;
        END LOOP;
    END LOOP;
END;
$$;

SELECT jarvis_create_monthly_partitions(3);
