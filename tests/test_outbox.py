"""Nothing is lost when a projection store falls over, and nothing is applied twice.

Each outage is real: the store is stopped with `jarvis down --store X` and started again.
"""

from __future__ import annotations

import pytest

from jarvis import local
from jarvis.projection.maintenance import rebuild, verify


@pytest.fixture
def synced(jarvis):
    """Every test here starts and ends with the outbox drained and the projections clean."""
    jarvis.sync()
    yield jarvis
    jarvis.sync()


@pytest.mark.parametrize("store", ["neo4j", "chroma", "qdrant"])
def test_writes_survive_a_projection_outage_and_catch_up_once_it_returns(synced, settings, store, name) -> None:
    jarvis = synced
    local.down(settings, [store])
    try:
        agent = jarvis.register_agent(
            name=f"{name}-agent",
            type="letta",
            capabilities=[
                {"name": f"{name}-triage", "description": f"Sort incoming support tickets by urgency ({name})"}
            ],
        )
        fact = f"Backups are only as good as their restores ({name})."
        knowledge = jarvis.add_knowledge(topic=f"{name}-topic", content=fact, agent_id=agent["id"])
        expected = {"neo4j": ["neo4j"], "chroma": [], "qdrant": ["qdrant"]}[store]
        assert agent["lagging"] == expected
        assert knowledge["lagging"] == (["chroma"] if store == "chroma" else ["neo4j"] if store == "neo4j" else [])
        _, pending = jarvis.sync()
        assert pending > 0
        if store == "chroma":  # knowledge is answered from pgvector over the same rows
            degraded = jarvis.search(query=fact, scopes=["knowledge"], limit=5)
            assert degraded["degraded"] == ["chroma"] and degraded["results"][0]["id"] == knowledge["id"]
        if store == "qdrant":  # capabilities are answered from pgvector over the same rows
            degraded = jarvis.search(
                query=f"Sort incoming support tickets by urgency ({name})", scopes=["capabilities"]
            )
            assert degraded["degraded"] == ["qdrant"]
            assert agent["id"] in {r["item"]["agent_id"] for r in degraded["results"]}
    finally:
        local.up(settings, [store])
    applied, pending = jarvis.sync()
    assert pending == 0 and not applied.lagging
    assert verify(jarvis.stores) == []
    if store == "neo4j":
        graph = jarvis.stores.get("neo4j")
        count = graph.driver.execute_query("MATCH (a:Agent {id: $id}) RETURN count(a) AS n", id=agent["id"]).records
        assert count[0]["n"] == 1
        edges = graph.driver.execute_query(
            "MATCH (:Knowledge {id: $id})-[r:GENERATED_BY]->(:Agent) RETURN count(r) AS n", id=knowledge["id"]
        ).records
        assert edges[0]["n"] == 1


@pytest.mark.parametrize("store", ["neo4j", "chroma", "qdrant"])
def test_a_wiped_projection_is_rebuilt_from_postgres_alone(synced, store, name) -> None:
    jarvis = synced
    jarvis.add_knowledge(topic=f"{name}-rebuild", content="Rebuilds read stored vectors; nothing is embedded again.")
    jarvis.register_agent(name=f"{name}-rebuilt", type="crewai", capabilities=[{"name": f"{name}-cap"}])
    client = jarvis.stores.get(store)
    if store == "neo4j":
        client.delete_everything()
    else:
        for collection in {
            "chroma": ["knowledge_base", "conversations", "code_snippets"],
            "qdrant": ["agent_capabilities", "task_patterns", "user_preferences"],
        }[store]:
            client.reset(collection)
    assert any(d.store == store and d.missing for d in verify(jarvis.stores, [store]))
    counts = rebuild(jarvis.stores, store)
    assert sum(counts.values()) > 0
    assert verify(jarvis.stores) == []


def test_applying_the_same_event_twice_changes_nothing(synced, name) -> None:
    jarvis = synced
    item = jarvis.add_knowledge(topic=f"{name}-twice", content="Idempotent projections ignore repeats.")
    with jarvis.stores.postgres.pool.connection() as conn:
        event_ids = [
            r[0]
            for r in conn.execute("SELECT id FROM outbox WHERE entity = 'knowledge' AND entity_id = %s", (item["id"],))
        ]
        conn.execute("UPDATE outbox SET pending_stores = ARRAY['neo4j', 'chroma'] WHERE id = ANY(%s)", (event_ids,))
    assert not jarvis.projector.apply(event_ids).lagging
    assert verify(jarvis.stores) == []
    records = (
        jarvis.stores.get("neo4j")
        .driver.execute_query("MATCH (k:Knowledge {id: $id}) RETURN count(k) AS n", id=item["id"])
        .records
    )
    assert records[0]["n"] == 1


def test_a_deleted_item_leaves_every_projection(synced, name) -> None:
    jarvis = synced
    first = jarvis.add_knowledge(topic=f"{name}-doomed", content="This fact will be forgotten.")
    second = jarvis.add_knowledge(topic=f"{name}-kept", content="This one stays.")
    jarvis.relate_knowledge(first["id"], second["id"])
    assert jarvis.delete_knowledge(first["id"])["lagging"] == []
    assert first["id"] not in jarvis.stores.get("chroma").ids("knowledge_base")
    assert first["id"] not in jarvis.stores.get("neo4j").node_keys("Knowledge")
    assert verify(jarvis.stores) == []
