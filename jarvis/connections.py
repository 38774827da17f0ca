"""The five stores as one object, connected lazily and reconnected after an outage.

PostgreSQL is required (the system of record). The API holds it twice: ``postgres`` as the
service role (every user's rows, for service keys, the projector and the key check) and
``user_postgres`` as the role that row-level security confines to one user (for user-bound
keys); in-process there is one pool, the owner's, and ``user_postgres`` is None. The projections are reached through
``get(name)``, typed by the store's role (:class:`~jarvis.stores.base.GraphStore`,
:class:`~jarvis.stores.base.DocumentStore`, :class:`~jarvis.stores.base.PointStore`), which
raises :class:`StoreUnavailable` instead of hanging when a store is down, so a caller can carry
on without it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal, overload

from jarvis.clock import SYSTEM_CLOCK, Clock
from jarvis.config import Settings
from jarvis.errors import StoreUnavailable
from jarvis.principal import EVERY_USER, NOBODY, Principal
from jarvis.stores import qdrant as qdrant_module
from jarvis.stores.base import (
    PROJECTION_STORES,
    CacheStore,
    DocumentStore,
    GraphStore,
    Health,
    PointStore,
    ProjectionStore,
    StoreName,
)
from jarvis.stores.chroma import ChromaStore
from jarvis.stores.neo4j import Neo4jStore
from jarvis.stores.postgres import PostgresStore
from jarvis.stores.qdrant import QdrantStore
from jarvis.stores.redis import RedisStore

#: How each projection store is connected (the registry's one table).
_CONNECTORS: dict[StoreName, Callable[[Settings], ProjectionStore]] = {
    StoreName.NEO4J: Neo4jStore.connect,
    StoreName.CHROMA: ChromaStore.connect,
    StoreName.QDRANT: QdrantStore.connect,
}


class Stores:
    """Holds one client per store. ``close()`` twice is harmless."""

    def __init__(
        self,
        settings: Settings,
        *,
        postgres: PostgresStore | None = None,
        user_postgres: PostgresStore | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self.clock = clock  # see jarvis.clock: what the queue scripts, requeue and expiry checks call "now"
        self.postgres = postgres or PostgresStore.connect(settings)
        self.user_postgres = user_postgres
        self.redis: CacheStore = RedisStore.connect(settings, clock=clock)
        self._projections: dict[StoreName, ProjectionStore] = {}
        self._lock = threading.Lock()

    def postgres_for(self, who: Principal | None) -> tuple[PostgresStore, Principal]:
        """The pool a call by *who* runs on, and the principal its transactions name.

        A call bound to a user runs on ``user_postgres`` when there is one, so PostgreSQL itself
        confines it. A call that named no principal acts for every user in-process, and for
        nobody when the API's user pool exists: forgetting to name the principal hides rows
        instead of showing everyone's.
        """
        if who is None:
            who = NOBODY if self.user_postgres is not None else EVERY_USER
        if who.bound and self.user_postgres is not None:
            return self.user_postgres, who
        return self.postgres, who

    @overload
    def get(self, name: Literal[StoreName.NEO4J]) -> GraphStore: ...

    @overload
    def get(self, name: Literal[StoreName.CHROMA]) -> DocumentStore: ...

    @overload
    def get(self, name: Literal[StoreName.QDRANT]) -> PointStore: ...

    @overload
    def get(self, name: StoreName | str) -> ProjectionStore: ...

    def get(self, name: StoreName | str) -> ProjectionStore:
        """The connected client of a projection store, typed by its role.

        Raises:
            StoreUnavailable: the store cannot be reached now.
            ValueError: *name* is not a projection store.
        """
        name = StoreName(name)
        if name not in _CONNECTORS:
            raise ValueError(f"{name} is not a projection store; choose from {', '.join(PROJECTION_STORES)}")
        if name is StoreName.QDRANT and self.settings.uses_qdrant_edge and qdrant_module.is_stopped(self.settings):
            self.forget(name)
            raise StoreUnavailable(name, "stopped (`jarvis up --store qdrant` restarts it)")
        with self._lock:
            store = self._projections.get(name)
            if store is None:
                store = _CONNECTORS[name](self.settings)
                self._projections[name] = store
            return store

    def check_postgres(self) -> None:
        """After PostgreSQL went away: replace the dead idle connections of every pool of this
        process (the pool that met the error and its sibling), so the next request succeeds."""
        for store in (self.postgres, self.user_postgres):
            if store is not None:
                store.check_idle()

    def health(self) -> list[Health]:
        """Each store's health through this process's own clients (an in-process Qdrant Edge
        cannot be probed from outside while we hold it)."""
        report = [self.postgres.health(), self.redis.health()]
        for name in PROJECTION_STORES:
            try:
                health = self.get(name).health()
            except StoreUnavailable as exc:
                health = Health(store=name, up=False, detail=str(exc))
            if not health.up:
                self.forget(name)
            report.append(health)
        return report

    def forget(self, name: StoreName | str) -> None:
        """Drop a client after an outage so the next ``get`` reconnects."""
        with self._lock:
            store = self._projections.pop(StoreName(name), None)
        if store is not None:
            try:
                store.close()
            except Exception:  # noqa: BLE001 - closing a broken client may fail; it is gone either way
                pass

    def close(self) -> None:
        for name in list(self._projections):
            self.forget(name)
        self.redis.close()
        if self.user_postgres is not None:
            self.user_postgres.close()
        self.postgres.close()
