"""A Qdrant server through ``qdrant-client`` (when ``JARVIS_QDRANT_URL`` is set).

Every call translates the client's errors into :class:`~jarvis.errors.StoreUnavailable` at
this boundary, so a Qdrant server that is down degrades a search instead of failing it with a
driver error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ParamSpec, TypeVar, cast

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ApiException, ResponseHandlingException, UnexpectedResponse

from jarvis.config import Settings
from jarvis.errors import StoreUnavailable
from jarvis.stores.base import Health, Point, first_line, measure
from jarvis.stores.qdrant import COLLECTIONS, DIMENSION, STORE, QdrantStore, spec_for

P = ParamSpec("P")
T = TypeVar("T")

#: What qdrant-client raises when the server is unreachable, refuses or answers garbage.
CLIENT_ERRORS: tuple[type[BaseException], ...] = (
    ApiException,
    ResponseHandlingException,
    UnexpectedResponse,
    httpx.HTTPError,
    OSError,
)


def _translated(method: Callable[P, T]) -> Callable[P, T]:
    @functools.wraps(method)
    def translated(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except CLIENT_ERRORS as exc:
            raise StoreUnavailable(STORE, f"server not usable: {type(exc).__name__}: {first_line(exc)}") from None

    return translated


def _vectors(distance: str) -> models.VectorParams:
    return models.VectorParams(size=DIMENSION, distance=models.Distance[distance.upper()])


class QdrantServerStore(QdrantStore):
    """One ``QdrantClient``. ``close()`` twice is harmless."""

    def __init__(self, client: QdrantClient) -> None:
        self._client: QdrantClient | None = client

    @classmethod
    def open(cls, settings: Settings) -> QdrantServerStore:
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return cls(
            QdrantClient(
                url=settings.qdrant_url,
                api_key=key,
                timeout=int(settings.connect_timeout) + 1,
                check_compatibility=False,
            )
        )

    @property
    def client(self) -> QdrantClient:
        if self._client is None:
            raise StoreUnavailable(STORE, "this Qdrant client is closed")
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def health(self) -> Health:
        def query() -> str:
            self.client.get_collections()
            return "qdrant server"

        return measure(STORE, query)

    @_translated
    def ensure_collections(self) -> list[str]:
        for spec in COLLECTIONS:
            if not self.client.collection_exists(spec.name):
                self.client.create_collection(spec.name, vectors_config=_vectors(spec.distance))
        return [spec.name for spec in COLLECTIONS]

    # -- projection writes and reads --------------------------------------------------------
    @_translated
    def upsert(self, name: str, points: Sequence[Point]) -> None:
        self.client.upsert(name, points=[models.PointStruct(id=i, vector=list(v), payload=p) for i, v, p in points])

    @_translated
    def delete(self, name: str, ids: list[str]) -> None:
        self.client.delete(name, points_selector=models.PointIdsList(points=list(ids)))

    @_translated
    def _nearest(
        self, name: str, vector: list[float], *, limit: int, wanted: list[tuple[str, str, Any]]
    ) -> list[tuple[str, float, dict[str, Any]]]:
        condition = (
            models.Filter(
                must=[
                    models.FieldCondition(key=k, match=models.MatchValue(value=v))
                    if op == "eq"
                    else models.FieldCondition(key=k, range=models.Range(**{op: v}))
                    for k, op, v in wanted
                ]
            )
            if wanted
            else None
        )
        hits = self.client.query_points(
            name, query=vector, limit=limit, query_filter=condition, with_payload=True
        ).points
        return [(str(h.id), float(h.score), h.payload or {}) for h in hits]

    @_translated
    def ids(self, name: str) -> set[str]:
        found: set[str] = set()
        offset = None
        while True:
            points, offset = self.client.scroll(name, limit=5000, offset=offset, with_payload=False)
            found.update(str(p.id) for p in points)
            if offset is None:
                return found

    @_translated
    def present(self, name: str, ids: list[str]) -> set[str]:
        found = self.client.retrieve(name, ids=cast(Any, ids), with_payload=False, with_vectors=False)
        return {str(p.id) for p in found} & set(ids)

    @_translated
    def versions(self, name: str, ids: list[str]) -> dict[str, int]:
        found = self.client.retrieve(name, ids=cast(Any, ids), with_payload=["row_version"], with_vectors=False)
        return {
            str(p.id): int(p.payload["row_version"])
            for p in found
            if p.payload and isinstance(p.payload.get("row_version"), int)
        }

    def points(self, name: str) -> Iterator[Point]:
        offset = None
        while True:
            page, offset = self._page(name, offset)
            for p in page:
                yield str(p.id), [float(x) for x in cast(list[float], p.vector)], p.payload or {}
            if offset is None:
                return

    @_translated
    def _page(self, name: str, offset: Any) -> tuple[list[models.Record], Any]:
        return self.client.scroll(name, limit=1000, offset=offset, with_payload=True, with_vectors=True)

    @_translated
    def reset(self, name: str) -> None:
        self.client.delete_collection(name)
        self.ensure_collections()

    def flush(self) -> None:
        """Nothing to do: the server persisted every write it answered."""

    # -- staging, for a restore that swaps only once everything loaded -----------------------
    @_translated
    def create_collection(self, name: str, *, like: str) -> None:
        self.client.create_collection(name, vectors_config=_vectors(spec_for(like).distance))

    @_translated
    def rename(self, name: str, new_name: str) -> None:
        """A server has no rename: the points are copied into a new collection, then the old one
        is deleted (not atomic; documented)."""
        self.create_collection(new_name, like=spec_for(name).name)
        batch: list[Point] = []
        for point in self.points(name):
            batch.append(point)
            if len(batch) == 1000:
                self.upsert(new_name, batch)
                batch = []
        if batch:
            self.upsert(new_name, batch)
        self.client.delete_collection(name)

    @_translated
    def drop(self, name: str) -> None:
        if self.client.collection_exists(name):
            self.client.delete_collection(name)

    @_translated
    def count(self, name: str) -> int:
        return int(self.client.count(name, exact=True).count)

    @_translated
    def collection_shape(self, name: str) -> tuple[int, str]:
        params = self.client.get_collection(name).config.params.vectors
        assert isinstance(params, models.VectorParams)  # ours are one unnamed vector
        return int(params.size), params.distance.value.capitalize()
