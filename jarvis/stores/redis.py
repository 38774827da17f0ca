"""Redis (or Valkey): sessions, caches, queues, locks, messages. Never the only copy of anything durable.

Every key comes from :mod:`jarvis.stores.redis_keys`, with its TTL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import redis
import redis.asyncio

from jarvis.clock import SYSTEM_CLOCK, Clock
from jarvis.config import Settings
from jarvis.stores import redis_keys as keys
from jarvis.stores.base import Health, StoreName, measure, translate_errors
from jarvis.stores.redis_queue import FAILED, UNREACHABLE, AgentLocks, TaskQueues

if TYPE_CHECKING:
    from jarvis.stores.redis_backup import StagingDatabase

STORE = StoreName.REDIS


def client(settings: Settings, *, decode: bool = True) -> redis.Redis:
    """A client whose every call gives up after the connect timeout instead of hanging."""
    return redis.Redis.from_url(
        settings.redis_connection_url,
        socket_connect_timeout=settings.connect_timeout,
        socket_timeout=settings.connect_timeout,
        decode_responses=decode,
    )


def server_version(conn: redis.Redis) -> str:
    info = conn.info("server")
    if "valkey_version" in info:
        return f"valkey {info['valkey_version']}"
    return f"redis {info.get('redis_version', '?')}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _dump(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


P = TypeVar("P", bound="redis.client.Pipeline | redis.asyncio.client.Pipeline")


def queue_rate_limit(pipe: P, client_id: str, endpoint: str, window: int) -> P:
    """Queue one request's count on *pipe* (sync or asyncio, ``transaction=False``: one round
    trip, and EXPIRE NX makes the order harmless); :func:`rate_limit_answer` reads the reply."""
    key = keys.rate_limit(client_id, endpoint)
    pipe.incr(key)
    pipe.expire(key, window, nx=True)
    pipe.ttl(key)
    return pipe


def rate_limit_answer(replies: list[Any]) -> tuple[int, int]:
    """(requests in this window, seconds until it resets) from :func:`queue_rate_limit`'s replies."""
    count, _, ttl = replies
    return int(count), max(int(ttl), 1)


@translate_errors(STORE, unreachable=UNREACHABLE, failed=FAILED)
class RedisStore:
    """A text client and a bytes client (voice audio). ``close()`` twice is harmless.

    Every method raises :class:`~jarvis.errors.StoreUnavailable` when Redis cannot be reached
    (and :class:`~jarvis.errors.StoreError` when it answers with an error), never redis-py's
    exceptions: callers catch ours to degrade."""

    def __init__(self, conn: redis.Redis, raw: redis.Redis, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.conn = conn
        self.raw = raw
        self.queues = TaskQueues(conn, clock=clock)
        self.locks = AgentLocks(conn)

    @classmethod
    def connect(cls, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> "RedisStore":
        return cls(client(settings), client(settings, decode=False), clock=clock)

    def close(self) -> None:
        self.conn.close()
        self.raw.close()

    def health(self) -> Health:
        return measure(STORE, lambda: server_version(self.conn))

    # -- backup and restore (jarvis/stores/redis_backup.py) -----------------------------------
    def export(self, directory: Path) -> dict[str, int]:
        """Every key into ``redis.jsonl`` as its DUMP payload and remaining time to live."""
        from jarvis.stores import redis_backup

        return {"keys": redis_backup.export_redis(self.raw, directory / redis_backup.REDIS_FILE)}

    def staging_database(self) -> StagingDatabase:
        """The logical database a restore loads into before swapping it in."""
        from jarvis.stores.redis_backup import StagingDatabase

        return StagingDatabase(self.raw)

    # -- plain keys (an erasure's) -----------------------------------------------------------
    def delete_keys(self, *names: str) -> int:
        """Delete *names*; how many existed."""
        return int(self.conn.delete(*names)) if names else 0

    def count_keys(self, *names: str) -> int:
        """How many of *names* exist."""
        return int(self.conn.exists(*names)) if names else 0

    def keys_matching(self, pattern: str) -> list[str]:
        """Every key matching the SCAN *pattern* (already escaped by :mod:`redis_keys`)."""
        return [str(name) for name in self.conn.scan_iter(match=pattern, count=1000)]

    def sessions_of(self, users: list[str], *, batch: int = 500) -> list[str]:
        """``session:*`` keys whose user is one of *users*: a session key names no user, its value
        does, so each is read (MGET in batches)."""
        if not users:
            return []
        wanted, found, names = set(users), [], self.keys_matching(keys.SESSIONS)
        for start in range(0, len(names), batch):
            chunk = names[start : start + batch]
            for name, raw in zip(chunk, self.conn.mget(chunk)):
                try:
                    if raw and json.loads(raw).get("user_id") in wanted:
                        found.append(name)
                except (ValueError, AttributeError):
                    continue
        return found

    # -- session:{id} (3600 s) ------------------------------------------------------
    def touch_session(
        self, session_id: str, *, user_id: str | None, agent_id: str | None, context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        key = keys.session(session_id)
        current = self.get_session(session_id) or {"created_at": _now(), "context": {}}
        current.update({"user_id": user_id, "agent_id": agent_id, "last_activity": _now()})
        if context:
            current["context"] = {**current.get("context", {}), **context}
        self.conn.set(key, _dump(current), ex=keys.SESSION_TTL)
        return current

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        raw = self.conn.get(keys.session(session_id))
        return json.loads(raw) if raw else None

    # -- agent:status:{id} (30 s) ---------------------------------------------------
    def set_agent_status(
        self,
        agent_id: str,
        *,
        status: str,
        current_task: str | None = None,
        resource_usage: dict[str, Any] | None = None,
    ) -> None:
        value = {
            "status": status,
            "last_heartbeat": _now(),
            "current_task": current_task,
            "resource_usage": resource_usage or {},
        }
        self.conn.set(keys.agent_status(agent_id), _dump(value), ex=keys.AGENT_STATUS_TTL)

    def get_agent_status(self, agent_id: str) -> dict[str, Any] | None:
        raw = self.conn.get(keys.agent_status(agent_id))
        return json.loads(raw) if raw else None

    def forget_agent_status(self, agent_id: str) -> None:
        self.conn.delete(keys.agent_status(agent_id))

    # -- metrics:realtime:{type}:{source} (300 s) --------------------------------------
    def set_realtime_metric(self, metric_type: str, source: str, value: float) -> None:
        self.conn.set(
            keys.metrics_realtime(metric_type, source),
            _dump({"value": value, "timestamp": _now()}),
            ex=keys.METRICS_TTL,
        )

    def get_realtime_metric(self, metric_type: str, source: str) -> dict[str, Any] | None:
        raw = self.conn.get(keys.metrics_realtime(metric_type, source))
        return json.loads(raw) if raw else None

    # -- model:cache:{name} (600 s) -------------------------------------------------
    def set_model_cache(self, model_name: str, *, loaded: bool, memory_usage_mb: float | None) -> None:
        value = {"loaded": loaded, "last_used": _now(), "memory_usage_mb": memory_usage_mb}
        self.conn.set(keys.model_cache(model_name), _dump(value), ex=keys.MODEL_CACHE_TTL)

    def get_model_cache(self, model_name: str) -> dict[str, Any] | None:
        raw = self.conn.get(keys.model_cache(model_name))
        return json.loads(raw) if raw else None

    # -- voice:buffer:{session} (60 s) ----------------------------------------------
    def append_voice(self, session_id: str, chunk: bytes) -> int:
        pipe = self.raw.pipeline()
        pipe.append(keys.voice_buffer(session_id), chunk)
        pipe.expire(keys.voice_buffer(session_id), keys.VOICE_BUFFER_TTL)
        return int(pipe.execute()[0])

    def take_voice(self, session_id: str) -> bytes:
        value = self.raw.getdel(keys.voice_buffer(session_id))
        return value if isinstance(value, bytes) else (value or "").encode()

    # -- agent:comm:{from}:{to} (300 s) and pub/sub -------------------------------------
    def send_message(self, from_agent: str, to_agent: str, message: dict[str, Any]) -> None:
        key = keys.agent_comm(from_agent, to_agent)
        envelope = {"from": from_agent, "to": to_agent, "sent_at": _now(), "message": message}
        pipe = self.conn.pipeline()
        pipe.lpush(key, _dump(envelope))
        pipe.expire(key, keys.AGENT_COMM_TTL)
        pipe.publish("inter_agent_communication", _dump(envelope))
        pipe.execute()

    def receive_messages(self, from_agent: str, to_agent: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Oldest first; received messages are removed."""
        items: list[str] = self.conn.rpop(keys.agent_comm(from_agent, to_agent), limit) or []  # type: ignore[assignment]
        return [json.loads(item) for item in items]

    def publish(self, channel: str, payload: dict[str, Any]) -> int:
        if channel not in keys.CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; choose from {', '.join(keys.CHANNELS)}")
        return int(self.conn.publish(channel, _dump(payload)))

    def subscribe(self, *channels: str, timeout: float = 1.0) -> Iterator[dict[str, Any] | None]:
        """Yield decoded messages from *channels* (None on each idle *timeout*)."""
        pubsub = self.conn.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(*(channels or keys.CHANNELS))
        try:
            while True:
                message = pubsub.get_message(timeout=timeout)
                yield None if message is None else {"channel": message["channel"], "data": json.loads(message["data"])}
        finally:
            pubsub.close()

    # -- rate:limit:{client}:{endpoint} (60 s window) -----------------------------------
    def hit_rate_limit(self, client_id: str, endpoint: str, *, window: int = keys.RATE_LIMIT_TTL) -> tuple[int, int]:
        """Count one request; return (requests in this window, seconds until it resets)."""
        return rate_limit_answer(
            queue_rate_limit(self.conn.pipeline(transaction=False), client_id, endpoint, window).execute()
        )

    # -- memory:cache:{agent}:{type}:{key} --------------------------------------------------
    def get_cached_memory(self, agent_id: str, memory_type: str, key: str) -> dict[str, Any] | None:
        raw = self.conn.get(keys.memory_cache(agent_id, memory_type, key))
        return json.loads(raw) if raw else None

    def cache_memory(self, agent_id: str, memory_type: str, key: str, value: dict[str, Any]) -> None:
        self.conn.set(keys.memory_cache(agent_id, memory_type, key), _dump(value), ex=keys.MEMORY_CACHE_TTL)

    def forget_memory(self, agent_id: str, memory_type: str, key: str) -> None:
        self.conn.delete(keys.memory_cache(agent_id, memory_type, key))


def probe(settings: Settings) -> Health:
    def query() -> str:
        with client(settings) as conn:
            conn.ping()
            return server_version(conn)

    return measure(STORE, query)
