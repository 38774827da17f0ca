"""A backup is only worth what its restore proves: fill, back up, wipe, restore, compare."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

from jarvis.jobs.backup import BackupError, backup, restore
from jarvis.stores.neo4j_backup import NODES, RELATIONSHIPS
from jarvis.projection.maintenance import verify
from jarvis.stores import redis_keys as keys
from jarvis.stores.chroma import COLLECTIONS as CHROMA
from jarvis.stores.qdrant import COLLECTIONS as QDRANT

TABLES = (
    "agents",
    "tasks",
    "agent_memory",
    "knowledge",
    "conversations",
    "code_snippets",
    "task_patterns",
    "user_preferences",
    "agent_capabilities",
    "graph_edges",
    "users",
    "models",
    "api_keys",
)


def _state(jarvis) -> dict:
    """Everything in every store, in comparable form."""
    stores = jarvis.stores
    state: dict = {"postgres": {}, "vectors": {}}
    with stores.postgres.pool.connection() as conn:
        conn.execute("SELECT set_config('app.all_users', 'on', true)")
        for table in TABLES:
            cols = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND table_schema = 'public' "
                    "AND column_name <> 'embedding' ORDER BY column_name",
                    (table,),
                )
            ]
            rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()  # noqa: S608 - fixed names
            state["postgres"][table] = sorted(rows, key=repr)
        for table in ("agent_memory", "knowledge"):
            state["vectors"][table] = {
                str(i): np.asarray(e.to_list()) for i, e in conn.execute(f"SELECT id, embedding FROM {table}")
            }  # noqa: S608 - fixed names
    graph = stores.get("neo4j").driver
    state["nodes"] = sorted(repr(sorted(r["props"].items())) + r["label"] for r in graph.execute_query(NODES).records)
    state["relationships"] = sorted(repr(sorted(r.data().items())) for r in graph.execute_query(RELATIONSHIPS).records)
    chroma = stores.get("chroma")
    state["chroma"] = {}
    for name in CHROMA:
        got = chroma.api.get_collection(name, embedding_function=None).get(
            include=["embeddings", "documents", "metadatas"]
        )
        state["chroma"][name] = {
            i: (np.asarray(e), d, m)
            for i, e, d, m in zip(got["ids"], got["embeddings"], got["documents"], got["metadatas"])
        }
    qdrant = stores.get("qdrant")
    state["qdrant"] = {spec.name: {i: (np.asarray(v), p) for i, v, p in qdrant.points(spec.name)} for spec in QDRANT}
    raw = stores.redis.raw
    state["redis"] = {
        key: (raw.dump(key), raw.pttl(key)) for key in raw.scan_iter() if not key.startswith(b"rate:limit:")
    }
    state["queues"] = {queue: stores.redis.conn.lrange(queue, 0, -1) for queue in keys.QUEUES}
    state["taken_at"] = time.monotonic()
    return state


def _assert_same(before: dict, after: dict) -> None:
    assert after["postgres"] == before["postgres"]
    for table, vectors in before["vectors"].items():
        assert set(after["vectors"][table]) == set(vectors)
        assert all(np.allclose(after["vectors"][table][i], v, atol=1e-6) for i, v in vectors.items())
    assert after["nodes"] == before["nodes"] and after["relationships"] == before["relationships"]
    for name, docs in before["chroma"].items():
        assert set(after["chroma"][name]) == set(docs)
        for i, (vector, document, metadata) in docs.items():
            v2, d2, m2 = after["chroma"][name][i]
            assert np.allclose(v2, vector, atol=1e-6) and d2 == document and m2 == metadata
    for name, points in before["qdrant"].items():
        assert set(after["qdrant"][name]) == set(points)
        for i, (vector, payload) in points.items():
            assert (
                np.allclose(after["qdrant"][name][i][0], vector, atol=1e-6) and after["qdrant"][name][i][1] == payload
            )
    elapsed_ms = (after["taken_at"] - before["taken_at"]) * 1000
    # Keys whose time ran out meanwhile are rightly gone; compare every other key.
    expiring = {k for k, (_, ttl) in before["redis"].items() if 0 <= ttl < elapsed_ms + 3000}
    assert set(after["redis"]) - expiring == set(before["redis"]) - expiring
    for key, (payload, ttl) in before["redis"].items():
        if key in expiring:
            continue
        payload2, ttl2 = after["redis"][key]
        assert payload2 == payload, key
        # A key's time to live keeps running from the backup: it ends when it would have.
        assert (ttl == -1 and ttl2 == -1) or abs(ttl2 - (ttl - elapsed_ms)) < 3000, key
    assert after["queues"] == before["queues"]


def _wipe(jarvis) -> None:
    stores = jarvis.stores
    with stores.postgres.pool.connection() as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    stores.redis.raw.flushdb()
    stores.get("neo4j").delete_everything()
    for name in CHROMA:
        stores.get("chroma").reset(name)
    for spec in QDRANT:
        stores.get("qdrant").reset(spec.name)


@pytest.fixture
def filled(jarvis, name):
    agent = jarvis.register_agent(
        name=f"{name}-backed",
        type="crewai",
        capabilities=[{"name": f"{name}-archiving", "description": "Keep safe copies of important records"}],
    )
    jarvis.add_knowledge(topic=f"{name}-k", content="Restores prove backups.", agent_id=agent["id"])
    jarvis.put_memory(agent_id=agent["id"], memory_type="core", key="motto", value="Test the restore, not the backup.")
    jarvis.append_message(session_id=f"{name}-s", user_id=f"{name}-u", role="user", content="Please keep this.")
    jarvis.add_code_snippet(language="python", content="print('saved')")
    jarvis.add_task_pattern(pattern_type=f"{name}-p", description="copy, verify, rotate")
    jarvis.add_user_preference(user_id=f"{name}-u", preference_type="interface", description="Quiet notifications")
    for priority in (9, 5, 2, 9):
        jarvis.create_task(name=f"{name}-t{priority}", type="chat", priority=priority)
    jarvis.heartbeat(agent["id"], status="active")
    jarvis.stores.redis.touch_session(f"{name}-s", user_id=f"{name}-u", agent_id=agent["id"])
    jarvis.sync()
    return agent


def test_restore_after_wiping_every_store_gives_back_every_record(jarvis, api_jarvis, filled, tmp_path) -> None:
    before = _state(jarvis)
    target = backup(jarvis.stores, tmp_path)
    _wipe(jarvis)
    try:
        restored = restore(jarvis.stores, target)
    finally:
        api_jarvis.stores.postgres.reset()
        api_jarvis.stores.user_postgres.reset()
    assert restored["differences"] == 0
    _assert_same(before, _state(jarvis))


def test_a_backup_with_one_byte_changed_is_refused_and_nothing_is_written(jarvis, filled, tmp_path, name) -> None:
    target = backup(jarvis.stores, tmp_path)
    victim = target / "chroma.knowledge_base.jsonl"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    marker = jarvis.add_knowledge(topic=f"{name}-after", content="Written after the backup.")
    with pytest.raises(BackupError, match="chroma.knowledge_base.jsonl"):
        restore(jarvis.stores, target)
    assert jarvis.get_agent(filled["id"])["name"].endswith("-backed")
    assert marker["id"] in jarvis.stores.get("chroma").ids("knowledge_base")


def test_a_backup_taken_during_writes_restores_consistently(jarvis, api_jarvis, tmp_path, name) -> None:
    stop = threading.Event()
    agent = jarvis.register_agent(name=f"{name}-busy", type="letta")["id"]

    def write() -> None:
        n, previous = 0, None
        while not stop.is_set():
            item = jarvis.add_knowledge(topic=f"{name}-{n}", content=f"Fact {n} {uuid.uuid4()}", agent_id=agent)
            jarvis.put_memory(agent_id=agent, memory_type="archival", key=f"m{n}", value=f"memory {n}")
            if previous:
                jarvis.relate_knowledge(item["id"], previous)
            previous, n = item["id"], n + 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        target = backup(jarvis.stores, tmp_path)
    finally:
        stop.set()
        writer.join()
    _wipe(jarvis)
    try:
        restored = restore(jarvis.stores, target)
    finally:
        api_jarvis.stores.postgres.reset()
        api_jarvis.stores.user_postgres.reset()
    assert restored["differences"] == 0 and verify(jarvis.stores) == []
    with jarvis.stores.postgres.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM agent_memory WHERE embedding IS NULL").fetchone()[0] == 0
        orphans = conn.execute(
            "SELECT count(*) FROM graph_edges e WHERE e.src_label = 'Knowledge' "
            "AND NOT EXISTS (SELECT 1 FROM knowledge k WHERE k.id::text = e.src_id) "
            "OR e.dst_label = 'Knowledge' AND NOT EXISTS (SELECT 1 FROM knowledge k WHERE k.id::text = e.dst_id)"
        ).fetchone()[0]
    assert orphans == 0
