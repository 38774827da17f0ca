"""Neo4j: the graph schema is in place and does its job."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import neo4j.exceptions
import pytest

from jarvis.config import Settings
from jarvis.stores.neo4j import Neo4jStore, _present_nodes

UNIQUE_KEYS = {
    ("Agent", "id"),
    ("Task", "id"),
    ("User", "id"),
    ("Model", "id"),
    ("Knowledge", "id"),
    ("Capability", "name"),
}


@pytest.fixture
def graph(settings: Settings) -> Iterator[Neo4jStore]:
    store = Neo4jStore.connect(settings)
    yield store
    store.close()


def test_the_schema_has_a_uniqueness_constraint_per_node_key(graph: Neo4jStore) -> None:
    found = {(c["labelsOrTypes"][0], c["properties"][0]) for c in graph.constraints() if c["type"] == "UNIQUENESS"}
    assert UNIQUE_KEYS <= found
    assert "knowledge_topic_index" in {index["name"] for index in graph.indexes()}


def test_applying_the_schema_twice_changes_nothing(graph: Neo4jStore) -> None:
    before = sorted(c["name"] for c in graph.constraints())
    graph.apply_schema()
    assert sorted(c["name"] for c in graph.constraints()) == before


def test_a_second_agent_with_the_same_id_is_rejected(graph: Neo4jStore) -> None:
    agent_id = str(uuid.uuid4())
    graph.driver.execute_query("CREATE (:Agent {id: $id, name: 'first'})", id=agent_id)
    try:
        with pytest.raises(neo4j.exceptions.ConstraintError, match=agent_id):
            graph.driver.execute_query("CREATE (:Agent {id: $id, name: 'second'})", id=agent_id)
        records, _, _ = graph.driver.execute_query("MATCH (a:Agent {id: $id}) RETURN count(a) AS n", id=agent_id)
        assert records[0]["n"] == 1
    finally:
        graph.driver.execute_query("MATCH (a:Agent {id: $id}) DETACH DELETE a", id=agent_id)


def _operators(plan: dict) -> set[str]:
    return {plan["operatorType"].split("@")[0], *(op for child in plan.get("children", []) for op in _operators(child))}


@pytest.mark.parametrize(("label", "key"), sorted(UNIQUE_KEYS))
def test_present_asks_for_the_keys_through_the_labels_index(graph: Neo4jStore, label: str, key: str) -> None:
    """The erasure's final check: only the keys asked for are read (an index seek per key, no
    scan of the label), and only those that have a node come back."""
    there, gone = f"{uuid.uuid4()}", f"{uuid.uuid4()}"
    graph.upsert_nodes(label, [{"key": there, "props": {}}])
    try:
        assert graph.present(label, [there, gone]) == {there}
        assert graph.present(label, [gone]) == set()
        summary = graph.driver.execute_query(f"EXPLAIN {_present_nodes(label)}", keys=[there, gone]).summary
        operators = _operators(summary.plan)
        assert "NodeUniqueIndexSeek" in operators, operators
        assert not operators & {"NodeByLabelScan", "AllNodesScan"}, operators
    finally:
        graph.delete_nodes(label, [there])


def _notifications(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "neo4j.notifications"]


def test_verify_on_a_graph_that_never_held_a_restore_logs_no_unknown_label_warning(
    jarvis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``verify`` (and so ``reconcile``) names the restore's labels, which a graph knows only once
    a restore has run. This graph has held one, so the queries are made to name labels it has
    never seen; Neo4j would warn of them at each run, and the one query that names them turns off
    only that classification: other warnings still come through."""
    from jarvis.projection.maintenance import verify
    from jarvis.stores import neo4j as graph_module

    staging, marker = (f"JarvisNeverSeen{uuid.uuid4().hex}" for _ in range(2))
    monkeypatch.setattr(graph_module, "EDGE_KEYS", graph_module.EDGE_KEYS.replace("JarvisRestoreStaging", staging))
    monkeypatch.setattr(graph_module, "SWAP_PHASE", graph_module.SWAP_PHASE.replace("JarvisRestoreSwap", marker))
    drv = jarvis.stores.get("neo4j").driver
    caplog.set_level(logging.WARNING, logger="neo4j.notifications")

    drv.execute_query(graph_module.SWAP_PHASE)  # asked plainly, Neo4j warns: the capture works
    assert any(marker in message for message in _notifications(caplog))
    caplog.clear()

    verify(jarvis.stores, ["neo4j"])
    assert _notifications(caplog) == []

    deprecated = f"MATCH (n:{staging}) RETURN id(n) AS old_style"  # id() is deprecated in Neo4j 5
    graph_module.read_naming_restore_labels(drv, deprecated)
    warned = _notifications(caplog)
    assert len(warned) == 1 and "id is deprecated" in warned[0]  # a real warning still comes through
    assert "does not exist" not in warned[0]
