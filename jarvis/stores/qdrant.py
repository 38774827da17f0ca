"""Qdrant: the payload-vector projection (agent capabilities, task patterns, user preferences).

Two engines behind one class: Qdrant Edge in-process (the default on the local stack: the
Qdrant engine itself, HNSW, one shard per collection under ``<data dir>/qdrant``), or a Qdrant
server through ``qdrant-client`` when ``JARVIS_QDRANT_URL`` is set.

An Edge shard belongs to one process at a time (its WAL is locked). ``jarvis down --store
qdrant`` therefore cannot stop a server; it leaves a ``STOPPED`` marker that makes every
process refuse to open the shards, which is what a fault drill needs.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path

from jarvis.config import Settings
from jarvis.errors import StoreUnavailable
from jarvis.stores.base import Health, first_line, measure

STORE = "qdrant"
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


_EDGE_LOCK = threading.Lock()
_EDGE_SHARDS: dict[Path, list] = {}  # path -> [shards by collection, handles open]


def _client_errors() -> tuple[type[BaseException], ...]:
    """What qdrant-client raises when the server is unreachable, refuses or answers garbage."""
    import httpx
    from qdrant_client.http.exceptions import ApiException, ResponseHandlingException, UnexpectedResponse

    return (ApiException, ResponseHandlingException, UnexpectedResponse, httpx.HTTPError, OSError)


def _server_errors_translated(method: Callable) -> Callable:
    """Translate the server client's errors into :class:`StoreUnavailable` at this boundary,
    so a Qdrant server that is down degrades a search instead of failing it with a driver error."""

    @functools.wraps(method)
    def translated(self: "QdrantStore", *args, **kwargs):
        if self._client is None:
            return method(self, *args, **kwargs)
        try:
            return method(self, *args, **kwargs)
        except _client_errors() as exc:
            raise StoreUnavailable(STORE, f"server not usable: {type(exc).__name__}: {first_line(exc)}") from None

    return translated


def is_stopped(settings: Settings) -> bool:
    return (settings.qdrant_path / STOPPED_MARKER).exists()


class QdrantStore:
    """The three collections on one engine. ``close()`` twice is harmless."""

    def __init__(self, *, shards: dict | None = None, client: object | None = None, path: Path | None = None):
        self._shards = shards  # Edge: collection name -> EdgeShard
        self._client = client  # server: qdrant_client.QdrantClient
        self._path = path

    @classmethod
    def connect(cls, settings: Settings) -> "QdrantStore":
        """Open the Edge shards (creating none) or a server client.

        Raises:
            StoreUnavailable: Edge is marked stopped, or a shard is held by another process.
        """
        if not settings.uses_qdrant_edge:
            from qdrant_client import QdrantClient

            key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
            return cls(client=QdrantClient(url=settings.qdrant_url, api_key=key, timeout=int(settings.connect_timeout) + 1,
                                            check_compatibility=False))
        if is_stopped(settings):
            raise StoreUnavailable(STORE, f"stopped (marker {settings.qdrant_path / STOPPED_MARKER})")
        path = settings.qdrant_path.resolve()
        with _EDGE_LOCK:
            # One process, one set of open shards: every store object of this process shares them.
            shared = _EDGE_SHARDS.get(path)
            if shared is None:
                shards = {}
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
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._shards is None or self._path is None:
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

    def health(self) -> Health:
        def query() -> str:
            if self._client is not None:
                self._client.get_collections()
                return "qdrant server"
            from qdrant_edge import CountRequest

            for shard in self._shards.values():
                shard.count(CountRequest(exact=False))
            return f"qdrant-edge {package_version('qdrant-edge-py')}"

        return measure(STORE, query)

    @_server_errors_translated
    def ensure_collections(self) -> list[str]:
        """Create the seed's collections (384-d, cosine/euclid) where missing."""
        if self._client is not None:
            from qdrant_client import models

            for spec in COLLECTIONS:
                if not self._client.collection_exists(spec.name):
                    self._client.create_collection(
                        spec.name,
                        vectors_config=models.VectorParams(size=DIMENSION, distance=models.Distance[spec.distance.upper()]),
                    )
            return [spec.name for spec in COLLECTIONS]
        import qdrant_edge as edge

        for spec in COLLECTIONS:
            if spec.name not in self._shards:
                config = edge.EdgeConfig(
                    vectors=edge.EdgeVectorParams(size=DIMENSION, distance=getattr(edge.Distance, spec.distance))
                )
                self._shards[spec.name] = edge.EdgeShard.create(str(self._path / spec.name), config)
        return [spec.name for spec in COLLECTIONS]

    # -- projection writes and reads --------------------------------------------------------
    @_server_errors_translated
    def upsert(self, name: str, points: list[tuple[str, list[float], dict]]) -> None:
        """*points*: (id, vector, payload); idempotent by id."""
        if self._client is not None:
            from qdrant_client import models

            self._client.upsert(name, points=[models.PointStruct(id=i, vector=list(v), payload=p) for i, v, p in points])
            return
        import qdrant_edge as edge

        shard = self._shard(name)
        shard.update(edge.UpdateOperation.upsert_points(
            [edge.Point(id=i, vector=[float(x) for x in v], payload=p) for i, v, p in points]
        ))

    @_server_errors_translated
    def delete(self, name: str, ids: list[str]) -> None:
        if self._client is not None:
            from qdrant_client import models

            self._client.delete(name, points_selector=models.PointIdsList(points=ids))
            return
        import qdrant_edge as edge

        self._shard(name).update(edge.UpdateOperation.delete_points(ids))

    @_server_errors_translated
    def query(self, name: str, vector, *, limit: int, must: dict | None = None,
              conditions: list[tuple[str, str, object]] | None = None) -> list[tuple[str, float, dict]]:
        """(id, score, payload) best first; *must* is {payload field: value} equality, *conditions*
        are :meth:`SearchFilter.qdrant_conditions` (``(field, "eq", value)`` or a numeric bound)."""
        wanted = [(k, "eq", v) for k, v in (must or {}).items()] + list(conditions or [])
        if self._client is not None:
            from qdrant_client import models

            condition = models.Filter(must=[
                models.FieldCondition(key=k, match=models.MatchValue(value=v)) if op == "eq"
                else models.FieldCondition(key=k, range=models.Range(**{op: v}))
                for k, op, v in wanted
            ]) if wanted else None
            hits = self._client.query_points(name, query=list(map(float, vector)), limit=limit,
                                             query_filter=condition, with_payload=True).points
            return [(str(h.id), float(h.score), h.payload or {}) for h in hits]
        import qdrant_edge as edge

        condition = edge.Filter(must=[
            edge.FieldCondition(key=k, match=edge.MatchValue(v)) if op == "eq"
            else edge.FieldCondition(key=k, range=edge.RangeFloat(**{op: v}))
            for k, op, v in wanted
        ]) if wanted else None
        hits = self._shard(name).query(edge.QueryRequest(
            query=edge.Query.Nearest([float(x) for x in vector]), limit=limit, filter=condition, with_payload=True,
        ))
        return [(str(h.id), float(h.score), h.payload or {}) for h in hits]

    @_server_errors_translated
    def ids(self, name: str) -> set[str]:
        found: set[str] = set()
        if self._client is not None:
            offset = None
            while True:
                points, offset = self._client.scroll(name, limit=5000, offset=offset, with_payload=False)
                found.update(str(p.id) for p in points)
                if offset is None:
                    return found
        offset = None
        shard = self._shard(name)
        while True:
            points, offset = shard.scroll(_scroll_request(offset))
            found.update(str(p.id) for p in points)
            if offset is None:
                return found

    def points(self, name: str):
        """Every point of a collection as (id, vector, payload), in pages."""
        if self._client is not None:
            offset = None
            while True:
                page, offset = self._server_page(name, offset)
                for p in page:
                    yield str(p.id), [float(x) for x in p.vector], p.payload or {}
                if offset is None:
                    return
        import qdrant_edge as edge

        shard, offset = self._shard(name), None
        while True:
            page, offset = shard.scroll(edge.ScrollRequest(offset=offset, limit=1000, with_payload=True, with_vector=True))
            for p in page:
                yield str(p.id), [float(x) for x in _plain_vector(p.vector)], p.payload or {}
            if offset is None:
                return

    @_server_errors_translated
    def _server_page(self, name: str, offset):
        return self._client.scroll(name, limit=1000, offset=offset, with_payload=True, with_vectors=True)

    @_server_errors_translated
    def reset(self, name: str) -> None:
        """Drop and recreate one collection (for a rebuild)."""
        if self._client is not None:
            self._client.delete_collection(name)
        else:
            import shutil

            with _EDGE_LOCK:
                self._shards.pop(name).close()
            shutil.rmtree(self._path / name)
        self.ensure_collections()

    def flush(self) -> None:
        for shard in (self._shards or {}).values():
            shard.flush()

    def clear(self) -> None:
        """Drop and recreate every collection (for a rebuild)."""
        for spec in COLLECTIONS:
            self.reset(spec.name)

    def collections(self) -> list[str]:
        return [spec.name for spec in COLLECTIONS]

    # -- staging, for a restore that swaps only once everything loaded -----------------------
    def create_collection(self, name: str, *, like: str) -> None:
        """A new, empty collection shaped like the seed's collection *like* (a staging copy)."""
        spec = next(s for s in COLLECTIONS if s.name == like)
        if self._client is not None:
            from qdrant_client import models

            self._client.create_collection(
                name, vectors_config=models.VectorParams(size=DIMENSION, distance=models.Distance[spec.distance.upper()]))
            return
        import qdrant_edge as edge

        config = edge.EdgeConfig(vectors=edge.EdgeVectorParams(size=DIMENSION, distance=getattr(edge.Distance, spec.distance)))
        with _EDGE_LOCK:
            self._shards[name] = edge.EdgeShard.create(str(self._path / name), config)

    def rename(self, name: str, new_name: str) -> None:
        """Edge: close the shard, rename its directory, open it again under the new name (a
        rename is atomic on one file system). A server has no rename: the points are copied
        into a new collection, then the old one is deleted (not atomic; documented)."""
        if self._client is not None:
            spec_name = next((s.name for s in COLLECTIONS if name.startswith(s.name)), None)
            self.create_collection(new_name, like=spec_name)
            batch: list = []
            for point in self.points(name):
                batch.append(point)
                if len(batch) == 1000:
                    self.upsert(new_name, batch)
                    batch = []
            if batch:
                self.upsert(new_name, batch)
            self._client.delete_collection(name)
            return
        with _EDGE_LOCK:
            shard = self._shards.pop(name)
            shard.flush()
            shard.close()
            (self._path / name).rename(self._path / new_name)
            self._shards[new_name] = _load_shard(self._path / new_name)

    def drop(self, name: str) -> None:
        """Delete a collection (a staging or previous copy) if it exists."""
        if self._client is not None:
            if self._client.collection_exists(name):
                self._client.delete_collection(name)
            return
        import shutil

        with _EDGE_LOCK:
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
        shutil.rmtree(self._path / name, ignore_errors=True)

    def count(self, name: str) -> int:
        if self._client is not None:
            return int(self._client.count(name, exact=True).count)
        import qdrant_edge as edge

        return int(self._shard(name).count(edge.CountRequest(exact=True)))

    def _shard(self, name: str):
        try:
            return self._shards[name]
        except KeyError:
            raise StoreUnavailable(STORE, f"collection {name!r} does not exist; run `jarvis migrate`") from None

    @_server_errors_translated
    def collection_shape(self, name: str) -> tuple[int, str]:
        """(vector size, distance) as the engine reports them, e.g. ``(384, "Cosine")``."""
        if self._client is not None:
            params = self._client.get_collection(name).config.params.vectors
            return int(params.size), params.distance.value.capitalize()
        config = json.loads((self._path / name / "edge_config.json").read_text())
        vector = config["vectors"][""]
        return int(vector["size"]), str(vector["distance"])


def _plain_vector(vector):
    """Edge returns the default (unnamed) vector either bare or under the name ''."""
    return vector[""] if isinstance(vector, dict) else vector


def _scroll_request(offset):
    import qdrant_edge as edge

    return edge.ScrollRequest(offset=offset, limit=5000, with_payload=False, with_vector=False)


def _load_shard(path: Path):
    import qdrant_edge as edge

    try:
        return edge.EdgeShard.load(str(path))
    except Exception as exc:  # qdrant_edge raises a bare Exception
        if "WouldBlock" in str(exc):
            raise StoreUnavailable(
                STORE, f"shard {path.name} is open in another process (Qdrant Edge is single-process)"
            ) from None
        raise StoreUnavailable(STORE, f"cannot open shard {path.name}: {exc}") from None


def probe(settings: Settings) -> Health:
    """Edge: open each shard and count (a shard held by a live process counts as up)."""

    def query() -> str:
        try:
            store = QdrantStore.connect(settings)
        except StoreUnavailable as exc:
            if "another process" in str(exc):
                return f"qdrant-edge {package_version('qdrant-edge-py')} (open in another process)"
            raise
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
