"""What every store module shares: the store names, the interface each kind of store offers
(one ``Protocol`` per role), the health report, and the translation of driver errors.

The domain, the projection package and the jobs reach the stores only through these protocols
(:class:`jarvis.connections.Stores` returns them typed), so what they call is visible here, and
a second engine for one role (Qdrant Edge and the Qdrant server) is a second class, not a
branch inside one.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from jarvis.errors import StoreError, StoreRefused, StoreUnavailable

if TYPE_CHECKING:
    from jarvis.stores.redis_backup import StagingDatabase
    from jarvis.stores.redis_queue import Delivery


class StoreName(StrEnum):
    """The five stores: the one home of their names (settings, health, the outbox's
    ``pending_stores``, backups, the CLI). A member equals its plain string."""

    POSTGRES = "postgres"
    REDIS = "redis"
    NEO4J = "neo4j"
    CHROMA = "chroma"
    QDRANT = "qdrant"


#: Every store, in the order reports list them.
ALL_STORES: tuple[StoreName, ...] = tuple(StoreName)
#: The stores that project PostgreSQL's rows: rebuilt from it, compared with it by ``verify``.
PROJECTION_STORES: tuple[StoreName, ...] = (StoreName.NEO4J, StoreName.CHROMA, StoreName.QDRANT)

#: A row as the projections read it from PostgreSQL (column name -> value).
Row = dict[str, Any]
#: A Qdrant point: (id, vector, payload).
Point = tuple[str, Sequence[float], dict[str, Any]]


# -- the interface, one protocol per role -----------------------------------------------------------
# Every method of every role raises StoreUnavailable (the store cannot be reached) or StoreError
# (it answered with an error), never a driver's exception: callers catch ours to degrade.
class Store(Protocol):
    """What every store client offers: ``close()`` twice is harmless; ``health()`` never raises."""

    def close(self) -> None: ...

    def health(self) -> Health: ...


class ProjectionStore(Store, Protocol):
    """A store that holds a projection of PostgreSQL (Neo4j, Chroma, Qdrant): emptied and
    refilled by a rebuild, and exported by a backup. Every method raises
    :class:`~jarvis.errors.StoreError` (never a driver's exception) when the store fails."""

    def clear(self) -> None:
        """Empty the whole projection (before a rebuild writes every row again)."""

    def flush(self) -> None:
        """Make what was written durable now (an in-process engine); a server already did."""

    def export(self, directory: Path) -> dict[str, int]:
        """Write the store's content into *directory* (backup files); return items per file group."""


class GraphStore(ProjectionStore, Protocol):
    """Neo4j: nodes keyed by their PostgreSQL key, relationships between them, named queries."""

    def upsert_nodes(self, label: str, rows: list[dict[str, Any]]) -> None: ...

    def delete_nodes(self, label: str, node_keys: list[str]) -> None: ...

    def upsert_edges(
        self, rel: str, src_label: str, dst_label: str, rows: list[dict[str, Any]], *, require_endpoints: bool = True
    ) -> int: ...

    def delete_edges(self, rel: str, src_label: str, dst_label: str, rows: list[dict[str, Any]]) -> None: ...

    def node_keys(self, label: str) -> set[str]: ...

    def present(self, label: str, node_keys: list[str]) -> set[str]:
        """Which of *node_keys* have a *label* node, asked by key (not by listing the label)."""

    def edge_keys(self) -> set[tuple[str, str, str, str, str]]: ...

    def run_named(self, name: str, **params: object) -> list[dict[str, Any]]: ...

    # a restore (jarvis.jobs.staging): load beside the live graph, count, swap (batched, resumable)
    def stage(self, directory: Path) -> dict[str, int]: ...

    def staged_counts(self) -> dict[str, int]: ...

    def swap_staged(self) -> None: ...

    def drop_staged(self) -> None: ...

    def restore_swap_phase(self) -> str | None:
        """The phase of a restore's graph swap that was interrupted, or None (``status``, ``verify``)."""


class CollectionStore(ProjectionStore, Protocol):
    """Chroma or Qdrant: named vector collections of ids, and the staging copies a restore swaps."""

    def collections(self) -> list[str]:
        """The seed's collections, in order."""

    def ids(self, name: str) -> set[str]: ...

    def present(self, name: str, ids: list[str]) -> set[str]:
        """Which of *ids* collection *name* holds, asked by id (not by listing the collection)."""

    def versions(self, name: str, ids: list[str]) -> dict[str, int]:
        """The ``row_version`` each of *ids* carries in collection *name* (absent: not there, or
        written before versions existed)."""

    def delete(self, name: str, ids: list[str]) -> None: ...

    def reset(self, name: str) -> None:
        """Drop and recreate one collection (for a rebuild)."""

    def count(self, name: str) -> int: ...

    def create_collection(self, name: str, *, like: str) -> None: ...

    def rename(self, name: str, new_name: str) -> None: ...

    def drop(self, name: str) -> None: ...

    def backup_rows(self, directory: Path, name: str) -> Iterator[dict[str, Any]]:
        """The checked rows of collection *name* in a backup (a bad row raises naming its line)."""

    def load_rows(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Write rows read by :meth:`backup_rows` into collection *name*."""


class DocumentStore(CollectionStore, Protocol):
    """Chroma: documents with their vector and flat metadata."""

    def upsert(
        self,
        name: str,
        *,
        ids: list[str],
        embeddings: list[list[float]],
        documents: list[str],
        metadatas: list[dict[str, Any]],
    ) -> None: ...

    def query(
        self, name: str, vector: Sequence[float], *, limit: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]: ...


class PointStore(CollectionStore, Protocol):
    """Qdrant (Edge in-process, or a server): points with a vector and a payload."""

    def upsert(self, name: str, points: Sequence[Point]) -> None: ...

    def query(
        self,
        name: str,
        vector: Sequence[float],
        *,
        limit: int,
        must: dict[str, Any] | None = None,
        conditions: list[tuple[str, str, Any]] | None = None,
    ) -> list[tuple[str, float, dict[str, Any]]]: ...

    def points(self, name: str) -> Iterator[Point]: ...


class TaskQueue(Protocol):
    """Redis' task queues: at-least-once delivery with leases, on the server's clock."""

    def enqueue(self, task_id: str, priority: int) -> str: ...

    def enqueue_later(self, task_id: str, priority: int, *, delay: float) -> str: ...

    def dequeue(self, *, visibility_timeout: float) -> Delivery | None: ...

    def ack(self, delivery: Delivery) -> bool: ...

    def retry_later(self, delivery: Delivery, *, delay: float) -> bool: ...

    def extend(self, delivery: Delivery, *, visibility_timeout: float) -> bool: ...

    def depths(self) -> dict[str, int]: ...

    def known_task_ids(self) -> set[str]: ...

    def forget(self, task_ids: list[str]) -> int: ...


class LockTable(Protocol):
    """Redis' agent locks: only the holder's token releases or extends one."""

    def acquire(self, agent_id: str, holder: str, *, ttl: float = ...) -> bool: ...

    def release(self, agent_id: str, holder: str) -> bool: ...

    def extend(self, agent_id: str, holder: str, *, ttl: float = ...) -> bool: ...

    def holder(self, agent_id: str) -> str | None: ...


class CacheStore(Store, Protocol):
    """Redis: the ephemeral keys (sessions, statuses, metrics, caches, voice, messages, rate
    limits), pub/sub, and its :class:`TaskQueue` and :class:`LockTable`. Never the only copy
    of anything durable."""

    @property
    def queues(self) -> TaskQueue: ...

    @property
    def locks(self) -> LockTable: ...

    def touch_session(
        self, session_id: str, *, user_id: str | None, agent_id: str | None, context: dict[str, Any] | None = None
    ) -> dict[str, Any]: ...

    def get_session(self, session_id: str) -> dict[str, Any] | None: ...

    def set_agent_status(
        self,
        agent_id: str,
        *,
        status: str,
        current_task: str | None = None,
        resource_usage: dict[str, Any] | None = None,
    ) -> None: ...

    def get_agent_status(self, agent_id: str) -> dict[str, Any] | None: ...

    def forget_agent_status(self, agent_id: str) -> None: ...

    def set_realtime_metric(self, metric_type: str, source: str, value: float) -> None: ...

    def get_realtime_metric(self, metric_type: str, source: str) -> dict[str, Any] | None: ...

    def set_model_cache(self, model_name: str, *, loaded: bool, memory_usage_mb: float | None) -> None: ...

    def get_model_cache(self, model_name: str) -> dict[str, Any] | None: ...

    def append_voice(self, session_id: str, chunk: bytes) -> int: ...

    def take_voice(self, session_id: str) -> bytes: ...

    def send_message(self, from_agent: str, to_agent: str, message: dict[str, Any]) -> None: ...

    def receive_messages(self, from_agent: str, to_agent: str, *, limit: int = 100) -> list[dict[str, Any]]: ...

    def publish(self, channel: str, payload: dict[str, Any]) -> int: ...

    def subscribe(self, *channels: str, timeout: float = 1.0) -> Iterator[dict[str, Any] | None]: ...

    def hit_rate_limit(self, client_id: str, endpoint: str, *, window: int = ...) -> tuple[int, int]: ...

    def get_cached_memory(self, agent_id: str, memory_type: str, key: str) -> dict[str, Any] | None: ...

    def cache_memory(self, agent_id: str, memory_type: str, key: str, value: dict[str, Any]) -> None: ...

    def forget_memory(self, agent_id: str, memory_type: str, key: str) -> None: ...

    def delete_keys(self, *names: str) -> int: ...

    def count_keys(self, *names: str) -> int: ...

    def keys_matching(self, pattern: str) -> list[str]: ...

    def sessions_of(self, users: list[str], *, batch: int = ...) -> list[str]: ...

    def export(self, directory: Path) -> dict[str, int]: ...

    def staging_database(self) -> StagingDatabase: ...


@dataclass(frozen=True, slots=True)
class Health:
    """One store's answer to "are you there?": a real query's outcome and round trip."""

    store: str
    up: bool
    version: str | None = None
    latency_ms: float | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(store: str, query: Callable[[], str | None]) -> Health:
    """Run *query* (which returns the server version) and time it; any error means down.

    Errors are reported by class and message only: driver messages never carry passwords,
    but connection strings might, so nothing else is included.
    """
    started = time.perf_counter()
    try:
        version = query()
    except Exception as exc:  # noqa: BLE001 - a health probe reports every failure as "down"
        return Health(store=store, up=False, detail=f"{type(exc).__name__}: {first_line(exc)}")
    return Health(store=store, up=True, version=version, latency_ms=round((time.perf_counter() - started) * 1000, 2))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


@contextmanager
def map_unavailable(store: str, *errors: type[BaseException]) -> Iterator[None]:
    """Turn a driver's "cannot reach the server" errors into :class:`StoreUnavailable`."""
    try:
        yield
    except errors as exc:
        raise StoreUnavailable(store, f"not reachable: {type(exc).__name__}: {first_line(exc)}") from None


C = TypeVar("C", bound=type)


def translate_errors(
    store: str, *, unreachable: tuple[type[BaseException], ...], failed: tuple[type[BaseException], ...] = ()
) -> Callable[[C], C]:
    """Class decorator: every public method of the class raises our errors, never the driver's.

    *unreachable* errors become :class:`StoreUnavailable`, *failed* ones (the server answered
    and refused) :class:`StoreRefused`. Generator methods are translated while they are iterated.
    Callers therefore never wrap a store call to translate it.
    """

    def translate(exc: BaseException) -> StoreError:
        if isinstance(exc, unreachable):
            return StoreUnavailable(store, f"not reachable: {type(exc).__name__}: {first_line(exc)}")
        return StoreRefused(store, f"{type(exc).__name__}: {first_line(exc)}")

    caught = (*unreachable, *failed)

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(method):

            @functools.wraps(method)
            def generator(*args: Any, **kwargs: Any) -> Any:
                try:
                    return (yield from method(*args, **kwargs))
                except caught as exc:
                    raise translate(exc) from None

            return generator

        @functools.wraps(method)
        def translated(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except caught as exc:
                raise translate(exc) from None

        return translated

    def decorate(cls: C) -> C:
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(member):
                setattr(cls, name, wrap(member))
        return cls

    return decorate
