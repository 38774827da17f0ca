"""The six vector collections exist with the seed's names, 384 dimensions and distances."""

from __future__ import annotations

import pytest

from jarvis.config import Settings
from jarvis.stores.chroma import ChromaStore
from jarvis.stores.qdrant import QdrantStore


@pytest.mark.parametrize("name", ["conversations", "knowledge_base", "code_snippets"])
def test_chroma_collections_are_cosine_384_without_an_embedding_function(settings: Settings, name: str) -> None:
    chroma = ChromaStore.connect(settings)
    try:
        assert chroma.collection_shape(name) == (384, "cosine")
        collection = chroma.api.get_collection(name, embedding_function=None)
        assert collection.metadata["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    finally:
        chroma.close()


def test_qdrant_collections_have_the_seeds_sizes_and_distances(jarvis) -> None:
    # Qdrant Edge belongs to one process: use the facade's open store.
    qdrant: QdrantStore = jarvis.stores.get("qdrant")
    shapes = {
        name: qdrant.collection_shape(name) for name in ("agent_capabilities", "task_patterns", "user_preferences")
    }
    assert shapes == {
        "agent_capabilities": (384, "Cosine"),
        "task_patterns": (384, "Cosine"),
        "user_preferences": (384, "Euclid"),
    }


def test_ensuring_collections_again_keeps_them(settings: Settings, jarvis) -> None:
    chroma = ChromaStore.connect(settings)
    try:
        assert chroma.ensure_collections() == ["conversations", "knowledge_base", "code_snippets"]
    finally:
        chroma.close()
    qdrant: QdrantStore = jarvis.stores.get("qdrant")
    before = {name: len(qdrant.ids(name)) for name in ("agent_capabilities", "task_patterns", "user_preferences")}
    assert qdrant.ensure_collections() == ["agent_capabilities", "task_patterns", "user_preferences"]
    assert {name: len(qdrant.ids(name)) for name in before} == before
