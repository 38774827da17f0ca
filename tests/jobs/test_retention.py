"""The seed's retention policy, with an injected clock, across every store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg.sql as sql
import pytest

from jarvis import local
from jarvis.jobs.retention import apply_retention
from jarvis.stores import redis_keys as keys

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _age(jarvis, table: str, row_id: str, *, days: float = 0, hours: float = 0, column: str = "created_at") -> None:
    with jarvis.stores.postgres.pool.connection() as conn:
        conn.execute(
            sql.SQL("UPDATE {} SET {} = %s WHERE id = %s").format(sql.Identifier(table), sql.Identifier(column)),
            (NOW - timedelta(days=days, hours=hours), row_id),
        )


def _exists(jarvis, table: str, row_id: str) -> bool:
    with jarvis.stores.postgres.pool.connection() as conn:
        return (
            conn.execute(sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(sql.Identifier(table)), (row_id,)).fetchone()
            is not None
        )


@pytest.fixture
def world(jarvis, name, tmp_path):
    """Rows on both sides of every rule's edge."""
    agent = jarvis.register_agent(name=f"{name}-keeper", type="letta")["id"]
    w = {"agent": agent}

    def message(age_days: float, **extra) -> str:
        row = jarvis.append_message(
            session_id=f"{name}-s", user_id=f"{name}-u", role="user", content=f"said {age_days} days ago", **extra
        )
        _age(jarvis, "conversations", row["id"], days=age_days)
        return row["id"]

    w["conv_old"], w["conv_young"] = message(91), message(89)
    audio = jarvis.settings.audio_dir / name / "voice.wav"  # recordings are names inside JARVIS_AUDIO_DIR
    audio.parent.mkdir(parents=True, exist_ok=True)
    audio.write_bytes(b"RIFF")
    w["audio"] = audio
    w["voice_old"] = message(31, message_type="voice", audio_file_path=f"{name}/voice.wav")
    for severity, limit in (("debug", 7), ("info", 30), ("warning", 90), ("error", 180), ("critical", 365)):
        for side, age in (("old", limit + 1), ("young", limit - 1)):
            row = jarvis.log_event(event_type="test", source=name, message=f"{severity} {side}", severity=severity)
            _age(jarvis, "system_events", row["id"], days=age)
            w[f"event_{severity}_{side}"] = row["id"]

    def memory(memory_type: str, key: str, *, days: float = 0, hours: float = 0, expires_at=None) -> str:
        row = jarvis.put_memory(
            agent_id=agent, memory_type=memory_type, key=key, value=f"{memory_type} {key}", expires_at=expires_at
        )
        _age(jarvis, "agent_memory", row["id"], days=days, hours=hours, column="updated_at")
        return row["id"]

    w["working_old"], w["working_young"] = memory("working", "old", hours=2), memory("working", "young", hours=0.5)
    w["recall_old"], w["recall_young"] = memory("recall", "old", days=8), memory("recall", "young", days=6)
    w["core_ancient"] = memory("core", "ancient", days=1000)
    w["archival_ancient"] = memory("archival", "ancient", days=1000)
    w["expired"] = memory("core", "expired", expires_at=NOW - timedelta(minutes=1))
    jarvis.get_memory(agent, "working", "old")  # now cached in Redis
    for side, age, applied in (("old", 31, False), ("young", 29, False), ("applied", 400, True)):
        row = jarvis.log_improvement(improvement_type="optimization", target=f"{name}-{side}")
        if applied:
            jarvis.approve_improvement(row["id"])
            jarvis.apply_improvement(row["id"])
        _age(jarvis, "improvement_logs", row["id"], days=age)
        w[f"improvement_{side}"] = row["id"]
    return w


def test_each_rule_deletes_exactly_what_it_should_in_every_store_and_a_second_run_nothing(jarvis, world) -> None:
    w = world
    dry = apply_retention(jarvis.stores, now=NOW, dry_run=True)
    assert dry.counts["conversations (90 days)"] >= 1 and _exists(jarvis, "conversations", w["conv_old"])

    report = apply_retention(jarvis.stores, now=NOW)
    assert report.lagging == [] and report.remaining and set(report.remaining.values()) == {0}, report
    gone = [
        "conv_old",
        *(f"event_{s}_old" for s in ("debug", "info", "warning", "error", "critical")),
        "improvement_old",
    ]
    kept = [
        "conv_young",
        "voice_old",
        *(f"event_{s}_young" for s in ("debug", "info", "warning", "error", "critical")),
        "improvement_young",
        "improvement_applied",
    ]
    tables = {"conv": "conversations", "voic": "conversations", "even": "system_events", "impr": "improvement_logs"}
    for key in gone:
        assert not _exists(jarvis, tables[key[:4]], w[key]), key
    for key in kept:
        assert _exists(jarvis, tables[key[:4]], w[key]), key
    for key in ("working_old", "recall_old", "expired"):
        assert not _exists(jarvis, "agent_memory", w[key]), key
    for key in ("working_young", "recall_young", "core_ancient", "archival_ancient"):
        assert _exists(jarvis, "agent_memory", w[key]), key

    chroma_ids = jarvis.stores.get("chroma").ids("conversations")
    assert w["conv_old"] not in chroma_ids and w["conv_young"] in chroma_ids
    assert jarvis.stores.redis.conn.get(keys.memory_cache(w["agent"], "working", "old")) is None
    with jarvis.stores.postgres.pool.connection() as conn:
        path = conn.execute("SELECT audio_file_path FROM conversations WHERE id = %s", (w["voice_old"],)).fetchone()[0]
    assert path is None and not w["audio"].exists()

    again = apply_retention(jarvis.stores, now=NOW)
    assert set(again.counts.values()) == {0} and again.dropped_partitions == []


def test_a_whole_expired_month_is_dropped_and_its_conversations_leave_chroma(jarvis, name) -> None:
    """Dropped with its partition, a conversation still takes the erasure path: out of Chroma,
    its recording unlinked, the final check clean."""
    month = NOW - timedelta(days=200)
    with jarvis.stores.postgres.pool.connection() as conn:
        conn.execute("SELECT jarvis_create_monthly_partitions(0, %s)", (month,))
    recording = jarvis.settings.audio_dir / name / "old.wav"
    recording.parent.mkdir(parents=True, exist_ok=True)
    recording.write_bytes(b"RIFF")
    row = jarvis.append_message(
        session_id=f"{name}-old",
        user_id=f"{name}-u",
        role="user",
        content="long ago",
        message_type="voice",
        audio_file_path=f"{name}/old.wav",
    )
    with jarvis.stores.postgres.pool.connection() as conn:  # as if the voice rule had not run yet
        conn.execute("UPDATE conversations SET created_at = %s WHERE id = %s", (NOW - timedelta(days=200), row["id"]))
    partition = f"conversations_{(NOW - timedelta(days=200)).strftime('%Y_%m')}"
    report = apply_retention(jarvis.stores, now=NOW)
    assert partition in report.dropped_partitions
    assert not _exists(jarvis, "conversations", row["id"])
    assert row["id"] not in jarvis.stores.get("chroma").ids("conversations")
    assert not recording.exists() and report.remaining["chroma"] == 0
    with jarvis.stores.postgres.pool.connection() as conn:  # the keyword statistics forgot the month's rows
        counted = conn.execute(
            "SELECT coalesce(sum(docs), 0) FROM search_term_stats WHERE scope_table = 'conversations' AND owner = %s",
            (f"{name}-u",),
        ).fetchone()[0]
    assert counted == 0


def test_with_chroma_down_retention_reports_it_lagging_and_the_outbox_completes_it(jarvis, settings, name) -> None:
    """The erasure path's promise, for retention too: a store that is down is listed, then caught up."""
    row = jarvis.append_message(session_id=f"{name}-s", user_id=f"{name}-u", role="user", content="expiring")
    _age(jarvis, "conversations", row["id"], days=91)
    local.down(settings, ["chroma"])
    try:
        report = apply_retention(jarvis.stores, now=NOW)
        assert "chroma" in report.lagging and report.remaining["chroma"] is None
        assert not _exists(jarvis, "conversations", row["id"])
    finally:
        local.up(settings, ["chroma"])
    jarvis.sync()
    assert row["id"] not in jarvis.stores.get("chroma").ids("conversations")


def test_rollups_keep_count_and_sum_of_the_raw_values_they_replace(jarvis, name) -> None:
    values = {2: [10.0, 20.0, 30.0], 9: [1.5, 2.5], 100: [99.0]}  # days ago -> raw values
    for days, batch in values.items():
        for value in batch:
            row = jarvis.record_metric(metric_type="latency", source=name, value=value, unit="ms")
            _age(jarvis, "performance_metrics", row["id"], days=days)
    apply_retention(jarvis.stores, now=NOW)
    with jarvis.stores.postgres.pool.connection() as conn:
        raw_left = conn.execute("SELECT count(*) FROM performance_metrics WHERE source = %s", (name,)).fetchone()[0]
        rollups = conn.execute(
            "SELECT period, sum(count), sum(sum), min(min), max(max) FROM performance_metric_rollups "
            "WHERE source = %s GROUP BY period ORDER BY period",
            (name,),
        ).fetchall()
    assert raw_left == 0
    assert rollups == [("day", 2, 4.0, 1.5, 2.5), ("hour", 3, 60.0, 10.0, 30.0)]  # the 100-day-old value expired


def _counts(jarvis, text: str) -> dict[str, int]:
    with jarvis.stores.postgres.pool.connection() as conn:
        rows = conn.execute(
            "SELECT lexeme, docs FROM search_term_stats WHERE scope_table = 'knowledge' AND owner = '' "
            "AND lexeme = ANY(tsvector_to_array(to_tsvector('english', %s)))",
            (text,),
        ).fetchall()
    return {lexeme: docs for lexeme, docs in rows}


def test_retention_prunes_the_counts_of_words_no_row_holds_any_more(jarvis, name) -> None:
    """A deleted item's one-off word (an id, a code) leaves its count at 0; retention removes
    that row and no other: the words still held keep their counts."""
    gone_word, kept_word = f"{name}zorvath", f"{name}quillen"
    gone = jarvis.add_knowledge(topic=f"{name}-gone", content=f"a note about {gone_word}")["id"]
    kept = jarvis.add_knowledge(topic=f"{name}-kept", content=f"a note about {kept_word}")["id"]
    try:
        jarvis.delete_knowledge(gone)
        assert list(_counts(jarvis, gone_word).values()) == [0]  # the row stays, at 0
        dry = apply_retention(jarvis.stores, now=NOW, dry_run=True)
        assert dry.counts["search term counts at 0"] >= 1 and list(_counts(jarvis, gone_word).values()) == [0]

        report = apply_retention(jarvis.stores, now=NOW)
        assert report.counts["search term counts at 0"] >= 1
        assert _counts(jarvis, gone_word) == {}
        assert list(_counts(jarvis, kept_word).values()) == [1]
        assert apply_retention(jarvis.stores, now=NOW).counts["search term counts at 0"] == 0
        found = jarvis.search(query=kept_word, scopes=["knowledge"], mode="keyword", limit=3)
        assert [hit["id"] for hit in found["results"]] == [kept]
    finally:
        jarvis.delete_knowledge(kept)
