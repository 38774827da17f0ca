"""Task queues with at-least-once delivery, and token-checked agent locks, on Redis.

A delivered task moves atomically (one Lua script) from its priority list to the
``task:inflight`` sorted set, scored by its lease deadline; a task whose worker dies goes
back to the front of its queue once the deadline passes. Retries wait in ``task:delayed``.
All times are the Redis server's own clock (``TIME``), so workers' clocks do not matter; each
script adds the caller's :attr:`jarvis.clock.Clock.ahead` (0 but in tests, which move it instead
of sleeping).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis

from jarvis.clock import SYSTEM_CLOCK, Clock
from jarvis.stores import redis_keys as keys
from jarvis.stores.base import StoreName, translate_errors

#: redis-py's "cannot reach the server" errors, and the rest of its errors (the server answered).
UNREACHABLE: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)
FAILED: tuple[type[BaseException], ...] = (redis.RedisError,)

# Moves due members of a sorted set ("<queue>|<id>") back to the pop end of their queue.
_REQUEUE_DUE = """
local function requeue_due(zkey, now, limit, lease_prefix, drop_lease)
  local due = redis.call('ZRANGEBYSCORE', zkey, '-inf', now, 'LIMIT', 0, limit)
  for _, member in ipairs(due) do
    local sep = string.find(member, '|', 1, true)
    local queue = string.sub(member, 1, sep - 1)
    local id = string.sub(member, sep + 1)
    redis.call('ZREM', zkey, member)
    redis.call('RPUSH', queue, id)
    if drop_lease then redis.call('DEL', lease_prefix .. id) end
  end
end
local function now_ms(ahead_ms)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ahead_ms)
end
"""

# KEYS: high, medium, low, inflight, delayed. ARGV: visibility ms, token, lease key prefix, ahead ms.
DEQUEUE = (
    _REQUEUE_DUE
    + """
local now = now_ms(ARGV[4])
requeue_due(KEYS[5], now, 1000, ARGV[3], false)
requeue_due(KEYS[4], now, 1000, ARGV[3], true)
for i = 1, 3 do
  local id = redis.call('RPOP', KEYS[i])
  if id then
    redis.call('ZADD', KEYS[4], now + tonumber(ARGV[1]), KEYS[i] .. '|' .. id)
    redis.call('SET', ARGV[3] .. id, ARGV[2], 'PX', ARGV[1])
    return {id, KEYS[i]}
  end
end
return false
"""
)

# KEYS: inflight, lease. ARGV: member, token. Removes the delivery if the token still holds it.
ACK = """
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
"""

# KEYS: inflight, lease, delayed. ARGV: member, token, delay ms, ahead ms.
RETRY_LATER = (
    _REQUEUE_DUE
    + """
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], now_ms(ARGV[4]) + tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

# KEYS: delayed. ARGV: member, delay ms, ahead ms. A task that must wait out the rest of its retry delay.
ENQUEUE_LATER = (
    _REQUEUE_DUE
    + """
redis.call('ZADD', KEYS[1], now_ms(ARGV[3]) + tonumber(ARGV[2]), ARGV[1])
return 1
"""
)

# KEYS: inflight, lease. ARGV: member, token, visibility ms, ahead ms.
EXTEND_LEASE = (
    _REQUEUE_DUE
    + """
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], 'XX', now_ms(ARGV[4]) + tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

# KEYS: lock. ARGV: token.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lock. ARGV: token, ttl ms.
EXTEND_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

LEASE_PREFIX = keys.task_lease("")


@dataclass(frozen=True, slots=True)
class Delivery:
    """A task handed to one worker until ``deadline``; ``token`` proves who holds it."""

    task_id: str
    queue: str
    token: str

    @property
    def member(self) -> str:
        return f"{self.queue}|{self.task_id}"


@translate_errors(StoreName.REDIS, unreachable=UNREACHABLE, failed=FAILED)
class TaskQueues:
    def __init__(self, conn: redis.Redis, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.conn, self.clock = conn, clock
        self._dequeue = conn.register_script(DEQUEUE)
        self._ack = conn.register_script(ACK)
        self._retry = conn.register_script(RETRY_LATER)
        self._extend = conn.register_script(EXTEND_LEASE)
        self._later = conn.register_script(ENQUEUE_LATER)

    def enqueue(self, task_id: str, priority: int) -> str:
        queue = keys.queue_for_priority(priority)
        self.conn.lpush(queue, task_id)
        return queue

    def enqueue_later(self, task_id: str, priority: int, *, delay: float) -> str:
        """Queue a task after *delay* seconds (Redis' clock), through ``task:delayed``."""
        queue = keys.queue_for_priority(priority)
        self._later(keys=[keys.QUEUE_DELAYED], args=[f"{queue}|{task_id}", int(delay * 1000), self.clock.ahead_ms()])
        return queue

    def dequeue(self, *, visibility_timeout: float) -> Delivery | None:
        token = uuid.uuid4().hex
        found = self._dequeue(
            keys=[*keys.QUEUES, keys.QUEUE_INFLIGHT, keys.QUEUE_DELAYED],
            args=[int(visibility_timeout * 1000), token, LEASE_PREFIX, self.clock.ahead_ms()],
        )
        if not found:
            return None
        task_id, queue = found
        return Delivery(task_id=task_id, queue=queue, token=token)

    def ack(self, delivery: Delivery) -> bool:
        """Forget a finished delivery; False if its lease had already expired."""
        return bool(
            self._ack(
                keys=[keys.QUEUE_INFLIGHT, keys.task_lease(delivery.task_id)], args=[delivery.member, delivery.token]
            )
        )

    def retry_later(self, delivery: Delivery, *, delay: float) -> bool:
        return bool(
            self._retry(
                keys=[keys.QUEUE_INFLIGHT, keys.task_lease(delivery.task_id), keys.QUEUE_DELAYED],
                args=[delivery.member, delivery.token, int(delay * 1000), self.clock.ahead_ms()],
            )
        )

    def extend(self, delivery: Delivery, *, visibility_timeout: float) -> bool:
        return bool(
            self._extend(
                keys=[keys.QUEUE_INFLIGHT, keys.task_lease(delivery.task_id)],
                args=[delivery.member, delivery.token, int(visibility_timeout * 1000), self.clock.ahead_ms()],
            )
        )

    def depths(self) -> dict[str, int]:
        pipe = self.conn.pipeline(transaction=False)
        for queue in keys.QUEUES:
            pipe.llen(queue)
        pipe.zcard(keys.QUEUE_INFLIGHT)
        pipe.zcard(keys.QUEUE_DELAYED)
        names = [*keys.QUEUES, keys.QUEUE_INFLIGHT, keys.QUEUE_DELAYED]
        return dict(zip(names, pipe.execute()))

    def forget(self, task_ids: list[str]) -> int:
        """Take *task_ids* out of every queue, ``task:inflight``, ``task:delayed`` and their
        leases (tasks cancelled by an erasure); returns how many entries went. A worker that
        dequeues one meanwhile finds it cancelled in PostgreSQL and drops it."""
        if not task_ids:
            return 0
        pipe = self.conn.pipeline(transaction=False)
        for task_id in task_ids:
            for queue in keys.QUEUES:
                pipe.lrem(queue, 0, task_id)
            members = [f"{queue}|{task_id}" for queue in keys.QUEUES]
            pipe.zrem(keys.QUEUE_INFLIGHT, *members)
            pipe.zrem(keys.QUEUE_DELAYED, *members)
            pipe.delete(keys.task_lease(task_id))
        return sum(int(n) for n in pipe.execute())

    def known_task_ids(self) -> set[str]:
        """Every task id that is queued, delivered or waiting for a retry."""
        pipe = self.conn.pipeline(transaction=False)
        for queue in keys.QUEUES:
            pipe.lrange(queue, 0, -1)
        pipe.zrange(keys.QUEUE_INFLIGHT, 0, -1)
        pipe.zrange(keys.QUEUE_DELAYED, 0, -1)
        *lists, inflight, delayed = pipe.execute()
        found = {task_id for items in lists for task_id in items}
        found |= {member.split("|", 1)[1] for member in (*inflight, *delayed)}
        return found


@translate_errors(StoreName.REDIS, unreachable=UNREACHABLE, failed=FAILED)
class AgentLocks:
    """``lock:agent:{id}``: only the holder's token releases or extends it."""

    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn
        self._release = conn.register_script(RELEASE_LOCK)
        self._extend = conn.register_script(EXTEND_LOCK)

    def acquire(self, agent_id: str, holder: str, *, ttl: float = keys.LOCK_TTL) -> bool:
        return bool(self.conn.set(keys.agent_lock(agent_id), holder, nx=True, px=int(ttl * 1000)))

    def release(self, agent_id: str, holder: str) -> bool:
        return bool(self._release(keys=[keys.agent_lock(agent_id)], args=[holder]))

    def extend(self, agent_id: str, holder: str, *, ttl: float = keys.LOCK_TTL) -> bool:
        return bool(self._extend(keys=[keys.agent_lock(agent_id)], args=[holder, int(ttl * 1000)]))

    def holder(self, agent_id: str) -> str | None:
        found = self.conn.get(keys.agent_lock(agent_id))
        return None if found is None else str(found)
