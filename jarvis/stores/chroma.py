"""Chroma: the document-vector projection (conversations, knowledge base, code snippets).

Collections are created without an embedding function: JARVIS computes every vector once,
in Postgres' transaction, and passes it in, so Chroma never downloads or runs a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import chromadb
import httpx
from chromadb.api import ClientAPI
from chromadb.api.collection_configuration import CreateCollectionConfiguration
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError

from jarvis.config import Settings
from jarvis.stores.base import Health, map_unavailable, measure, translate_errors

T = TypeVar("T")

STORE = "chroma"
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
SPACE: Literal["cosine"] = "cosine"
#: Every collection's index: HNSW over cosine distance.
CONFIGURATION: CreateCollectionConfiguration = {"hnsw": {"space": SPACE}}

#: The seed's three collections and their descriptions.
COLLECTIONS: dict[str, str] = {
    "conversations": "User conversation embeddings",
    "knowledge_base": "Agent knowledge and documentation",
    "code_snippets": "Generated code and improvements",
}


def client(settings: Settings) -> ClientAPI:
    """An HTTP client whose requests time out (chromadb's own default is to wait forever)."""
    token = settings.chroma_token.get_secret_value() if settings.chroma_token else None
    api = chromadb.HttpClient(
        host=settings.chroma_host,
        port=settings.chroma_port,
        headers={"Authorization": f"Bearer {token}"} if token else None,
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    # chromadb builds its httpx.Client with timeout=None and offers no setting for it.
    api._server._session.timeout = httpx.Timeout(30.0, connect=settings.connect_timeout)  # type: ignore[attr-defined]
    return api


@translate_errors(STORE, unreachable=(httpx.TransportError,), failed=(ChromaError, ValueError))
class ChromaStore:
    """One HTTP client. ``close()`` twice is harmless."""

    def __init__(self, api: ClientAPI) -> None:
        self.api = api
        self._handles: dict[str, Collection] = {}

    @classmethod
    def connect(cls, settings: Settings) -> "ChromaStore":
        """Raises StoreUnavailable when the server does not answer."""
        with map_unavailable(STORE, httpx.TransportError, ValueError):
            return cls(client(settings))

    def close(self) -> None:
        """Release the HTTP connections; the server keeps no session state for us."""
        self.api._server._session.close()  # type: ignore[attr-defined]

    def health(self) -> Health:
        def query() -> str:
            self.api.heartbeat()
            return f"chroma {self.api.get_version()}"

        return measure(STORE, query)

    def ensure_collections(self) -> list[str]:
        """Create the seed's collections (cosine, 384-d, no embedding function) if missing."""
        for name, description in COLLECTIONS.items():
            self.api.get_or_create_collection(
                name=name,
                metadata={"description": description, "embedding_model": EMBEDDING_MODEL, "dimension": DIMENSION},
                configuration=CONFIGURATION,
                embedding_function=None,
            )
        return list(COLLECTIONS)

    # -- projection writes and reads --------------------------------------------------------
    def _collection(self, name: str, *, fresh: bool = False) -> Collection:
        """The collection's handle, looked up once (a lookup is an HTTP round trip of its own)."""
        handle = None if fresh else self._handles.get(name)
        if handle is None:
            handle = self._handles[name] = self.api.get_collection(name, embedding_function=None)
        return handle

    def _call(self, name: str, operation: Callable[[Collection], T]) -> T:
        """Run *operation* on the collection; if the handle went stale (the collection was
        recreated, by a rebuild or a restore in another process), look it up again, once."""
        try:
            return operation(self._collection(name))
        except NotFoundError:
            return operation(self._collection(name, fresh=True))

    def upsert(
        self,
        name: str,
        *,
        ids: list[str],
        embeddings: list[list[float]],
        documents: list[str],
        metadatas: list[dict[str, Any]],
    ) -> None:
        """Idempotent by id: the document ends up with exactly the metadata given. A None value
        is a key the document does not have: Chroma's upsert merges metadata and removes a key
        only when told None, so a value that became None (an erased agent's id) would otherwise
        stay behind; on a new document the key is simply absent."""
        clean = [m if any(v is not None for v in m.values()) else None for m in metadatas]
        # chromadb's annotations name numpy arrays and its own metadata mapping; plain lists and
        # flat dicts are what it takes at run time
        self._call(
            name,
            lambda c: c.upsert(
                ids=ids, embeddings=cast(Any, embeddings), documents=documents, metadatas=cast(Any, clean)
            ),
        )

    def delete(self, name: str, ids: list[str]) -> None:
        self._call(name, lambda c: c.delete(ids=ids))

    def query(
        self, name: str, vector: Sequence[float], *, limit: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the nearest documents, best first."""
        result = self._call(
            name,
            lambda c: c.query(
                query_embeddings=[cast(Any, vector)],
                n_results=limit,
                where=where or None,
                include=cast(Any, ["distances"]),
            ),
        )
        distances = result["distances"] or [[]]
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], distances[0])]

    def query_with_metadata(
        self, name: str, vector: Sequence[float], *, limit: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float, dict[str, Any]]]:
        """(id, cosine similarity, metadata) of the nearest documents, best first."""
        result = self._call(
            name,
            lambda c: c.query(
                query_embeddings=[cast(Any, vector)],
                n_results=limit,
                where=where or None,
                include=cast(Any, ["distances", "metadatas"]),
            ),
        )
        distances, metadatas = result["distances"] or [[]], result["metadatas"] or [[]]
        return [(i, 1.0 - float(d), dict(m or {})) for i, d, m in zip(result["ids"][0], distances[0], metadatas[0])]

    def ids(self, name: str) -> set[str]:
        def every_id(collection: Collection) -> set[str]:
            found: set[str] = set()
            offset, page = 0, 5000
            while True:
                batch = collection.get(include=[], limit=page, offset=offset)["ids"]
                found.update(batch)
                if len(batch) < page:
                    return found
                offset += page

        return self._call(name, every_id)

    def versions(self, name: str, ids: list[str]) -> dict[str, int]:
        found = self._call(name, lambda c: c.get(ids=ids, include=cast(Any, ["metadatas"])))
        metadatas = cast(Any, found["metadatas"]) or []
        return {
            key: int(metadata["row_version"])
            for key, metadata in zip(found["ids"], metadatas)
            if metadata and isinstance(metadata.get("row_version"), int)
        }

    def present(self, name: str, ids: list[str]) -> set[str]:
        """Which of *ids* the collection holds (an erasure's final check)."""
        return set(self._call(name, lambda c: c.get(ids=ids, include=[])["ids"]))

    def reset(self, name: str) -> None:
        """Drop and recreate one collection (for a rebuild)."""
        self._handles.pop(name, None)
        self.api.delete_collection(name)
        self.ensure_collections()

    def clear(self) -> None:
        """Drop and recreate every collection (for a rebuild)."""
        for name in COLLECTIONS:
            self.reset(name)

    def flush(self) -> None:
        """Nothing to do: the server persisted every write it answered."""

    def collections(self) -> list[str]:
        return list(COLLECTIONS)

    # -- backup and restore (jarvis/stores/chroma_backup.py) ----------------------------------
    def export(self, directory: Path) -> dict[str, int]:
        """Every document of every collection into ``chroma.<collection>.jsonl``; documents per collection."""
        from jarvis.stores import chroma_backup

        return chroma_backup.export_chroma(self, directory)

    def backup_rows(self, directory: Path, name: str) -> Iterator[dict[str, Any]]:
        from jarvis.stores import chroma_backup

        return chroma_backup.chroma_rows(directory, name)

    def load_rows(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.upsert(
            name,
            ids=[r["id"] for r in rows],
            embeddings=[r["embedding"] for r in rows],
            documents=[r["document"] for r in rows],
            metadatas=[r["metadata"] for r in rows],
        )

    # -- staging, for a restore that swaps only once everything loaded -----------------------
    def create_collection(self, name: str, *, like: str) -> None:
        """A new, empty collection shaped like the seed's collection *like* (a staging copy)."""
        self.api.create_collection(
            name=name,
            metadata={"description": COLLECTIONS[like], "embedding_model": EMBEDDING_MODEL, "dimension": DIMENSION},
            configuration=CONFIGURATION,
            embedding_function=None,
        )

    def rename(self, name: str, new_name: str) -> None:
        """Rename a collection (its content and id stay); cached handles are dropped."""
        self._handles.clear()
        self.api.get_collection(name, embedding_function=None).modify(name=new_name)

    def drop(self, name: str) -> None:
        """Delete a collection if it exists."""
        self._handles.pop(name, None)
        try:
            self.api.delete_collection(name)
        except (NotFoundError, ValueError):
            pass

    def count(self, name: str) -> int:
        return int(self._call(name, lambda c: c.count()))

    def collection_shape(self, name: str) -> tuple[int, str]:
        """(dimension, distance space) of a collection, as Chroma stores them."""
        collection = self.api.get_collection(name, embedding_function=None)
        space = collection.configuration_json.get("hnsw", {}).get("space") or collection.configuration_json.get(
            "spann", {}
        ).get("space")
        return int(collection.metadata["dimension"]), str(space)


def probe(settings: Settings) -> Health:
    def query() -> str:
        api = client(settings)
        api.heartbeat()
        return f"chroma {api.get_version()}"

    return measure(STORE, query)
