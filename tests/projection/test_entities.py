"""How each entity appears in each store, checked on plain rows: no store is needed."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from jarvis.projection.entities import EDGE_ENTITY, ENTITIES, MEMORY_ENTITY, edge_key, stores_for
from jarvis.projection.writers import WRITERS, _vector
from jarvis.search_filters import OPEN_END
from jarvis.stores.base import PROJECTION_STORES, StoreName

WHEN = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
VECTOR = [0.5] * 384

ROWS = {
    "agent": {
        "id": "a1",
        "name": "ada",
        "type": "crewai",
        "status": "active",
        "capabilities": ("x",),
        "performance_score": 0.7,
        "created_at": WHEN,
    },
    "task": {"id": "t1", "name": "t", "type": "build", "status": "pending", "priority": 3, "created_at": WHEN},
    "user": {"id": "u1", "name": "Ada", "preferences": {"tea": "green"}},
    "model": {"id": "m1", "name": "mini", "type": "embedding", "provider": "local"},
    "capability": {"name": "translate", "category": "language", "description": "French to English"},
    "knowledge": {
        "id": "k1",
        "topic": "tea",
        "content": "green tea",
        "source": "chat",
        "category": "fact",
        "confidence": Decimal("0.9"),
        "agent_id": None,
        "embedding": VECTOR,
        "created_at": WHEN,
        "valid_from": WHEN,
        "valid_to": None,
    },
    "conversation": {
        "id": "c1",
        "session_id": "s1",
        "user_id": "u1",
        "agent_id": "a1",
        "role": "user",
        "message_type": "text",
        "content": "hello",
        "embedding": VECTOR,
        "metadata": {"sentiment": "warm", "lang": "en", "nested": {"no": 1}},
        "created_at": WHEN,
    },
    "code_snippet": {
        "id": "s1",
        "content": "print(1)",
        "language": "python",
        "purpose": "demo",
        "agent_id": "a1",
        "performance_score": Decimal("0.5"),
        "tested": True,
        "embedding": VECTOR,
        "created_at": WHEN,
    },
    "agent_capability": {
        "id": "ac1",
        "agent_id": "a1",
        "capability": "translate",
        "description": "French",
        "success_rate": Decimal("0.25"),
        "avg_execution_time": 12,
        "embedding": VECTOR,
        "created_at": WHEN,
    },
    "task_pattern": {
        "id": "tp1",
        "pattern_type": "seq",
        "description": "d",
        "task_sequence": ["a", "b"],
        "success_rate": Decimal("1"),
        "optimal_agents": ["a1"],
        "embedding": VECTOR,
        "created_at": WHEN,
    },
    "user_preference": {
        "id": "up1",
        "user_id": "u1",
        "preference_type": "drink",
        "description": "tea",
        "value": {"kind": "green"},
        "confidence": Decimal("0.5"),
        "embedding": VECTOR,
        "created_at": WHEN,
    },
}

HOMES = {
    "agent": {StoreName.NEO4J: "Agent"},
    "task": {StoreName.NEO4J: "Task"},
    "user": {StoreName.NEO4J: "User"},
    "model": {StoreName.NEO4J: "Model"},
    "capability": {StoreName.NEO4J: "Capability"},
    "knowledge": {StoreName.NEO4J: "Knowledge", StoreName.CHROMA: "knowledge_base"},
    "conversation": {StoreName.CHROMA: "conversations"},
    "code_snippet": {StoreName.CHROMA: "code_snippets"},
    "agent_capability": {StoreName.QDRANT: "agent_capabilities"},
    "task_pattern": {StoreName.QDRANT: "task_patterns"},
    "user_preference": {StoreName.QDRANT: "user_preferences"},
}


def test_every_entity_has_a_sample_row_and_a_home() -> None:
    assert set(ROWS) == set(ENTITIES) == set(HOMES)


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_each_entity_is_projected_to_exactly_its_stores(entity: str) -> None:
    spec = ENTITIES[entity]
    assert spec.stores == stores_for(entity) == tuple(HOMES[entity])
    for store in PROJECTION_STORES:
        assert spec.where(store) == HOMES[entity].get(store)
    for store in spec.stores:
        assert (
            spec.described(store)
            == f"{HOMES[entity][store]} "
            + {StoreName.NEO4J: "nodes", StoreName.CHROMA: "documents", StoreName.QDRANT: "points"}[store]
        )
        assert store in WRITERS


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_each_mapping_reads_only_its_columns_and_gives_flat_values(entity: str) -> None:
    spec, row = ENTITIES[entity], ROWS[entity]
    columns = {c.strip().split("::")[0] for c in spec.columns.split(",")}
    assert set(row) == columns, "the sample row holds exactly what the projection selects"
    scalar = (str, int, float, bool, type(None), datetime, list)
    if spec.node is not None:
        node = spec.node(row)
        assert node[spec.key] == row[spec.key]
        assert all(isinstance(v, scalar) for v in node.values())
    if spec.document is not None:
        document, metadata = spec.document(row)
        assert document == row["content"]
        assert all(isinstance(v, (str, int, float, bool, type(None))) for v in metadata.values())
        assert metadata["created_ts"] == WHEN.timestamp()
    if spec.payload is not None:
        payload = spec.payload(row)
        assert payload["created_ts"] == WHEN.timestamp()
        assert "embedding" not in payload


def test_the_mappings_say_what_filters_need() -> None:
    _, knowledge = ENTITIES["knowledge"].document(ROWS["knowledge"])
    assert knowledge["valid_to_ts"] == OPEN_END and knowledge["confidence"] == 0.9
    _, conversation = ENTITIES["conversation"].document(ROWS["conversation"])
    assert conversation["sentiment"] == "warm" and conversation["meta_lang"] == "en"
    assert "meta_nested" not in conversation
    assert ENTITIES["user"].node(ROWS["user"])["preferences"] == '{"tea": "green"}'
    assert ENTITIES["agent"].node(ROWS["agent"])["capabilities"] == ["x"]
    payload = ENTITIES["agent_capability"].payload(ROWS["agent_capability"])
    assert payload == {
        "agent_id": "a1",
        "capability": "translate",
        "description": "French",
        "success_rate": 0.25,
        "avg_execution_time": 12,
        "created_ts": WHEN.timestamp(),
    }


def test_edges_and_memories_are_their_own_entities() -> None:
    assert stores_for(EDGE_ENTITY) == (StoreName.NEO4J,)
    assert stores_for(MEMORY_ENTITY) == (StoreName.REDIS,)
    assert edge_key("RELATED_TO", "Knowledge", "k1", "Knowledge", "k2") == "RELATED_TO|Knowledge|k1|Knowledge|k2"


def test_vectors_become_plain_lists() -> None:
    import numpy as np

    assert _vector(np.array([1.0, 2.0], dtype=np.float32)) == [1.0, 2.0]
    assert _vector((1, 2)) == [1.0, 2.0]
