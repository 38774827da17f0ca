"""The embedded local stack: real PostgreSQL, Redis, Neo4j, Chroma and Qdrant, no Docker.

``up`` is idempotent and returns only when each store answers a real query; ``down`` stops
only what ``up`` started. Health is asked of every store by :mod:`jarvis.stores.health`.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from jarvis.config import Settings
from jarvis.stores.base import ALL_STORES, StoreName
from jarvis.errors import StoreStartError
from jarvis.local import chroma, neo4j, postgres, qdrant, redis

LAUNCHERS = {
    StoreName.POSTGRES: postgres,
    StoreName.REDIS: redis,
    StoreName.NEO4J: neo4j,
    StoreName.CHROMA: chroma,
    StoreName.QDRANT: qdrant,
}


@dataclass(frozen=True, slots=True)
class Outcome:
    store: str
    action: str  # "started", "already up", "external", "stopped", "not running"


def _select(stores: Iterable[str] | None) -> list[str]:
    chosen = list(stores) if stores else list(ALL_STORES)
    unknown = [s for s in chosen if s not in LAUNCHERS]
    if unknown:
        raise ValueError(f"unknown store {unknown[0]!r}; choose from {', '.join(ALL_STORES)}")
    return chosen


def up(settings: Settings, stores: Iterable[str] | None = None, *, all_or_none: bool = False) -> list[Outcome]:
    """Start the chosen stores (all by default) concurrently and wait until each answers.

    With *all_or_none*, a store that does not start stops the others this call started before
    the error is raised: a test session that cannot have its whole stack leaves nothing of it
    running (``jarvis up`` keeps what started, and says what did not).

    Raises:
        StoreStartError: one or more stores did not start; the message has each one's log tail.
    """
    chosen = _select(stores)
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        futures = {name: pool.submit(LAUNCHERS[name].start, settings) for name in chosen}
    outcomes, failures = [], []
    for name, future in futures.items():
        try:
            outcomes.append(Outcome(name, future.result()))
        except StoreStartError as exc:
            failures.append(str(exc))
    if failures:
        started = [outcome.store for outcome in outcomes if outcome.action == "started"]
        if all_or_none and started:  # (no stores named is every store, to down)
            down(settings, started)
        raise StoreStartError("local stack", "\n\n".join(failures))
    return outcomes


def down(settings: Settings, stores: Iterable[str] | None = None) -> list[Outcome]:
    """Stop the chosen stores that ``up`` started; leave everything else alone."""
    return [Outcome(name, LAUNCHERS[name].stop(settings)) for name in _select(stores)]
