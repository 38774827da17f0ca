"""The seed's retention policy, applied across every store through the erasure path.

Each rule is one statement with an explicit clock (``now``), so a test can inject time and a
second run finds nothing. What a rule deletes goes through the same steps as an erasure
(:mod:`jarvis.domain.erasure_steps`): an expired conversation leaves Chroma and its recording
is unlinked unless a row left (of any user) still names it, an expired memory leaves Redis'
cache — by the same outbox events and the same after-commit work as ``forget_user`` — and the
report ends with the same final check, each store asked directly for what remains. Monthly
partitions wholly older than a table's longest retention are dropped, not emptied row by row
(their conversations take the same path). Metrics are rolled up (raw -> hour -> day) in the
transaction that deletes what they summarise.
``dry_run`` does all of it inside the transaction and rolls it back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from jarvis.audio_files import remove_recordings, still_named
from jarvis.connections import Stores
from jarvis.domain import erasure_steps as steps
from jarvis.domain.erasure_steps import Erasure
from jarvis.outbox import EVERY_USER, record
from jarvis.projection.projector import Projector
from jarvis.principal import scope_transaction

DAY = timedelta(days=1)
_MESSAGE = "RETURNING id::text, session_id, audio_file_path"
_MEMORY = "RETURNING agent_id::text, memory_type, key"

#: (policy, statement, retention window, the erasure step the deleted rows (as the statement
#: returns them) go through — None for rows that live in PostgreSQL only).
ROW_RULES: tuple[tuple[str, str, timedelta, Callable[[list], Erasure] | None], ...] = (
    (
        "conversations (90 days)",
        f"DELETE FROM conversations WHERE created_at < %(cutoff)s {_MESSAGE}",
        90 * DAY,
        steps.messages,
    ),
    (
        "system_events debug (7 days)",
        "DELETE FROM system_events WHERE severity = 'debug' AND created_at < %(cutoff)s",
        7 * DAY,
        None,
    ),
    (
        "system_events info (30 days)",
        "DELETE FROM system_events WHERE severity = 'info' AND created_at < %(cutoff)s",
        30 * DAY,
        None,
    ),
    (
        "system_events warning (90 days)",
        "DELETE FROM system_events WHERE severity = 'warning' AND created_at < %(cutoff)s",
        90 * DAY,
        None,
    ),
    (
        "system_events error (180 days)",
        "DELETE FROM system_events WHERE severity = 'error' AND created_at < %(cutoff)s",
        180 * DAY,
        None,
    ),
    (
        "system_events critical (365 days)",
        "DELETE FROM system_events WHERE severity = 'critical' AND created_at < %(cutoff)s",
        365 * DAY,
        None,
    ),
    (
        "agent_memory working (1 hour)",
        f"DELETE FROM agent_memory WHERE memory_type = 'working' AND updated_at < %(cutoff)s {_MEMORY}",
        timedelta(hours=1),
        steps.memories,
    ),
    (
        "agent_memory recall (7 days)",
        f"DELETE FROM agent_memory WHERE memory_type = 'recall' AND updated_at < %(cutoff)s {_MEMORY}",
        7 * DAY,
        steps.memories,
    ),
    (
        "agent_memory expires_at",
        f"DELETE FROM agent_memory WHERE expires_at <= %(cutoff)s {_MEMORY}",
        timedelta(0),
        steps.memories,
    ),
    (
        "improvement_logs unapplied (30 days)",
        "DELETE FROM improvement_logs WHERE NOT applied AND created_at < %(cutoff)s",
        30 * DAY,
        None,
    ),
)
VOICE_POLICY, VOICE_WINDOW = "voice recordings (30 days)", 30 * DAY
# PostgreSQL 18's RETURNING old.* gives the path being cleared, so the file can go too.
CLEAR_VOICE = """
UPDATE conversations SET audio_file_path = NULL
WHERE message_type = 'voice' AND audio_file_path IS NOT NULL AND created_at < %(cutoff)s
RETURNING old.audio_file_path
"""

# Metrics keep raw values 24 hours, hourly aggregates 7 days, daily aggregates 90 days.
METRIC_WINDOWS = {"raw": DAY, "hour": 7 * DAY, "day": 90 * DAY}
_MERGE = """ON CONFLICT ON CONSTRAINT rollups_bucket_key DO UPDATE SET
    count = r.count + EXCLUDED.count, sum = r.sum + EXCLUDED.sum,
    min = least(r.min, EXCLUDED.min), max = greatest(r.max, EXCLUDED.max)"""
ROLL_RAW_INTO_HOURS = f"""
INSERT INTO performance_metric_rollups AS r (period, bucket_start, metric_type, source, agent_id, count, sum, min, max)
SELECT 'hour', date_trunc('hour', created_at, 'UTC'), metric_type, source, agent_id,
       count(*), sum(value), min(value), max(value)
FROM performance_metrics WHERE created_at < %(cutoff)s
GROUP BY 2, 3, 4, 5
{_MERGE}
"""
DELETE_RAW = "DELETE FROM performance_metrics WHERE created_at < %(cutoff)s"
ROLL_HOURS_INTO_DAYS = f"""
INSERT INTO performance_metric_rollups AS r (period, bucket_start, metric_type, source, agent_id, count, sum, min, max)
SELECT 'day', date_trunc('day', bucket_start, 'UTC'), metric_type, source, agent_id,
       sum(count), sum(sum), min(min), max(max)
FROM performance_metric_rollups WHERE period = 'hour' AND bucket_start < %(cutoff)s
GROUP BY 2, 3, 4, 5
{_MERGE}
"""
DELETE_HOURS = "DELETE FROM performance_metric_rollups WHERE period = 'hour' AND bucket_start < %(cutoff)s"
DELETE_DAYS = "DELETE FROM performance_metric_rollups WHERE period = 'day' AND bucket_start < %(cutoff)s"
UNCOUNT_PARTITION = "SELECT jarvis_uncount_conversation_partition(%s::regclass)"
#: The counts of words no row holds any more (migration 022), pruned in slices of PRUNE_SLICE.
PRUNE_UNUSED_TERMS = "SELECT jarvis_prune_unused_search_terms(%s)"
COUNT_UNUSED_TERMS = "SELECT count(*) FROM search_term_stats WHERE docs <= 0 AND lexeme <> ''"
PRUNE_SLICE = 5000
TERMS_POLICY = "search term counts at 0"

#: The longest any row of each partitioned table is kept: older whole months are dropped.
PARTITION_HORIZON = {"conversations": 90 * DAY, "system_events": 365 * DAY, "performance_metrics": DAY}
#: The conversations of a partition about to be dropped, as :func:`steps.messages` takes them.
PARTITION_MESSAGES = "SELECT id::text, session_id, audio_file_path FROM {}"
PARTITIONS_OF = """
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = %s ORDER BY c.relname
"""
_UPPER_BOUND = re.compile(r"TO \('([^']+)'\)")


@dataclass
class RetentionReport:
    now: datetime
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    dropped_partitions: list[str] = field(default_factory=list)
    lagging: list[str] = field(default_factory=list)
    #: Expired recordings whose path named no file inside the audio directory: left alone.
    refused_audio: list[str] = field(default_factory=list)
    #: The erasure's final check: per store, how many of the expired items are still there
    #: (None: the store is down; the outbox completes it when it returns).
    remaining: dict[str, int | None] = field(default_factory=dict)


def apply_retention(stores: Stores, *, now: datetime, dry_run: bool = False) -> RetentionReport:
    """Apply every rule as of *now*; return per-policy counts (what would go, with *dry_run*)."""
    report = RetentionReport(now=now, dry_run=dry_run)
    with stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)
        with conn.transaction():
            _roll_up_metrics(conn, now, report)
            erasure = _drop_expired_partitions(conn, now, report)
            audio = [row[0] for row in conn.execute(CLEAR_VOICE, {"cutoff": now - VOICE_WINDOW})]
            report.counts[VOICE_POLICY] = len(audio)
            with conn.cursor(row_factory=dict_row) as cursor:
                for name, statement, window, step in ROW_RULES:
                    cursor.execute(statement, {"cutoff": now - window})
                    if step is None:
                        report.counts[name] = cursor.rowcount
                        continue
                    rows = cursor.fetchall()
                    report.counts[name] = len(rows)
                    erasure += step(rows)
            event_ids = record(conn, erasure.events)
            if dry_run:
                report.counts[TERMS_POLICY] = conn.execute(COUNT_UNUSED_TERMS).fetchone()[0]
                raise psycopg.Rollback()
    if dry_run:
        return report
    report.counts[TERMS_POLICY] = _prune_unused_terms(stores)
    projector = Projector(stores)
    try:
        lagging = set(projector.apply(event_ids).lagging)
    finally:
        projector.close()
    report.refused_audio = remove_recordings(
        stores.settings.audio_dir or stores.settings.data_dir / "audio",
        [*audio, *erasure.recordings],
        lambda names: still_named(stores.postgres.transaction, names),  # a row left (of anyone) keeps its file
    )
    report.remaining = steps.left_in(stores, erasure.erased)
    report.lagging = sorted(lagging | {store for store, left in report.remaining.items() if left != 0})
    return report


def _prune_unused_terms(stores: Stores) -> int:
    """Remove the keyword statistics of words no row holds any more (after the rules above have
    deleted theirs), a slice per transaction so no lock is held long; return how many went."""
    pruned = 0
    while True:
        with stores.postgres.pool.connection() as conn:
            scope_transaction(conn, EVERY_USER)
            with conn.transaction():
                slice_ = int(conn.execute(PRUNE_UNUSED_TERMS, (PRUNE_SLICE,)).fetchone()[0])
        pruned += slice_
        if slice_ < PRUNE_SLICE:
            return pruned


def _roll_up_metrics(conn: psycopg.Connection, now: datetime, report: RetentionReport) -> None:
    raw_cutoff, hour_cutoff, day_cutoff = (now - METRIC_WINDOWS[p] for p in ("raw", "hour", "day"))
    conn.execute(ROLL_RAW_INTO_HOURS, {"cutoff": raw_cutoff})
    report.counts["performance_metrics raw -> hourly (24 hours)"] = conn.execute(
        DELETE_RAW, {"cutoff": raw_cutoff}
    ).rowcount
    conn.execute(ROLL_HOURS_INTO_DAYS, {"cutoff": hour_cutoff})
    report.counts["performance_metrics hourly -> daily (7 days)"] = conn.execute(
        DELETE_HOURS, {"cutoff": hour_cutoff}
    ).rowcount
    report.counts["performance_metrics daily (90 days)"] = conn.execute(DELETE_DAYS, {"cutoff": day_cutoff}).rowcount


def _drop_expired_partitions(conn: psycopg.Connection, now: datetime, report: RetentionReport) -> Erasure:
    erasure = Erasure()
    for table, horizon in PARTITION_HORIZON.items():
        for partition, bound in conn.execute(PARTITIONS_OF, (table,)).fetchall():
            match = _UPPER_BOUND.search(bound or "")
            if not match or datetime.fromisoformat(match.group(1)) > now - horizon:
                continue  # the DEFAULT partition, or a month with rows still in retention
            if table == "conversations":
                with conn.cursor(row_factory=dict_row) as cursor:
                    erasure += steps.messages(
                        cursor.execute(sql.SQL(PARTITION_MESSAGES).format(sql.Identifier(partition))).fetchall()
                    )
                # the keyword statistics (migration 017) forget its rows: DROP fires no trigger
                conn.execute(UNCOUNT_PARTITION, (partition,))
            rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(partition))).fetchone()[0]
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(partition)))
            report.dropped_partitions.append(partition)
            key = f"{table} (whole expired months)"
            report.counts[key] = report.counts.get(key, 0) + rows
    return erasure
