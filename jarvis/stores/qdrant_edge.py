"""Qdrant Edge: the Qdrant engine in-process, one shard per collection under ``<data dir>/qdrant``.

A shard belongs to one process at a time (its WAL is locked): every store object of this
process shares one set of open shards, closed when the last of them closes.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator, Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, cast

import qdrant_edge as edge

from jarvis.config import Settings
from jarvis.errors import StoreUnavailable
from jarvis.stores.base import Health, Point, measure
from jarvis.stores.qdrant import (
    COLLECTIONS,
    DIMENSION,
    STOPPED_MARKER,
    STORE,
    QdrantStore,
    ShardInUse,
    is_stopped,
    spec_for,
)

_EDGE_LOCK = threading.Lock()
_EDGE_SHARDS: dict[Path, list[Any]] = {}  # path -> [shards by collection, handles open]


class QdrantEdgeStore(QdrantStore):
    """The shards of this process's data directory. ``close()`` twice is harmless."""

    def __init__(self, *, shards: dict[str, Any], path: Path) -> None:
        self._shards = shards  # collection name -> EdgeShard
        self._path: Path | None = path

    @classmethod
    def open(cls, settings: Settings) -> QdrantEdgeStore:
        """Open the shards that exist (creating none).

        Raises:
            StoreUnavailable: Edge is marked stopped, or a shard is held by another process.
        """
        if is_stopped(settings):
            raise StoreUnavailable(STORE, f"stopped (marker {settings.qdrant_path / STOPPED_MARKER})")
        path = settings.qdrant_path.resolve()
        with _EDGE_LOCK:
            # One process, one set of open shards: every store object of this process shares them.
            shared = _EDGE_SHARDS.get(path)
            if shared is None:
                shards: dict[str, Any] = {}
                try:
                    for spec in COLLECTIONS:
                        if (path / spec.name / "edge_config.json").exists():
                            shards[spec.name] = _load_shard(path / spec.name)
                except StoreUnavailable:
                    for shard in shards.values():
                        shard.close()
                    raise
                shared = _EDGE_SHARDS[path] = [shards, 0]
            shared[1] += 1
            return cls(shards=shared[0], path=path)

    def close(self) -> None:
        """Release this handle; the shards close when the process's last handle does."""
        if self._path is None:
            return
        with _EDGE_LOCK:
            shared = _EDGE_SHARDS.get(self._path)
            if shared is not None and shared[0] is self._shards:
                shared[1] -= 1
                if shared[1] <= 0:
                    for shard in shared[0].values():
                        shard.close()
                    del _EDGE_SHARDS[self._path]
            self._path = None

    @property
    def path(self) -> Path:
        if self._path is None:
            raise StoreUnavailable(STORE, "this Qdrant Edge handle is closed")
        return self._path

    def health(self) -> Health:
        def query() -> str:
            for shard in self._shards.values():
                shard.count(edge.CountRequest(exact=False))
            return f"qdrant-edge {package_version('qdrant-edge-py')}"

        return measure(STORE, query)

    def ensure_collections(self) -> list[str]:
        for spec in COLLECTIONS:
            if spec.name not in self._shards:
                self._shards[spec.name] = edge.EdgeShard.create(str(self.path / spec.name), _config(spec.distance))
        return [spec.name for spec in COLLECTIONS]

    # -- projection writes and reads --------------------------------------------------------
    def upsert(self, name: str, points: Sequence[Point]) -> None:
        self._shard(name).update(
            edge.UpdateOperation.upsert_points(
                [edge.Point(id=i, vector=[float(x) for x in v], payload=p) for i, v, p in points]
            )
        )

    def delete(self, name: str, ids: list[str]) -> None:
        self._shard(name).update(edge.UpdateOperation.delete_points(cast(Any, ids)))

    def _nearest(
        self, name: str, vector: list[float], *, limit: int, wanted: list[tuple[str, str, Any]]
    ) -> list[tuple[str, float, dict[str, Any]]]:
        condition = (
            edge.Filter(
                must=[
                    edge.FieldCondition(key=k, match=edge.MatchValue(v))
                    if op == "eq"
                    else edge.FieldCondition(key=k, range=edge.RangeFloat(**{op: v}))
                    for k, op, v in wanted
                ]
            )
            if wanted
            else None
        )
        hits = self._shard(name).query(
            edge.QueryRequest(
                query=edge.Query.Nearest(vector),
                limit=limit,
                filter=condition,
                with_payload=True,
            )
        )
        return [(str(h.id), float(h.score), h.payload or {}) for h in hits]

    def ids(self, name: str) -> set[str]:
        found: set[str] = set()
        offset = None
        shard = self._shard(name)
        while True:
            points, offset = shard.scroll(
                edge.ScrollRequest(offset=offset, limit=5000, with_payload=False, with_vector=False)
            )
            found.update(str(p.id) for p in points)
            if offset is None:
                return found

    def present(self, name: str, ids: list[str]) -> set[str]:
        found = self._shard(name).retrieve(point_ids=cast(Any, ids), with_payload=False, with_vector=False)
        return {str(p.id) for p in found} & set(ids)

    def versions(self, name: str, ids: list[str]) -> dict[str, int]:
        found = self._shard(name).retrieve(point_ids=cast(Any, ids), with_payload=True, with_vector=False)
        return {
            str(p.id): int(p.payload["row_version"])
            for p in found
            if p.payload and isinstance(p.payload.get("row_version"), int)
        }

    def points(self, name: str) -> Iterator[Point]:
        shard, offset = self._shard(name), None
        while True:
            page, offset = shard.scroll(
                edge.ScrollRequest(offset=offset, limit=1000, with_payload=True, with_vector=True)
            )
            for p in page:
                yield str(p.id), [float(x) for x in _plain_vector(p.vector)], p.payload or {}
            if offset is None:
                return

    def reset(self, name: str) -> None:
        with _EDGE_LOCK:
            self._shards.pop(name).close()
        shutil.rmtree(self.path / name)
        self.ensure_collections()

    def flush(self) -> None:
        for shard in self._shards.values():
            shard.flush()

    # -- staging, for a restore that swaps only once everything loaded -----------------------
    def create_collection(self, name: str, *, like: str) -> None:
        config = _config(spec_for(like).distance)
        with _EDGE_LOCK:
            self._shards[name] = edge.EdgeShard.create(str(self.path / name), config)

    def rename(self, name: str, new_name: str) -> None:
        """Close the shard, rename its directory, open it again under the new name (a rename is
        atomic on one file system)."""
        with _EDGE_LOCK:
            shard = self._shards.pop(name)
            shard.flush()
            shard.close()
            (self.path / name).rename(self.path / new_name)
            self._shards[new_name] = _load_shard(self.path / new_name)

    def drop(self, name: str) -> None:
        with _EDGE_LOCK:
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
        shutil.rmtree(self.path / name, ignore_errors=True)

    def count(self, name: str) -> int:
        return int(self._shard(name).count(edge.CountRequest(exact=True)))

    def collection_shape(self, name: str) -> tuple[int, str]:
        config = json.loads((self.path / name / "edge_config.json").read_text())
        vector = config["vectors"][""]
        return int(vector["size"]), str(vector["distance"])

    def _shard(self, name: str) -> Any:
        try:
            return self._shards[name]
        except KeyError:
            raise StoreUnavailable(STORE, f"collection {name!r} does not exist; run `jarvis migrate`") from None


def _config(distance: str) -> Any:
    return edge.EdgeConfig(vectors=edge.EdgeVectorParams(size=DIMENSION, distance=getattr(edge.Distance, distance)))


def _plain_vector(vector: Any) -> Any:
    """Edge returns the default (unnamed) vector either bare or under the name ''."""
    return vector[""] if isinstance(vector, dict) else vector


def _load_shard(path: Path) -> Any:
    try:
        return edge.EdgeShard.load(str(path))
    except Exception as exc:  # qdrant_edge raises a bare Exception
        if "WouldBlock" in str(exc):
            raise ShardInUse(
                STORE, f"shard {path.name} is open in another process (Qdrant Edge is single-process)"
            ) from None
        raise StoreUnavailable(STORE, f"cannot open shard {path.name}: {exc}") from None
