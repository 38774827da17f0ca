"""``reconcile`` works in bounded batches (:data:`RECONCILE_BATCH` ids per store write, Neo4j's
keys listed :data:`KEY_PAGE` at a time), and still makes every projection match PostgreSQL:
ghosts deleted, missing items projected again, in Neo4j, Chroma and Qdrant."""

from __future__ import annotations

import uuid

import pytest

from jarvis.principal import EVERY_USER, scope_transaction
from jarvis.projection import maintenance, orphans
from jarvis.projection.maintenance import reconcile, verify
from jarvis.stores import neo4j

BATCH = 3
PLANTED = 4  # of each kind, per store: more than one batch
VECTOR = [1.0 / 384**0.5] * 384


def _found(differences, store: str) -> tuple[set[str], set[str]]:
    """Every key *store* misses and holds in excess, over all its differences."""
    missing, extra = set(), set()
    for difference in differences:
        if difference.store == store:
            missing.update(difference.missing)
            extra.update(difference.extra)
    return missing, extra


@pytest.fixture
def small_batches(monkeypatch):
    """Batches far smaller than the planted differences, and a record of each write's size."""
    monkeypatch.setattr(maintenance, "RECONCILE_BATCH", BATCH)
    monkeypatch.setattr(neo4j, "KEY_PAGE", 4)
    sizes: list[int] = []
    write_rows, write_edges = maintenance.write_rows, maintenance.write_edges

    def rows_spy(stores, store, spec, rows, keys):
        sizes.append(len(keys))
        write_rows(stores, store, spec, rows, keys)

    def edges_spy(stores, rows, keys):
        sizes.append(len(keys))
        write_edges(stores, rows, keys)

    monkeypatch.setattr(maintenance, "write_rows", rows_spy)
    monkeypatch.setattr(maintenance, "write_edges", edges_spy)
    return sizes


@pytest.fixture
def planted_world(jarvis, name):
    """An agent with capabilities (Qdrant points) and knowledge it generated (Neo4j nodes and
    edges, Chroma documents); deleted afterwards."""
    jarvis.sync()
    agent = jarvis.register_agent(
        name=f"{name}-reconciled",
        type="crewai",
        capabilities=[{"name": f"{name}-cap-{i}", "description": f"capability {i}"} for i in range(2 * PLANTED)],
    )
    items = [
        {"topic": f"{name}-{i}", "content": f"Fact {i} of the reconcile drill {name}.", "agent_id": agent["id"]}
        for i in range(2 * PLANTED + 2)
    ]
    knowledge = jarvis.add_knowledge_many(items)["ids"]
    with jarvis.stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)
        capabilities = [
            row[0]
            for row in conn.execute(
                "SELECT id::text FROM agent_capabilities WHERE agent_id = %s ORDER BY id", (agent["id"],)
            )
        ]
    yield agent["id"], knowledge, capabilities
    for key in knowledge:
        jarvis.delete_knowledge(key)
    jarvis.delete_agent(agent["id"])
    jarvis.sync()


def test_reconcile_in_small_batches_deletes_every_ghost_and_projects_every_missing_item(
    jarvis, name, small_batches, planted_world
) -> None:
    agent, knowledge, capabilities = planted_world
    stores = jarvis.stores
    graph, chroma, qdrant = stores.get("neo4j"), stores.get("chroma"), stores.get("qdrant")
    # Neo4j: knowledge nodes gone (with their GENERATED_BY edges), ghost nodes, ghost relationships
    lost_nodes = knowledge[:PLANTED]
    graph.driver.execute_query("MATCH (k:Knowledge) WHERE k.id IN $ids DETACH DELETE k", ids=lost_nodes)
    ghost_nodes = [f"{name}-ghost-{i}" for i in range(PLANTED)]
    graph.driver.execute_query("UNWIND $ids AS id MERGE (:Knowledge {id: id})", ids=ghost_nodes)
    kept = knowledge[PLANTED:]
    ghost_edges = [(kept[i], kept[i + 1]) for i in range(PLANTED)]
    graph.driver.execute_query(
        "UNWIND $pairs AS pair MATCH (a:Knowledge {id: pair[0]}), (b:Knowledge {id: pair[1]}) MERGE (a)-[:SUPERSEDES]->(b)",
        pairs=[list(pair) for pair in ghost_edges],
    )
    # Chroma: documents gone, ghost documents
    lost_documents = knowledge[-PLANTED:]
    chroma.delete("knowledge_base", lost_documents)
    ghost_documents = [f"{name}-ghost-doc-{i}" for i in range(PLANTED)]
    chroma.upsert(
        "knowledge_base",
        ids=ghost_documents,
        embeddings=[VECTOR] * PLANTED,
        documents=["a ghost"] * PLANTED,
        metadatas=[{"topic": "ghost"}] * PLANTED,
    )
    # Qdrant: points gone, ghost points
    lost_points = capabilities[:PLANTED]
    qdrant.delete("agent_capabilities", lost_points)
    ghost_points = [str(uuid.uuid4()) for _ in range(PLANTED)]
    qdrant.upsert("agent_capabilities", [(key, VECTOR, {"capability": "ghost"}) for key in ghost_points])

    before = verify(stores)
    edge = "SUPERSEDES|Knowledge|{}|Knowledge|{}"
    lost_edges = {f"GENERATED_BY|Knowledge|{key}|Agent|{agent}" for key in lost_nodes}
    missing, extra = _found(before, "neo4j")
    assert set(lost_nodes) | lost_edges <= missing
    assert set(ghost_nodes) | {edge.format(*pair) for pair in ghost_edges} <= extra
    missing, extra = _found(before, "chroma")
    assert set(lost_documents) <= missing and set(ghost_documents) <= extra
    missing, extra = _found(before, "qdrant")
    assert set(lost_points) <= missing and set(ghost_points) <= extra

    fixed = reconcile(stores)

    assert fixed >= 7 * PLANTED
    assert small_batches and max(small_batches) <= BATCH  # every store write was one small batch
    after = verify(stores)
    assert [d.as_dict() for d in after if d.entity is not None] == []
    assert set(lost_nodes) <= graph.node_keys("Knowledge")
    restored = graph.driver.execute_query(
        "MATCH (k:Knowledge)-[:GENERATED_BY]->(:Agent {id: $agent}) WHERE k.id IN $ids RETURN k.id AS id, k.topic AS topic",
        ids=lost_nodes,
        agent=agent,
    ).records
    assert sorted(r["topic"] for r in restored) == sorted(f"{name}-{i}" for i in range(PLANTED))
    assert chroma.present("knowledge_base", lost_documents + ghost_documents) == set(lost_documents)
    assert set(lost_points) <= qdrant.ids("agent_capabilities")
    assert not set(ghost_points) & qdrant.ids("agent_capabilities")


def test_orphan_edge_rows_are_removed_in_batches(jarvis, name, monkeypatch) -> None:
    monkeypatch.setattr(orphans, "ORPHAN_BATCH", 2)
    gone = [f"{name}-gone-{i}" for i in range(5)]
    with jarvis.stores.postgres.pool.connection() as conn:
        # Rows from before migration 011's trigger, which would refuse them now.
        conn.execute("SET LOCAL session_replication_role = replica")
        for key in gone:
            conn.execute(
                "INSERT INTO graph_edges (rel_type, src_label, src_id, dst_label, dst_id) "
                "VALUES ('RELATED_TO', 'Knowledge', %s, 'Knowledge', %s)",
                (key, f"{key}-too"),
            )
    with jarvis.stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)
        planted = {f"RELATED_TO|Knowledge|{key}|Knowledge|{key}-too" for key in gone}
        assert planted <= set(orphans.orphan_edges(conn))

    assert orphans.remove_orphan_edges(jarvis.stores) >= len(gone)

    with jarvis.stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)
        assert orphans.orphan_edges(conn) == []
