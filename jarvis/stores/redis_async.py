"""The Redis call the API makes on its event loop, with ``redis.asyncio``: the rate limit every
request pays, carrying along the cache read of a route that serves from the cache (a memory
read), so that a cached read costs one round trip and no trip through the thread pool.
Every other Redis call stays in :mod:`jarvis.stores.redis`.

It answers ``None`` when Redis is unreachable (within the connect timeout, never a hang):
the API then serves without a limit, reads the memory from PostgreSQL, and ``/health``
reports the outage.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio

from jarvis.config import Settings
from jarvis.stores.redis import queue_rate_limit, rate_limit_answer
from jarvis.stores.redis_keys import rate_limit

#: The "endpoint" under which failed key lookups are counted per client address
#: (``rate:limit:addr:{address}:auth-failures``).
AUTH_FAILURES = "auth-failures"

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

    async def hit_rate_limit(
        self, client_id: str, endpoint: str, *, window: int, also_get: str | None = None
    ) -> tuple[int, int, str | None] | None:
        """As :meth:`RedisStore.hit_rate_limit`, plus the value at *also_get* (a cache key the
        route is about to read) in the same round trip; None if Redis cannot be reached."""
        try:
            pipe = queue_rate_limit(self._client().pipeline(transaction=False), client_id, endpoint, window)
            if also_get is not None:
                pipe.get(also_get)
            replies = await pipe.execute()
        except UNREACHABLE as exc:
            logger.debug("rate limit skipped: %s", type(exc).__name__)
            return None
        return (*rate_limit_answer(replies[:3]), replies[3] if also_get is not None else None)

    async def auth_failures(self, address: str) -> tuple[int, int] | None:
        """(failed key lookups from *address* in the current window, seconds until it resets);
        None if Redis cannot be reached."""
        key = rate_limit(f"addr:{address}", AUTH_FAILURES)
        try:
            pipe = self._client().pipeline(transaction=False)
            pipe.get(key)
            pipe.ttl(key)
            count, ttl = await pipe.execute()
        except UNREACHABLE as exc:
            logger.debug("auth failure limit skipped: %s", type(exc).__name__)
            return None
        return int(count or 0), max(int(ttl), 1)

    async def count_auth_failure(self, address: str, *, window: int) -> bool:
        """Count one failed key lookup from *address*; False if Redis cannot be reached."""
        try:
            await queue_rate_limit(
                self._client().pipeline(transaction=False), f"addr:{address}", AUTH_FAILURES, window
            ).execute()
        except UNREACHABLE as exc:
            logger.debug("auth failure not counted: %s", type(exc).__name__)
            return False
        return True

    async def close(self) -> None:
        if self._conn is not None and self._loop is asyncio.get_running_loop():
            await self._conn.aclose()
        self._conn = None
