"""The two Redis calls the API makes on its event loop, with ``redis.asyncio``: the rate limit
every request pays and the memory-cache read. Awaited there, a cached memory read needs no
trip through the thread pool; every other Redis call stays in :mod:`jarvis.stores.redis`.

Both answer ``None`` when Redis is unreachable (within the connect timeout, never a hang):
the API then serves without a limit, or reads the memory from PostgreSQL, and ``/health``
reports the outage.
"""

from __future__ import annotations

import asyncio
import json
import logging

import redis.asyncio

from jarvis.config import Settings
from jarvis.stores import redis_keys as keys
from jarvis.stores.redis import queue_rate_limit, rate_limit_answer

logger = logging.getLogger("jarvis.stores.redis")
UNREACHABLE = (redis.RedisError, OSError)


class AsyncRedis:
    """One ``redis.asyncio`` client per event loop (a client is bound to the loop that made
    its connections; test clients may run more than one loop in a process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn: redis.asyncio.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        if self._conn is None or self._loop is not loop:
            self._conn = redis.asyncio.Redis.from_url(
                self.settings.redis_connection_url,
                socket_connect_timeout=self.settings.connect_timeout,
                socket_timeout=self.settings.connect_timeout,
                decode_responses=True,
            )
            self._loop = loop
        return self._conn

    async def hit_rate_limit(self, client_id: str, endpoint: str, *, window: int) -> tuple[int, int] | None:
        """As :meth:`RedisStore.hit_rate_limit`; None if Redis cannot be reached."""
        try:
            pipe = queue_rate_limit(self._client().pipeline(transaction=False), client_id, endpoint, window)
            return rate_limit_answer(await pipe.execute())
        except UNREACHABLE as exc:
            logger.debug("rate limit skipped: %s", type(exc).__name__)
            return None

    async def get_cached_memory(self, agent_id: str, memory_type: str, key: str) -> dict | None:
        """The cached copy of one memory, as :meth:`RedisStore.get_cached_memory`; None if
        there is none or Redis cannot be reached."""
        try:
            raw = await self._client().get(keys.memory_cache(agent_id, memory_type, key))
        except UNREACHABLE as exc:
            logger.debug("memory cache skipped: %s", type(exc).__name__)
            return None
        return json.loads(raw) if raw else None

    async def close(self) -> None:
        if self._conn is not None and self._loop is asyncio.get_running_loop():
            await self._conn.aclose()
        self._conn = None
