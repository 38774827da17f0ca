"""The restore's graph swap works in bounded batches (:data:`SWAP_BATCH` per transaction) and
still gives exactly the staged graph; a refusal changes nothing; an interrupted swap stays
marked and the next call completes it.

A swap replaces the whole live graph, so each test rebuilds Neo4j from PostgreSQL afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from jarvis.backup_files import BackupError
from jarvis.projection.maintenance import rebuild
from jarvis.stores import neo4j_backup
from jarvis.stores.neo4j import NODE_KEYS
from jarvis.stores.neo4j_backup import (
    DELETE_LIVE_NODES,
    DELETE_LIVE_RELATIONSHIPS,
    STAGE_NODES,
    STAGED_LABEL,
    SWAP_MARKER,
    SwapInterrupted,
    drop_staged,
    swap_phase,
    swap_staged,
)

BATCH = 3
GRAPH_NODES = "MATCH (n) RETURN labels(n) AS labels, properties(n) AS props"
GRAPH_RELATIONSHIPS = (
    "MATCH (a)-[r]->(b) RETURN type(r) AS rel, properties(a) AS a, properties(b) AS b, properties(r) AS props"
)
LIVE_NODES = "UNWIND $keys AS key CREATE (:Knowledge {id: key, topic: 'live'})"
LIVE_CHAIN = (
    "UNWIND range(0, size($keys) - 2) AS i MATCH (a:Knowledge {id: $keys[i]}), (b:Knowledge {id: $keys[i + 1]}) "
    "CREATE (a)-[:LEARNED_FROM]->(b)"
)
STILL_STAGED_KNOWLEDGE = f"MATCH (n:{STAGED_LABEL} {{_label: 'Knowledge'}}) RETURN n._key AS key LIMIT 1"
COUNT_STAGED_NODES = f"MATCH (n:{STAGED_LABEL}) WHERE NOT n:{SWAP_MARKER} RETURN count(n) AS n"


def _graph(driver) -> tuple[list[str], list[str]]:
    """Every node and relationship in the graph, staged or not, in comparable form."""
    nodes = sorted(
        repr((sorted(r["labels"]), sorted(r["props"].items()))) for r in driver.execute_query(GRAPH_NODES).records
    )
    rels = sorted(
        repr((r["rel"], sorted(r["a"].items()), sorted(r["b"].items()), sorted(r["props"].items())))
        for r in driver.execute_query(GRAPH_RELATIONSHIPS).records
    )
    return nodes, rels


@pytest.fixture
def driver(jarvis) -> Iterator[Any]:
    """Neo4j's driver; afterwards nothing staged is left and the graph is PostgreSQL's again."""
    drv = jarvis.stores.get("neo4j").driver
    yield drv
    drv.execute_query(neo4j_backup.END_SWAP)
    drop_staged(drv)
    rebuild(jarvis.stores, "neo4j")


@pytest.fixture
def small_batches(monkeypatch) -> list[tuple[str, int]]:
    """Batches far smaller than the graphs below, and a record of each batch the swap ran."""
    monkeypatch.setattr(neo4j_backup, "SWAP_BATCH", BATCH)
    return []


@pytest.fixture
def staged(driver, name) -> tuple[list[str], list[str]]:
    """A live graph of our own (a chain of 8 nodes) beside a staged one of 8 nodes of three
    labels and 7 relationships; returns what the graph must be after the swap."""
    live = [f"{name}-live-{i}" for i in range(8)]
    driver.execute_query(LIVE_NODES, keys=live)
    driver.execute_query(LIVE_CHAIN, keys=live)
    nodes = [
        {"label": "Knowledge", "key": f"{name}-k{i}", "props": {"topic": f"t{i}", "row_version": i}} for i in range(5)
    ]
    nodes += [{"label": "Agent", "key": f"{name}-a{i}", "props": {"name": f"agent {i}"}} for i in range(2)]
    nodes += [{"label": "Capability", "key": f"{name}-cap", "props": {"description": "swaps"}}]
    driver.execute_query(neo4j_backup.STAGING_INDEX)
    driver.execute_query(STAGE_NODES, rows=nodes)
    edges = {
        "LEARNED_FROM": [(f"{name}-k{i}", f"{name}-k{i + 1}") for i in range(4)],
        "PRODUCES": [(f"{name}-a0", f"{name}-k0"), (f"{name}-a1", f"{name}-k4")],
        "HAS_CAPABILITY": [(f"{name}-a0", f"{name}-cap")],
    }
    label = {row["key"]: row["label"] for row in nodes}
    for rel, pairs in edges.items():
        rows = [
            {"src_label": label[s], "src": s, "dst_label": label[d], "dst": d, "props": {"weight": 1}} for s, d in pairs
        ]
        driver.execute_query(neo4j_backup._stage_edges(rel), rows=rows)
    props = {row["key"]: {**row["props"], NODE_KEYS[row["label"]]: row["key"]} for row in nodes}
    expected_nodes = sorted(repr(([row["label"]], sorted(props[row["key"]].items()))) for row in nodes)
    expected_rels = sorted(
        repr((rel, sorted(props[s].items()), sorted(props[d].items()), [("weight", 1)]))
        for rel, pairs in edges.items()
        for s, d in pairs
    )
    return expected_nodes, expected_rels


def test_a_swap_in_small_batches_gives_exactly_the_staged_graph(driver, small_batches, staged) -> None:
    swap_staged(driver, progress=lambda query, done: small_batches.append((query, done)))
    assert _graph(driver) == staged
    assert swap_phase(driver) is None
    assert max(done for _, done in small_batches) <= BATCH
    for query in (DELETE_LIVE_RELATIONSHIPS, DELETE_LIVE_NODES, neo4j_backup._unstage("Knowledge")):
        assert sum(1 for q, _ in small_batches if q == query) > 1, "every phase ran in more than one batch"


@pytest.mark.parametrize(
    "bad", [f"CREATE (:{STAGED_LABEL} {{_label: 'Admin', _key: 'x'}})", f"CREATE (:{STAGED_LABEL} {{_key: 'y'}})"]
)
def test_a_staged_node_without_a_schema_label_is_refused_and_nothing_changes(driver, staged, bad) -> None:
    driver.execute_query(bad)
    before = _graph(driver)
    with pytest.raises(BackupError, match="1 staged nodes have no label of the schema") as refused:
        swap_staged(driver)
    assert not isinstance(refused.value, SwapInterrupted)
    assert _graph(driver) == before and swap_phase(driver) is None


@pytest.mark.parametrize("phase", [neo4j_backup.DELETE_PHASE, neo4j_backup.RELABEL_PHASE])
def test_an_interrupted_swap_stays_marked_and_the_next_call_completes_it(driver, small_batches, staged, phase) -> None:
    deleting = {DELETE_LIVE_RELATIONSHIPS, DELETE_LIVE_NODES}

    def crash(query: str, done: int) -> None:
        if (query in deleting) == (phase == neo4j_backup.DELETE_PHASE):
            raise ConnectionError("the process died here")

    with pytest.raises(SwapInterrupted, match=f"part old, part new, marked by a :{SWAP_MARKER} node"):
        swap_staged(driver, progress=crash)
    assert swap_phase(driver) == phase
    drop_staged(driver)  # what a failed restore's cleanup runs: the remainder must stay
    assert driver.execute_query(COUNT_STAGED_NODES).records[0]["n"] > 0
    # A projector's write meanwhile, with the key of a node still staged: the staged one wins.
    still_staged = driver.execute_query(STILL_STAGED_KNOWLEDGE).records[0]["key"]
    driver.execute_query(LIVE_NODES, keys=[still_staged])
    swap_staged(driver)
    assert _graph(driver) == staged
    assert swap_phase(driver) is None


def test_status_and_verify_report_a_half_done_swap_and_what_repairs_it(driver, jarvis, jarvis_cli) -> None:
    """A restore died while swapping the graph: the marker stays. The operator's first two
    commands say so and name the repair; once it is done, neither mentions it."""
    from jarvis.projection.maintenance import INTERRUPTED_SWAP, verify
    from jarvis.stores.neo4j import REPAIR_SWAP

    driver.execute_query(neo4j_backup.SET_SWAP_PHASE, phase=neo4j_backup.RELABEL_PHASE)

    found = verify(jarvis.stores, ["neo4j"])
    assert found[0].what == INTERRUPTED_SWAP and found[0].store == "neo4j" and found[0].entity is None
    assert found[0].repair == REPAIR_SWAP and "phase relabel" in found[0].extra[0]
    verified = jarvis_cli("verify", "--store", "neo4j")
    assert verified.returncode == 1
    assert f"neo4j {INTERRUPTED_SWAP}: 0 missing, 1 extra" in verified.stdout, verified.stdout
    assert f"  repair: {REPAIR_SWAP}" in verified.stdout
    as_json = json.loads(jarvis_cli("verify", "--store", "neo4j", "--json").stdout)
    assert {"store": "neo4j", "what": INTERRUPTED_SWAP, "repair": REPAIR_SWAP}.items() <= as_json[0].items()

    status = jarvis_cli("status")
    neo4j_line = next(line for line in status.stdout.splitlines() if line.startswith("neo4j "))
    assert " up " in neo4j_line and "swap stopped in its relabel phase" in neo4j_line and REPAIR_SWAP in neo4j_line
    listed = {entry["store"]: entry for entry in json.loads(jarvis_cli("status", "--json").stdout)}
    assert listed["neo4j"]["up"] and "part old, part new" in listed["neo4j"]["detail"]

    rebuilt = jarvis_cli("rebuild", "--store", "neo4j")  # the repair it names
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert INTERRUPTED_SWAP not in {d.what for d in verify(jarvis.stores, ["neo4j"])}
    assert "swap" not in next(line for line in jarvis_cli("status").stdout.splitlines() if line.startswith("neo4j "))
