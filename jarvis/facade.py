"""``Jarvis``: the one API that agents, the HTTP layer and the jobs call.

It composes the areas in :mod:`jarvis.domain` over one :class:`~jarvis.connections.Stores`,
one embedder and one outbox projector, and owns no driver code. Every write enters through
PostgreSQL in one transaction with its outbox events and is then projected to Neo4j, Chroma
and Qdrant concurrently — waited for by default, or (``wait=False``) by the process's applier
just after the write returns; ``lagging`` lists the stores that have not caught up (the
projector retries them until they do).
"""

from __future__ import annotations

import time

from jarvis.access_counts import AccessCounts
from jarvis.clock import SYSTEM_CLOCK, Clock
from jarvis.config import Settings
from jarvis.connections import Stores
from jarvis.domain.activity import ActivityMixin
from jarvis.domain.agents import AgentsMixin
from jarvis.domain.browse import BrowseMixin
from jarvis.domain.erasure import ErasureMixin
from jarvis.domain.knowledge import KnowledgeMixin
from jarvis.domain.memory import MemoryMixin
from jarvis.domain.messages_batch import MessageBatchMixin
from jarvis.domain.search import SearchMixin
from jarvis.domain.tasks import Lease, TasksMixin
from jarvis import embedding_space
from jarvis.embeddings import Embedder
from jarvis.projection.applier import Applied
from jarvis.projection.projector import Projector
from jarvis.stores.base import Health
from jarvis.stores.postgres import PostgresStore

__all__ = ["Jarvis", "Lease"]


class Jarvis(
    AgentsMixin,
    TasksMixin,
    MemoryMixin,
    KnowledgeMixin,
    ActivityMixin,
    MessageBatchMixin,
    SearchMixin,
    ErasureMixin,
    BrowseMixin,
):
    """Memory and knowledge for agents, over five stores. Use as a context manager or ``close()``."""

    def __init__(
        self, *, settings: Settings, stores: Stores, projector: Projector, embedder: Embedder | None = None
    ) -> None:
        self.settings = settings
        self.stores = stores
        self.projector = projector
        self._embedder = embedder
        self._space_checked, self._space_retry_at = False, 0.0
        self.access_counts = AccessCounts(stores.postgres)

    @property
    def embedder(self) -> Embedder:
        """The process's embedder, loaded on first use: workers that only move tasks never load it.

        Before its first use it is checked against the kind of vectors the store holds
        (:mod:`jarvis.embedding_space`): ConfigurationError if they differ, so fp32 and int8
        vectors are never mixed. With PostgreSQL down the check waits for the next call."""
        if self._embedder is None:
            self._embedder = Embedder.shared(backend=self.settings.embedder, cache_dir=self.settings.cache_dir)
        if not self._space_checked and time.monotonic() >= self._space_retry_at:
            # PostgreSQL down: nothing is written without it; check again in a few seconds
            self._space_checked = embedding_space.check_if_reachable(
                self.stores.postgres, family=self._embedder.family, backend=self._embedder.backend
            )
            self._space_retry_at = time.monotonic() + 5.0
        return self._embedder

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        as_api: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> "Jarvis":
        """Connect to the stores named by *settings* (default: the environment). With *as_api*,
        PostgreSQL is reached as the API's two roles: the service role for calls that act for
        every user, and the role row-level security confines to one user for user-bound calls.
        *clock* decides leases, retry delays and expiries (:mod:`jarvis.clock`; tests move it).

        Raises:
            StoreUnavailable: PostgreSQL, the system of record, cannot be reached.
        """
        settings = settings or Settings.from_env()
        postgres = user_postgres = None
        if as_api:
            postgres = PostgresStore.connect(settings, conninfo=settings.service_postgres_conninfo, wait=False)
            user_postgres = PostgresStore.connect(settings, conninfo=settings.api_postgres_conninfo, wait=False)
        stores = Stores(settings, postgres=postgres, user_postgres=user_postgres, clock=clock)
        return cls(settings=settings, stores=stores, embedder=embedder, projector=Projector(stores))

    def close(self) -> None:
        self.access_counts.flush()
        self.projector.close()
        self.stores.close()

    def __enter__(self) -> "Jarvis":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sync(self, *, max_rounds: int | None = None) -> tuple[Applied, int]:
        """Retry every pending outbox event once it is due; return (what was done, still pending)."""
        return self.projector.drain(max_rounds=max_rounds)

    def health(self) -> list[Health]:
        """Every store's health, in ``ALL_STORES`` order, through this facade's own clients."""
        return self.stores.health()
