"""A store that is down yields our error type at its boundary, never a driver's exception,
so the domain can fall back (searches degrade to pgvector) instead of answering 500."""

from __future__ import annotations

import pytest

from jarvis.api.server import free_port
from jarvis.config import Settings
from jarvis.errors import StoreError
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
    agent = jarvis.register_agent(name=f"{name}-polyglot", type="crewai",
                                  capabilities=[{"name": f"{name}-translation", "description": CAPABILITY}])
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


@pytest.mark.parametrize("call", ["query", "upsert", "ids"])
def test_a_dead_qdrant_server_raises_our_error(qdrant_server_down, call) -> None:
    store = QdrantStore.connect(qdrant_server_down)
    try:
        with pytest.raises(StoreError):
            if call == "query":
                store.query("agent_capabilities", [0.0] * 384, limit=1)
            elif call == "upsert":
                store.upsert("agent_capabilities", [("00000000-0000-0000-0000-000000000001", [0.0] * 384, {})])
            else:
                store.ids("agent_capabilities")
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
