"""Partitions ahead of time, and old backups pruned."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from jarvis.jobs.backup import PREFIX, STAMP, prune
from jarvis.jobs.partitions import ensure_partitions


def test_partitions_exist_for_the_coming_months_and_the_default_is_reported(jarvis) -> None:
    created, in_default = ensure_partitions(jarvis.stores, ahead=5)
    now = datetime.now(timezone.utc)
    with jarvis.stores.postgres.pool.connection() as conn:
        names = {r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'conversations_2%%'")}
    month = now.replace(day=1)
    for _ in range(6):
        assert f"conversations_{month:%Y_%m}" in names
        month = (month + timedelta(days=32)).replace(day=1)
    assert ensure_partitions(jarvis.stores, ahead=5)[0] == []
    assert set(in_default) == {"conversations", "system_events", "performance_metrics"}


def test_backups_older_than_keep_are_pruned_and_others_kept(tmp_path) -> None:
    now = datetime.now(timezone.utc)
    old = tmp_path / f"{PREFIX}{(now - timedelta(days=31)).strftime(STAMP)}"
    recent = tmp_path / f"{PREFIX}{(now - timedelta(days=2)).strftime(STAMP)}"
    stranger = tmp_path / "not-a-backup"
    for path in (old, recent, stranger):
        path.mkdir()
        (path / "manifest.json").write_text("{}")
    assert prune(tmp_path, keep_days=30, now=now) == [old]
    assert recent.exists() and stranger.exists() and not old.exists()
