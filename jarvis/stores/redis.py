"""Redis (or Valkey): sessions, caches, queues, locks. Never the only copy of anything durable."""

from __future__ import annotations

import redis

from jarvis.config import Settings
from jarvis.stores.base import Health, measure

STORE = "redis"


def client(settings: Settings) -> redis.Redis:
    """A client whose every call gives up after the connect timeout instead of hanging."""
    return redis.Redis.from_url(
        settings.redis_connection_url,
        socket_connect_timeout=settings.connect_timeout,
        socket_timeout=settings.connect_timeout,
        decode_responses=True,
    )


def server_version(conn: redis.Redis) -> str:
    info = conn.info("server")
    if "valkey_version" in info:
        return f"valkey {info['valkey_version']}"
    return f"redis {info.get('redis_version', '?')}"


class RedisStore:
    """One client (with its connection pool). ``close()`` twice is harmless."""

    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn

    @classmethod
    def connect(cls, settings: Settings) -> "RedisStore":
        return cls(client(settings))

    def close(self) -> None:
        self.conn.close()

    def health(self) -> Health:
        return measure(STORE, lambda: server_version(self.conn))


def probe(settings: Settings) -> Health:
    def query() -> str:
        with client(settings) as conn:
            conn.ping()
            return server_version(conn)

    return measure(STORE, query)
