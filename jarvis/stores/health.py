"""Every store's health at once: what `jarvis status` prints and `/health` returns."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from jarvis.config import STORES, Settings
from jarvis.stores import chroma, neo4j, postgres, qdrant, redis
from jarvis.stores.base import Health

PROBES = {
    "postgres": postgres.probe,
    "redis": redis.probe,
    "neo4j": neo4j.probe,
    "chroma": chroma.probe,
    "qdrant": qdrant.probe,
}


def check_all(settings: Settings) -> list[Health]:
    """One real query per store, concurrently, in the order of ``STORES``."""
    with ThreadPoolExecutor(max_workers=len(STORES)) as pool:
        return list(pool.map(lambda name: PROBES[name](settings), STORES))
