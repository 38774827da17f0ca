"""Every store's health at once: what `jarvis status` prints and `/health` returns."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from jarvis.config import Settings
from jarvis.stores import chroma, neo4j, postgres, qdrant, redis
from jarvis.stores.base import ALL_STORES, Health, StoreName

PROBES: dict[StoreName, Callable[[Settings], Health]] = {
    StoreName.POSTGRES: postgres.probe,
    StoreName.REDIS: redis.probe,
    StoreName.NEO4J: neo4j.probe,
    StoreName.CHROMA: chroma.probe,
    StoreName.QDRANT: qdrant.probe,
}


def check_all(settings: Settings) -> list[Health]:
    """One real query per store, concurrently, in the order of ``ALL_STORES``."""
    with ThreadPoolExecutor(max_workers=len(ALL_STORES)) as pool:
        return list(pool.map(lambda name: PROBES[name](settings), ALL_STORES))
