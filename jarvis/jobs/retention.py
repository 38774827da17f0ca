"""The seed's retention policy, applied across every store through the outbox.

Each rule is one statement with an explicit clock (``now``), so a test can inject time and a
second run finds nothing. Deleting a conversation also removes it from Chroma, deleting a
memory also removes its cached copy in Redis: the rows' outbox events do that. Monthly
partitions wholly older than a table's longest retention are dropped, not emptied row by row.
Metrics are rolled up (raw -> hour -> day) in the transaction that deletes what they summarise.
``dry_run`` does all of it inside the transaction and rolls it back.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from jarvis.audio_files import inside
from jarvis.connections import Stores
from jarvis.outbox import EVERY_USER, Event, Projector, record
from jarvis.principal import scope_transaction

logger = logging.getLogger("jarvis.retention")

DAY = timedelta(days=1)
_MEMORY_KEY = "agent_id::text || '|' || memory_type || '|' || key"

#: (policy, statement returning (entity or NULL, key or NULL) per deleted row, retention window)
ROW_RULES: tuple[tuple[str, str, timedelta], ...] = (
    ("conversations (90 days)",
     "DELETE FROM conversations WHERE created_at < %(cutoff)s RETURNING 'conversation', id::text", 90 * DAY),
    ("system_events debug (7 days)",
     "DELETE FROM system_events WHERE severity = 'debug' AND created_at < %(cutoff)s RETURNING NULL, NULL", 7 * DAY),
    ("system_events info (30 days)",
     "DELETE FROM system_events WHERE severity = 'info' AND created_at < %(cutoff)s RETURNING NULL, NULL", 30 * DAY),
    ("system_events warning (90 days)",
     "DELETE FROM system_events WHERE severity = 'warning' AND created_at < %(cutoff)s RETURNING NULL, NULL",
     90 * DAY),
    ("system_events error (180 days)",
     "DELETE FROM system_events WHERE severity = 'error' AND created_at < %(cutoff)s RETURNING NULL, NULL", 180 * DAY),
    ("system_events critical (365 days)",
     "DELETE FROM system_events WHERE severity = 'critical' AND created_at < %(cutoff)s RETURNING NULL, NULL",
     365 * DAY),
    ("agent_memory working (1 hour)",
     f"DELETE FROM agent_memory WHERE memory_type = 'working' AND updated_at < %(cutoff)s "
     f"RETURNING 'memory', {_MEMORY_KEY}", timedelta(hours=1)),
    ("agent_memory recall (7 days)",
     f"DELETE FROM agent_memory WHERE memory_type = 'recall' AND updated_at < %(cutoff)s "
     f"RETURNING 'memory', {_MEMORY_KEY}", 7 * DAY),
    ("agent_memory expires_at",
     f"DELETE FROM agent_memory WHERE expires_at <= %(cutoff)s RETURNING 'memory', {_MEMORY_KEY}", timedelta(0)),
    ("improvement_logs unapplied (30 days)",
     "DELETE FROM improvement_logs WHERE NOT applied AND created_at < %(cutoff)s RETURNING NULL, NULL", 30 * DAY),
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

#: The longest any row of each partitioned table is kept: older whole months are dropped.
PARTITION_HORIZON = {"conversations": 90 * DAY, "system_events": 365 * DAY, "performance_metrics": DAY}
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


def apply_retention(stores: Stores, *, now: datetime, dry_run: bool = False) -> RetentionReport:
    """Apply every rule as of *now*; return per-policy counts (what would go, with *dry_run*)."""
    report = RetentionReport(now=now, dry_run=dry_run)
    with stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)
        with conn.transaction():
            _roll_up_metrics(conn, now, report)
            events = _drop_expired_partitions(conn, now, report)
            audio = [row[0] for row in conn.execute(CLEAR_VOICE, {"cutoff": now - VOICE_WINDOW})]
            report.counts[VOICE_POLICY] = len(audio)
            for name, statement, window in ROW_RULES:
                rows = conn.execute(statement, {"cutoff": now - window}).fetchall()
                report.counts[name] = len(rows)
                events += [Event(entity, key, "delete") for entity, key in rows if entity]
            event_ids = record(conn, events)
            if dry_run:
                raise psycopg.Rollback()
    if dry_run:
        return report
    projector = Projector(stores)
    try:
        report.lagging = sorted(projector.apply(event_ids).lagging)
    finally:
        projector.close()
    audio_dir = stores.settings.audio_dir or stores.settings.data_dir / "audio"
    for name in audio:
        if not _remove_audio(audio_dir, name):
            report.refused_audio.append(name)
    return report


def _roll_up_metrics(conn: psycopg.Connection, now: datetime, report: RetentionReport) -> None:
    raw_cutoff, hour_cutoff, day_cutoff = (now - METRIC_WINDOWS[p] for p in ("raw", "hour", "day"))
    conn.execute(ROLL_RAW_INTO_HOURS, {"cutoff": raw_cutoff})
    report.counts["performance_metrics raw -> hourly (24 hours)"] = conn.execute(
        DELETE_RAW, {"cutoff": raw_cutoff}).rowcount
    conn.execute(ROLL_HOURS_INTO_DAYS, {"cutoff": hour_cutoff})
    report.counts["performance_metrics hourly -> daily (7 days)"] = conn.execute(
        DELETE_HOURS, {"cutoff": hour_cutoff}).rowcount
    report.counts["performance_metrics daily (90 days)"] = conn.execute(DELETE_DAYS, {"cutoff": day_cutoff}).rowcount


def _drop_expired_partitions(conn: psycopg.Connection, now: datetime, report: RetentionReport) -> list[Event]:
    events: list[Event] = []
    for table, horizon in PARTITION_HORIZON.items():
        for partition, bound in conn.execute(PARTITIONS_OF, (table,)).fetchall():
            match = _UPPER_BOUND.search(bound or "")
            if not match or datetime.fromisoformat(match.group(1)) > now - horizon:
                continue  # the DEFAULT partition, or a month with rows still in retention
            if table == "conversations":
                ids = conn.execute(sql.SQL("SELECT id::text FROM {}").format(sql.Identifier(partition))).fetchall()
                events += [Event("conversation", row[0], "delete") for row in ids]
                # the keyword statistics (migration 017) forget its rows: DROP fires no trigger
                conn.execute(UNCOUNT_PARTITION, (partition,))
            rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(partition))).fetchone()[0]
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(partition)))
            report.dropped_partitions.append(partition)
            key = f"{table} (whole expired months)"
            report.counts[key] = report.counts.get(key, 0) + rows
    return events


def _remove_audio(audio_dir: Path, name: str) -> bool:
    """Unlink the recording *name* inside *audio_dir*; False (and nothing touched) for a name that
    points anywhere else: a row from before names were checked, or written straight into SQL."""
    path = inside(audio_dir, name)
    if path is None:
        logger.warning("not deleting the expired recording %r: it is not a name inside %s", name, audio_dir)
        return False
    try:
        path.unlink()  # a directory raises (and is logged); a symbolic link goes, never its target
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not delete the expired recording %s: %s", path, exc)
    return True
