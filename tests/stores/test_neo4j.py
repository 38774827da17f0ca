"""Neo4j: the graph schema is in place and does its job."""

from __future__ import annotations

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
