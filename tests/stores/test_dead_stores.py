"""A store that is down yields our error type at its boundary, never a driver's exception,
so the domain can fall back (searches degrade to pgvector) instead of answering 500."""

from __future__ import annotations

import pytest

from jarvis.api.server import free_port
from jarvis.config import Settings
from jarvis.errors import Conflict, InvalidInput, StoreError, StoreUnavailable
from jarvis.facade import Jarvis
from jarvis.stores.chroma import ChromaStore
from jarvis.stores.neo4j import Neo4jStore
from jarvis.stores.qdrant import QdrantStore

CAPABILITY = "Translate legal contracts between French and English"
PARAPHRASE = "render a French agreement into English"


@pytest.fixture
def qdrant_server_down(settings: Settings) -> Settings:
    """The test stack, but with a Qdrant server configured on a port where nothing listens."""
    return settings.model_copy(update={"qdrant_url": f"http://127.0.0.1:{free_port()}"})


def test_a_dead_qdrant_server_degrades_capability_search_and_best_agent_to_pgvector(
    jarvis, qdrant_server_down, name
) -> None:
    agent = jarvis.register_agent(
        name=f"{name}-polyglot",
        type="crewai",
        capabilities=[{"name": f"{name}-translation", "description": CAPABILITY}],
    )
    try:
        with Jarvis.from_settings(qdrant_server_down, embedder=jarvis.embedder) as facade:
            found = facade.search(query=PARAPHRASE, scopes=["capabilities"], limit=50)
            assert found["degraded"] == ["qdrant"]
            assert agent["id"] in {hit["item"].get("agent_id") for hit in found["results"]}
            best = facade.best_agent(PARAPHRASE, limit=50)
            assert "qdrant" in best["degraded"]
            assert agent["id"] in {ranked["agent_id"] for ranked in best["agents"]}
    finally:
        jarvis.terminate_agent(agent["id"])


@pytest.mark.parametrize("call", ["query", "upsert", "ids", "present"])
def test_a_dead_qdrant_server_raises_our_error(qdrant_server_down, call) -> None:
    store = QdrantStore.connect(qdrant_server_down)
    try:
        with pytest.raises(StoreError):
            if call == "query":
                store.query("agent_capabilities", [0.0] * 384, limit=1)
            elif call == "upsert":
                store.upsert("agent_capabilities", [("00000000-0000-0000-0000-000000000001", [0.0] * 384, {})])
            elif call == "ids":
                store.ids("agent_capabilities")
            else:
                store.present("agent_capabilities", ["00000000-0000-0000-0000-000000000001"])
    finally:
        store.close()


def test_a_dead_chroma_raises_our_error(settings: Settings) -> None:
    dead = settings.model_copy(update={"chroma_port": free_port()})
    with pytest.raises(StoreError):
        store = ChromaStore.connect(dead)
        store.query("knowledge_base", [0.0] * 384, limit=1)


def test_a_dead_neo4j_raises_our_error(settings: Settings) -> None:
    dead = settings.model_copy(update={"neo4j_uri": f"bolt://127.0.0.1:{free_port()}"})
    with pytest.raises(StoreError):
        store = Neo4jStore.connect(dead)
        store.node_keys("Agent")


def _dead(settings: Settings, **update: object) -> Settings:
    return settings.model_copy(update={"connect_timeout": 0.25, **update})  # a closed port: nothing to wait for


@pytest.mark.parametrize("call", ["node_keys", "present", "upsert_nodes", "edge_keys", "run_named", "clear"])
def test_every_neo4j_call_on_a_dead_server_raises_our_error(call) -> None:
    store = Neo4jStore.connect(_dead(Settings(), neo4j_uri=f"bolt://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(StoreError):
            {
                "node_keys": lambda: store.node_keys("Agent"),
                "present": lambda: store.present("Agent", ["a"]),
                "upsert_nodes": lambda: store.upsert_nodes("Agent", [{"key": "a", "props": {}}]),
                "edge_keys": store.edge_keys,
                "run_named": lambda: store.run_named("collaboration_history", agent_id="a"),
                "clear": store.clear,
            }[call]()
    finally:
        store.close()


@pytest.mark.parametrize(
    "call", ["get_session", "cache_memory", "delete_keys", "dequeue", "enqueue", "lock", "subscribe"]
)
def test_a_dead_redis_raises_our_error_from_every_kind_of_call(call) -> None:
    """The cache, the queues and the locks translate at their boundary: no caller wraps them."""
    from jarvis.stores.redis import RedisStore

    store = RedisStore.connect(_dead(Settings(), redis_url=None, redis_port=free_port()))
    try:
        with pytest.raises(StoreUnavailable):
            {
                "get_session": lambda: store.get_session("s"),
                "cache_memory": lambda: store.cache_memory("a", "core", "k", {"v": 1}),
                "delete_keys": lambda: store.delete_keys("k"),
                "dequeue": lambda: store.queues.dequeue(visibility_timeout=1),
                "enqueue": lambda: store.queues.enqueue("t", 5),
                "lock": lambda: store.locks.acquire("a", "me"),
                "subscribe": lambda: next(store.subscribe("status_update")),
            }[call]()
    finally:
        store.close()


def test_a_dead_postgres_raises_our_error() -> None:
    from jarvis.stores.postgres import PostgresStore

    with pytest.raises(StoreUnavailable):
        PostgresStore.connect(_dead(Settings(), postgres_dsn=None, postgres_port=free_port()))


def test_postgres_refusals_become_our_errors_by_sqlstate_naming_the_field(jarvis, name) -> None:
    """A foreign-key violation names the referencing column and the table (from pg_constraint),
    a unique violation the key's columns, a check violation its constraint, a bad value its
    column: never a psycopg exception, never read from the server's English message."""
    postgres = jarvis.stores.postgres
    agent = jarvis.register_agent(name=f"{name}-sqlstate", type="crewai")
    try:
        with pytest.raises(InvalidInput) as refused:
            with postgres.transaction() as conn:
                conn.execute(
                    "INSERT INTO agent_capabilities (agent_id, capability, description, embedding) "
                    "VALUES (gen_random_uuid(), 'x', 'x', array_fill(0.1, ARRAY[384])::vector)"
                )
        assert refused.value.field == "agent_id" and "agents row" in refused.value.reason
        with pytest.raises(Conflict) as duplicate:
            with postgres.transaction() as conn:
                conn.execute("INSERT INTO agents (name, type) VALUES (%s, 'crewai')", (f"{name}-sqlstate",))
        assert duplicate.value.field == "name"
        with pytest.raises(InvalidInput) as checked:
            with postgres.transaction() as conn:
                conn.execute("UPDATE agents SET performance_score = 7 WHERE id = %s", (agent["id"],))
        assert checked.value.field == "agents_performance_score_check"
        with pytest.raises(InvalidInput) as bad_value:
            with postgres.transaction() as conn:
                conn.execute("SELECT 'not a number'::int")
        assert bad_value.value.field == "value"
    finally:
        jarvis.terminate_agent(agent["id"])


def test_a_store_that_answers_and_refuses_raises_store_refused_not_a_driver_error(jarvis) -> None:
    """Refused (bad data: retrying will not help) is ours too, and apart from unavailable, so the
    projector dead-letters a poisoned event instead of waiting for the store to come back."""
    from jarvis.errors import StoreRefused
    from jarvis.stores.base import StoreName

    with pytest.raises(StoreRefused):
        jarvis.stores.get(StoreName.NEO4J).upsert_nodes("Agent", [{"key": None, "props": {}}])
    with pytest.raises(StoreRefused):
        jarvis.stores.get(StoreName.CHROMA).upsert(
            "conversations",
            ids=["refused"],
            embeddings=[[0.1] * 384],
            documents=["x"],
            metadatas=[{"nested": {"no": 1}}],
        )
