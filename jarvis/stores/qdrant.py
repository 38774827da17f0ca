"""Qdrant: the payload-vector projection (agent capabilities, task patterns, user preferences).

Two engines, two classes behind one interface (:class:`~jarvis.stores.base.PointStore`):
Qdrant Edge in-process (:class:`~jarvis.stores.qdrant_edge.QdrantEdgeStore`, the default on the
local stack: the Qdrant engine itself, HNSW, one shard per collection under ``<data dir>/qdrant``),
or a Qdrant server through ``qdrant-client`` (:class:`~jarvis.stores.qdrant_server.QdrantServerStore`)
when ``JARVIS_QDRANT_URL`` is set. :meth:`QdrantStore.connect` picks the one the settings name.

An Edge shard belongs to one process at a time (its WAL is locked). ``jarvis down --store
qdrant`` therefore cannot stop a server; it leaves a ``STOPPED`` marker that makes every
process refuse to open the shards, which is what a fault drill needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from jarvis.config import Settings
from jarvis.errors import StoreUnavailable
from jarvis.stores.base import Health, Point, StoreName, measure

STORE = StoreName.QDRANT
DIMENSION = 384
STOPPED_MARKER = "STOPPED"


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    name: str
    distance: str  # "Cosine" | "Euclid", Qdrant's own spelling


#: The seed's three collections.
COLLECTIONS: tuple[CollectionSpec, ...] = (
    CollectionSpec("agent_capabilities", "Cosine"),
    CollectionSpec("task_patterns", "Cosine"),
    CollectionSpec("user_preferences", "Euclid"),
)


def spec_for(name: str) -> CollectionSpec:
    """The seed's collection *name* is, or (a staging copy ``<name>__restore``) starts with."""
    return next(spec for spec in COLLECTIONS if name == spec.name or name.startswith(spec.name))


class ShardInUse(StoreUnavailable):
    """An Edge shard is open in another process (Qdrant Edge is single-process)."""


def is_stopped(settings: Settings) -> bool:
    return (settings.qdrant_path / STOPPED_MARKER).exists()


class QdrantStore(ABC):
    """The three collections on one engine. ``close()`` twice is harmless.

    What both engines share lives here (rebuild, backup); each engine implements the rest.
    """

    @classmethod
    def connect(cls, settings: Settings) -> QdrantStore:
        """Open the Edge shards (creating none) or a server client, as *settings* say.

        Raises:
            StoreUnavailable: Edge is marked stopped, or a shard is held by another process.
        """
        if settings.uses_qdrant_edge:
            from jarvis.stores.qdrant_edge import QdrantEdgeStore

            return QdrantEdgeStore.open(settings)
        from jarvis.stores.qdrant_server import QdrantServerStore

        return QdrantServerStore.open(settings)

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def health(self) -> Health: ...

    @abstractmethod
    def ensure_collections(self) -> list[str]:
        """Create the seed's collections (384-d, cosine/euclid) where missing."""

    # -- projection writes and reads --------------------------------------------------------
    @abstractmethod
    def upsert(self, name: str, points: Sequence[Point]) -> None:
        """*points*: (id, vector, payload); idempotent by id."""

    @abstractmethod
    def delete(self, name: str, ids: list[str]) -> None: ...

    def query(
        self,
        name: str,
        vector: Sequence[float],
        *,
        limit: int,
        must: dict[str, Any] | None = None,
        conditions: list[tuple[str, str, Any]] | None = None,
    ) -> list[tuple[str, float, dict[str, Any]]]:
        """(id, score, payload) best first; *must* is {payload field: value} equality, *conditions*
        are :meth:`SearchFilter.qdrant_conditions` (``(field, "eq", value)`` or a numeric bound)."""
        wanted = [(k, "eq", v) for k, v in (must or {}).items()] + list(conditions or [])
        return self._nearest(name, [float(x) for x in vector], limit=limit, wanted=wanted)

    @abstractmethod
    def _nearest(
        self, name: str, vector: list[float], *, limit: int, wanted: list[tuple[str, str, Any]]
    ) -> list[tuple[str, float, dict[str, Any]]]:
        """The engine's own query: *wanted* are ``(field, "eq", value)`` or ``(field, bound, number)``."""

    @abstractmethod
    def ids(self, name: str) -> set[str]: ...

    @abstractmethod
    def present(self, name: str, ids: list[str]) -> set[str]:
        """Which of *ids* the collection holds (an erasure's final check), retrieved by id."""

    @abstractmethod
    def versions(self, name: str, ids: list[str]) -> dict[str, int]:
        """The ``row_version`` payload of each of *ids* that the collection holds with one."""

    @abstractmethod
    def points(self, name: str) -> Iterator[Point]:
        """Every point of a collection as (id, vector, payload), in pages."""

    @abstractmethod
    def reset(self, name: str) -> None:
        """Drop and recreate one collection (for a rebuild)."""

    @abstractmethod
    def flush(self) -> None: ...

    def clear(self) -> None:
        """Drop and recreate every collection (for a rebuild)."""
        for spec in COLLECTIONS:
            self.reset(spec.name)

    def collections(self) -> list[str]:
        return [spec.name for spec in COLLECTIONS]

    # -- staging, for a restore that swaps only once everything loaded -----------------------
    @abstractmethod
    def create_collection(self, name: str, *, like: str) -> None:
        """A new, empty collection shaped like the seed's collection *like* (a staging copy)."""

    @abstractmethod
    def rename(self, name: str, new_name: str) -> None: ...

    @abstractmethod
    def drop(self, name: str) -> None:
        """Delete a collection (a staging or previous copy) if it exists."""

    @abstractmethod
    def count(self, name: str) -> int: ...

    @abstractmethod
    def collection_shape(self, name: str) -> tuple[int, str]:
        """(vector size, distance) as the engine reports them, e.g. ``(384, "Cosine")``."""

    # -- backup and restore (jarvis/stores/qdrant_backup.py) ----------------------------------
    def export(self, directory: Path) -> dict[str, int]:
        """Every point of every collection into ``qdrant.<collection>.jsonl``; points per collection."""
        from jarvis.stores import qdrant_backup

        return qdrant_backup.export_qdrant(self, directory)

    def backup_rows(self, directory: Path, name: str) -> Iterator[dict[str, Any]]:
        from jarvis.stores import qdrant_backup

        return qdrant_backup.qdrant_rows(directory, name)

    def load_rows(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.upsert(name, [(r["id"], r["vector"], r["payload"]) for r in rows])


def probe(settings: Settings) -> Health:
    """Edge: open each shard and count (a shard held by a live process counts as up)."""

    def query() -> str | None:
        try:
            store = QdrantStore.connect(settings)
        except ShardInUse:
            return f"qdrant-edge {package_version('qdrant-edge-py')} (open in another process)"
        try:
            health = store.health()
        finally:
            store.close()
        if not health.up:
            raise StoreUnavailable(STORE, health.detail or "query failed")
        return health.version

    if settings.uses_qdrant_edge and is_stopped(settings):
        return Health(store=STORE, up=False, detail="stopped by `jarvis down`")
    return measure(STORE, query)
