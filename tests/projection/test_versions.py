"""Every projected row carries a version, and a projection never overwrites a newer version with
an older one (issue 13): a projector that read a row before another projector wrote a later state
must leave the later state in every store."""

from __future__ import annotations

from psycopg.rows import dict_row

from jarvis.principal import EVERY_USER, scope_transaction
from jarvis.projection.entities import ENTITIES, VERSION
from jarvis.projection.writers import write_rows
from jarvis.stores.base import StoreName


def _rows(jarvis, entity: str, key: str) -> list[dict]:
    spec = ENTITIES[entity]
    with jarvis.stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(spec.select, {"keys": [key]}).fetchall()


def test_an_update_gives_the_row_a_larger_version(jarvis, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-versioned", type="crewai")
    try:
        [before] = _rows(jarvis, "agent", agent["id"])
        jarvis.heartbeat(agent["id"], status="active")
        [after] = _rows(jarvis, "agent", agent["id"])
        assert after[VERSION] > before[VERSION] > 0
        assert VERSION not in jarvis.get_agent(agent["id"]), "the version orders projections; callers never see it"
    finally:
        jarvis.terminate_agent(agent["id"])


def test_an_older_row_written_late_leaves_the_newer_one_in_every_store(jarvis, name) -> None:
    agent = jarvis.register_agent(
        name=f"{name}-late",
        type="crewai",
        capabilities=[{"name": f"{name}-cap", "description": "the newer description"}],
    )
    knowledge = jarvis.add_knowledge(topic=f"{name}-topic", content="the newer content", agent_id=agent["id"])
    stores = jarvis.stores
    try:
        for entity, key, field in (
            ("knowledge", knowledge["id"], "content"),
            ("agent_capability", None, "description"),
        ):
            if key is None:
                with stores.postgres.pool.connection() as conn:
                    key = str(
                        conn.execute(
                            "SELECT id FROM agent_capabilities WHERE agent_id = %s", (agent["id"],)
                        ).fetchone()[0]
                    )
            [current] = _rows(jarvis, entity, key)
            stale = {**current, VERSION: current[VERSION] - 1, field: "a stale value"}
            for store in ENTITIES[entity].stores:
                write_rows(stores, store, ENTITIES[entity], [stale], [key])  # the late, older writer
            if entity == "knowledge":
                graph = (
                    stores.get(StoreName.NEO4J)
                    .driver.execute_query(
                        "MATCH (k:Knowledge {id: $id}) RETURN k.content AS content, k.row_version AS version", id=key
                    )
                    .records[0]
                )
                assert (graph["content"], graph["version"]) == ("the newer content", current[VERSION])
                chroma = stores.get(StoreName.CHROMA)
                assert chroma.versions("knowledge_base", [key]) == {key: current[VERSION]}
                document = chroma.api.get_collection("knowledge_base", embedding_function=None).get(ids=[key])
                assert document["documents"] == ["the newer content"]
            else:
                qdrant = stores.get(StoreName.QDRANT)
                assert qdrant.versions("agent_capabilities", [key]) == {key: current[VERSION]}
                [(_, _, payload)] = [p for p in qdrant.points("agent_capabilities") if p[0] == key]
                assert payload["description"] == "the newer description"
            newer = {**current, VERSION: current[VERSION] + 1, field: "a newer value"}
            for store in ENTITIES[entity].stores:  # a newer row still replaces it
                write_rows(stores, store, ENTITIES[entity], [newer], [key])
            for store in ENTITIES[entity].stores:
                if store is StoreName.NEO4J:
                    version = (
                        stores.get(StoreName.NEO4J)
                        .driver.execute_query("MATCH (k:Knowledge {id: $id}) RETURN k.row_version AS v", id=key)
                        .records[0]["v"]
                    )
                else:
                    client = stores.get(StoreName.CHROMA) if store is StoreName.CHROMA else stores.get(StoreName.QDRANT)
                    version = client.versions(ENTITIES[entity].where(store), [key])[key]
                assert version == current[VERSION] + 1
    finally:
        jarvis.terminate_agent(agent["id"])


def test_the_outbox_appliers_rely_on_their_locks_and_the_unlocked_writers_on_versions(
    jarvis, name, monkeypatch
) -> None:
    """An applier of the outbox holds the entity's advisory lock from reading the row until every
    store answered, so it does not ask Chroma or Qdrant which version they hold (a round trip,
    and in Chroma a quarter of what projecting one write costs it); a rebuild and reconcile read
    without the locks, so they ask."""
    from jarvis.projection import maintenance
    from jarvis.stores.chroma import ChromaStore

    asked: list[list[str]] = []
    versions = ChromaStore.versions
    monkeypatch.setattr(ChromaStore, "versions", lambda self, c, ids: asked.append(ids) or versions(self, c, ids))
    fact = jarvis.add_knowledge(topic=f"{name}-locked", content="written through, under the lock")
    try:
        assert fact["lagging"] == [] and fact["projected"]
        chroma = jarvis.stores.get(StoreName.CHROMA)
        assert chroma.present("knowledge_base", [fact["id"]]) == {fact["id"]}
        assert asked == []  # the applier did not read the store's versions
        chroma.delete("knowledge_base", [fact["id"]])
        assert maintenance.reconcile(jarvis.stores, ["chroma"]) >= 1
        assert any(fact["id"] in ids for ids in asked)  # reconcile did
        [row] = _rows(jarvis, "knowledge", fact["id"])
        assert chroma.versions("knowledge_base", [fact["id"]]) == {fact["id"]: row[VERSION]}
    finally:
        jarvis.delete_knowledge(fact["id"])
