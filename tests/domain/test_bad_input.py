"""Bad input gets a clear error naming the field, and nothing is written to any store."""

from __future__ import annotations

import uuid

import pytest

from jarvis.embeddings import MAX_TEXT_CHARS
from jarvis.errors import InvalidInput

TABLES = ("agents", "tasks", "agent_memory", "knowledge", "conversations", "outbox", "graph_edges")


def _footprint(jarvis) -> dict:
    with jarvis.stores.postgres.pool.connection() as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608 - fixed names
    counts["chroma"] = len(jarvis.stores.get("chroma").ids("knowledge_base"))
    counts["qdrant"] = len(jarvis.stores.get("qdrant").ids("agent_capabilities"))
    counts["neo4j"] = len(jarvis.stores.get("neo4j").node_keys("Agent")) + len(jarvis.stores.get("neo4j").edge_keys())
    return counts


CASES = [
    ("put_memory", {"agent_id": str(uuid.uuid4()), "memory_type": "core", "key": "k", "value": "v"}, "agent_id"),
    ("put_memory", {"agent_id": "not-a-uuid", "memory_type": "core", "key": "k", "value": "v"}, "agent_id"),
    (
        "put_memory",
        {"agent_id": str(uuid.uuid4()), "memory_type": "core", "key": "k", "value": "v", "importance": 2},
        "importance",
    ),
    ("create_task", {"name": "x", "type": "chat", "priority": 11}, "priority"),
    ("create_task", {"name": "x", "type": "chat", "depends_on": [str(uuid.uuid4())]}, "depends_on"),
    ("add_knowledge", {"topic": "t", "content": ""}, "content"),
    ("add_knowledge", {"topic": "t", "content": "   "}, "content"),
    ("add_knowledge", {"topic": "t", "content": "x" * (MAX_TEXT_CHARS + 1)}, "content"),
    ("add_knowledge", {"topic": "t", "content": "fine", "agent_id": str(uuid.uuid4())}, "agent_id"),
    ("register_agent", {"name": "a", "type": "letta", "capabilities": [{"name": "bad|name"}]}, "capabilities.0.name"),
    ("search", {"vector": [0.1, 0.2, 0.3], "scopes": ["knowledge"]}, "vector"),
    ("search", {"query": "x", "scopes": ["memory"]}, "agent_id"),
]


@pytest.mark.parametrize(("method", "fields", "field"), CASES, ids=[f"{m}-{f}" for m, _, f in CASES])
def test_bad_input_names_the_field_and_writes_nothing(jarvis, method: str, fields: dict, field: str) -> None:
    before = _footprint(jarvis)
    with pytest.raises(InvalidInput) as caught:
        getattr(jarvis, method)(**fields)
    assert caught.value.field == field
    assert _footprint(jarvis) == before


def test_sql_and_cypher_syntax_is_stored_literally(jarvis, name) -> None:
    nasty = "'); DROP TABLE agents; -- MATCH (n) DETACH DELETE n RETURN $x {}"
    item = jarvis.add_knowledge(topic=f"{name}-{nasty}"[:255], content=nasty)
    found = jarvis.search(query=nasty, scopes=["knowledge"], limit=1)
    assert found["results"][0]["item"]["content"] == nasty and item["lagging"] == []
