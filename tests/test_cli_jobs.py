"""`jarvis sync`, `verify`, `rebuild` and `requeue` as an operator runs them."""

from __future__ import annotations

import json

from jarvis.stores import redis_keys as keys


def test_verify_is_clean_and_says_so(jarvis, jarvis_cli) -> None:
    jarvis.sync()
    result = jarvis_cli("verify", "--store", "neo4j", "--store", "chroma")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clean" in result.stdout


def test_verify_reports_an_extra_id_and_exits_non_zero(jarvis, jarvis_cli, name) -> None:
    graph = jarvis.stores.get("neo4j")
    graph.upsert_nodes("Agent", [{"key": f"{name}-ghost", "props": {"name": "ghost"}}])
    try:
        result = jarvis_cli("verify", "--store", "neo4j", "--json")
        assert result.returncode == 1
        report = json.loads(result.stdout)
        assert {"store": "neo4j", "what": "Agent nodes", "missing": [], "extra": [f"{name}-ghost"]} in report
    finally:
        graph.delete_nodes("Agent", [f"{name}-ghost"])


def test_qdrant_edge_held_by_another_process_is_refused_clearly(jarvis, jarvis_cli) -> None:
    jarvis.stores.get("qdrant")  # this test process holds the shards
    result = jarvis_cli("verify", "--store", "qdrant")
    assert result.returncode == 1
    assert "open in another process" in result.stderr and "Traceback" not in result.stderr


def test_rebuild_and_sync_from_the_command_line(jarvis, jarvis_cli, name) -> None:
    jarvis.add_knowledge(topic=f"{name}-cli", content="Operators rebuild projections from the command line.")
    rebuilt = jarvis_cli("rebuild", "--store", "chroma")
    assert rebuilt.returncode == 0 and "chroma rebuilt from postgres" in rebuilt.stdout
    synced = jarvis_cli("sync")
    assert synced.returncode == 0 and "0 still pending" in synced.stdout


def test_requeue_restores_queues_after_redis_loses_them(jarvis, jarvis_cli, name) -> None:
    task = jarvis.create_task(name=f"{name}-requeue", type="chat", priority=8)
    jarvis.stores.redis.conn.delete(*keys.QUEUES)
    result = jarvis_cli("requeue")
    assert result.returncode == 0 and result.stdout.startswith("requeued ")
    assert task["id"] in jarvis.stores.redis.conn.lrange(keys.QUEUE_HIGH, 0, -1)
    jarvis.cancel_task(task["id"])
