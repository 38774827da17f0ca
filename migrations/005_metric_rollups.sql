-- 005_metric_rollups.sql — aggregates of performance metrics, so raw values can expire.
-- Retention (the seed's policy): raw ("realtime") values 24 hours, hourly aggregates 7 days,
-- daily aggregates 90 days. `jarvis retention` rolls raw rows into hours and hours into days
-- in the same transaction that deletes what they replace, so no aggregate is ever lost.

CREATE TABLE performance_metric_rollups (
    period VARCHAR(8) NOT NULL CONSTRAINT rollups_period_check CHECK (period IN ('hour', 'day')),
    bucket_start TIMESTAMPTZ NOT NULL,
    metric_type VARCHAR(100) NOT NULL,
    source VARCHAR(255) NOT NULL,
    agent_id UUID,
    count BIGINT NOT NULL CONSTRAINT rollups_count_check CHECK (count > 0),
    sum DOUBLE PRECISION NOT NULL,
    min DOUBLE PRECISION NOT NULL,
    max DOUBLE PRECISION NOT NULL,
    avg DOUBLE PRECISION GENERATED ALWAYS AS (sum / count) STORED,
    CONSTRAINT rollups_bucket_key UNIQUE NULLS NOT DISTINCT (period, bucket_start, metric_type, source, agent_id)
);
CREATE INDEX idx_rollups_bucket ON performance_metric_rollups (period, bucket_start);

GRANT SELECT ON performance_metric_rollups TO jarvis_api;
