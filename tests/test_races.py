"""Race drills, repeated: the stores agree however writers, deleters and drainers interleave.

Each drill runs ITERATIONS rounds and is bounded in time; the figures are in the README's
closing note.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from jarvis.errors import InvalidInput
from jarvis.projection.orphans import orphan_edges
from jarvis.projection.maintenance import verify
from jarvis.outbox import Event, record
from jarvis.paths import PROJECT_ROOT

ITERATIONS = 200
BOUND_SECONDS = 240
STATUSES = ("active", "inactive", "error", "updating")


@pytest.fixture
def synced(jarvis):
    jarvis.sync()
    yield jarvis
    jarvis.sync()


#: Which of some knowledge ids are still rows.
STILL_THERE = "SELECT id::text FROM knowledge WHERE id = ANY(%s::uuid[])"


@pytest.fixture
def facts(jarvis):
    """The knowledge ids a test adds; those still there are deleted afterwards (the keyword
    ranking's statistics count every row another test leaves)."""
    ids: list[str] = []
    yield ids
    with jarvis.stores.postgres.pool.connection() as conn:
        left = [row[0] for row in conn.execute(STILL_THERE, (ids,))]
    for item in left:
        jarvis.delete_knowledge(item)


def neo4j_value(jarvis, query: str, **params):
    return jarvis.stores.get("neo4j").driver.execute_query(query, **params).records


def test_relate_racing_delete_leaves_no_orphan_edge_and_no_ghost_node(synced, facts, name) -> None:
    jarvis = synced
    items = [
        {"topic": f"{name}-{i}", "content": f"Fact number {i} of the race drill {name}."} for i in range(2 * ITERATIONS)
    ]
    ids = jarvis.add_knowledge_many(items)["ids"]
    facts.extend(ids)
    pairs = list(zip(ids[::2], ids[1::2]))
    started = time.monotonic()
    related = refused = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for keep, doomed in pairs:
            relate = pool.submit(jarvis.relate_knowledge, keep, doomed)
            delete = pool.submit(jarvis.delete_knowledge, doomed)
            delete.result()
            try:
                relate.result()
                related += 1
            except InvalidInput:
                refused += 1  # the delete came first: the edge is refused, naming the field
    elapsed = time.monotonic() - started
    assert related + refused == ITERATIONS and elapsed < BOUND_SECONDS
    with jarvis.stores.postgres.pool.connection() as conn:
        assert orphan_edges(conn) == []
        left = conn.execute(
            "SELECT count(*) FROM graph_edges WHERE dst_id = ANY(%s) OR src_id = ANY(%s)",
            ([d for _, d in pairs], [d for _, d in pairs]),
        ).fetchone()[0]
    assert left == 0
    jarvis.sync()
    ghosts = neo4j_value(
        jarvis, "MATCH (k:Knowledge) WHERE k.id IN $ids RETURN count(k) AS n", ids=[d for _, d in pairs]
    )
    assert ghosts[0]["n"] == 0
    kept = neo4j_value(jarvis, "MATCH (k:Knowledge) WHERE k.id IN $ids RETURN count(k) AS n", ids=[k for k, _ in pairs])
    assert kept[0]["n"] == ITERATIONS  # the survivors are all there: the check is not vacuous
    assert verify(jarvis.stores, ["neo4j"]) == []


def test_eight_writers_on_one_agent_and_one_memory_key_end_with_the_last_committed_row(synced, name) -> None:
    jarvis = synced
    agent = jarvis.register_agent(name=f"{name}-contended", type="letta")["id"]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for round_ in range(ITERATIONS):
            futures = [pool.submit(jarvis.heartbeat, agent, status=random.choice(STATUSES)) for _ in range(4)]
            futures += [pool.submit(jarvis.update_agent_configuration, agent, {f"writer{w}": round_}) for w in range(4)]
            futures += [
                pool.submit(
                    jarvis.put_memory, agent_id=agent, memory_type="core", key="contended", value=f"value {round_}.{w}"
                )
                for w in range(8)
            ]
            for future in futures:
                future.result()
            jarvis.get_memory(agent, "core", "contended")  # a reader fills the cache between rounds
    elapsed = time.monotonic() - started
    assert elapsed < BOUND_SECONDS
    with jarvis.stores.postgres.pool.connection() as conn:
        status, configuration = conn.execute(
            "SELECT status, configuration FROM agents WHERE id = %s", (agent,)
        ).fetchone()
        value = conn.execute(
            "SELECT value FROM agent_memory WHERE agent_id = %s AND key = 'contended'", (agent,)
        ).fetchone()[0]
    assert configuration == {f"writer{w}": ITERATIONS - 1 for w in range(4)}
    graph = neo4j_value(jarvis, "MATCH (a:Agent {id: $id}) RETURN a.status AS status", id=agent)
    assert graph[0]["status"] == status
    assert jarvis.get_memory(agent, "core", "contended")["value"] == value


DRAINER = """
import sys, time, pathlib
from jarvis.config import Settings
from jarvis.connections import Stores
from jarvis.projection.projector import Projector
stop = pathlib.Path(sys.argv[1])
stores = Stores(Settings.from_env())
projector = Projector(stores)
applied = 0
while True:
    done, pending = projector.drain(batch=20)
    applied += done.events
    if stop.exists() and pending == 0:
        break
    time.sleep(0.01)
projector.close()
stores.close()
print(applied)
"""


def test_two_projector_processes_draining_one_backlog_leave_the_graph_equal_to_postgres(synced, name, tmp_path) -> None:
    jarvis = synced
    agents = [jarvis.register_agent(name=f"{name}-{i}", type="crewai")["id"] for i in range(20)]
    stop = tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    drainers = [
        subprocess.Popen(
            [sys.executable, "-c", DRAINER, str(stop)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    started = time.monotonic()
    try:

        def write(writer: int) -> None:
            rng = random.Random(writer)
            for _ in range(ITERATIONS):
                agent = rng.choice(agents)
                with jarvis.stores.postgres.pool.connection() as conn:  # committed, projected by the drainers
                    conn.execute("UPDATE agents SET status = %s WHERE id = %s", (rng.choice(STATUSES), agent))
                    (event,) = record(conn, [Event("agent", agent)])
                    conn.execute("UPDATE outbox SET next_attempt_at = CURRENT_TIMESTAMP WHERE id = %s", (event,))

        writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
    finally:
        stop.touch()
        outputs = [drainer.communicate(timeout=BOUND_SECONDS) for drainer in drainers]
    assert time.monotonic() - started < BOUND_SECONDS
    assert all(drainer.returncode == 0 for drainer in drainers), outputs
    applied = [int(out.strip() or 0) for out, _ in outputs]
    assert sum(applied) == 4 * ITERATIONS and all(applied)  # each event applied once, both drainers worked
    with jarvis.stores.postgres.pool.connection() as conn:
        expected = dict(conn.execute("SELECT id::text, status FROM agents WHERE id = ANY(%s::uuid[])", (agents,)))
        assert conn.execute("SELECT count(*) FROM outbox WHERE cardinality(pending_stores) > 0").fetchone()[0] == 0
    graph = neo4j_value(jarvis, "MATCH (a:Agent) WHERE a.id IN $ids RETURN a.id AS id, a.status AS status", ids=agents)
    assert {r["id"]: r["status"] for r in graph} == expected
    assert verify(jarvis.stores, ["neo4j"]) == []


def test_a_ghost_node_is_reported_by_verify_and_removed_by_sync_reconcile(synced, jarvis_cli, name) -> None:
    jarvis = synced
    ghost = f"{name}-ghost"
    graph = jarvis.stores.get("neo4j")
    graph.driver.execute_query("MERGE (:Knowledge {id: $id})", id=ghost)  # what an older projector left behind
    assert any(ghost in d.extra for d in verify(jarvis.stores, ["neo4j"]))
    result = jarvis_cli("sync", "--reconcile", "--store", "neo4j")  # this process holds Qdrant Edge
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(ghost in d.extra for d in verify(jarvis.stores, ["neo4j"]))
