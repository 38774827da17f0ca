"""Every Redis key pattern and TTL in one place (the seed's "Redis Schema").

Nothing else builds a key: callers use these functions, so a pattern has one home. The
``*_of_agent`` / ``*_of_key`` functions give the glob patterns an erasure scans for (every key
that names one agent or one API key); ids are escaped, so an id can never widen a pattern.
"""

from __future__ import annotations

from jarvis.vocabulary import Channel

SESSION_TTL = 3600
AGENT_STATUS_TTL = 30
METRICS_TTL = 300
MODEL_CACHE_TTL = 600
VOICE_BUFFER_TTL = 60
AGENT_COMM_TTL = 300
RATE_LIMIT_TTL = 60
LOCK_TTL = 30
MEMORY_CACHE_TTL = 300

QUEUE_HIGH = "task:queue:high"  # priority 8-10
QUEUE_MEDIUM = "task:queue:medium"  # priority 4-7
QUEUE_LOW = "task:queue:low"  # priority 1-3
QUEUES = (QUEUE_HIGH, QUEUE_MEDIUM, QUEUE_LOW)
#: Delivered but not yet acknowledged: member "<queue>|<task id>", score = lease deadline (ms).
QUEUE_INFLIGHT = "task:inflight"
#: Waiting for a retry delay: member "<queue>|<task id>", score = due time (ms).
QUEUE_DELAYED = "task:delayed"

#: Live pub/sub channels.
CHANNELS = tuple(channel.value for channel in Channel)


def session(session_id: str) -> str:
    return f"session:{session_id}"


def agent_status(agent_id: str) -> str:
    return f"agent:status:{agent_id}"


def queue_for_priority(priority: int) -> str:
    if priority >= 8:
        return QUEUE_HIGH
    if priority >= 4:
        return QUEUE_MEDIUM
    return QUEUE_LOW


def task_lease(task_id: str) -> str:
    return f"task:lease:{task_id}"


def metrics_realtime(metric_type: str, source: str) -> str:
    return f"metrics:realtime:{metric_type}:{source}"


def model_cache(model_name: str) -> str:
    return f"model:cache:{model_name}"


def voice_buffer(session_id: str) -> str:
    return f"voice:buffer:{session_id}"


def agent_comm(from_agent: str, to_agent: str) -> str:
    return f"agent:comm:{from_agent}:{to_agent}"


def rate_limit(client: str, endpoint: str) -> str:
    return f"rate:limit:{client}:{endpoint}"


def agent_lock(agent_id: str) -> str:
    return f"lock:agent:{agent_id}"


def memory_cache(agent_id: str, memory_type: str, key: str) -> str:
    """The read cache of one agent memory (not in the seed; invalidated on every write)."""
    return f"memory:cache:{agent_id}:{memory_type}:{key}"


# -- what an erasure looks for ---------------------------------------------------------------
#: Whose data each key builder holds, so erasure can reach it (a new builder must say: the
#: unit test tests/stores/test_redis_keys.py fails for one missing here).
OWNERS = {
    "session": "a user: erased with them (found by the user id in its value) or with the session",
    "voice_buffer": "a session: erased with it and with its user",
    "agent_status": "an agent: erased with it (and with the user who owns it)",
    "agent_lock": "an agent: erased with it",
    "agent_comm": "an agent at either end: erased with either (keys_of_agent)",
    "memory_cache": "an agent: erased with it, and with the memory by its outbox event",
    "metrics_realtime": "the agent that is its source: erased with it (keys_of_agent)",
    "rate_limit": "an API key: erased when a forgotten user's keys are revoked (keys_of_api_key)",
    "task_lease": "a task: dropped when an erasure cancels the task",
    "queue_for_priority": "a task: a cancelled task leaves the queues (TaskQueues.forget)",
    "model_cache": "nobody: a model's load state",
}


def _glob(value: str) -> str:
    """*value* as a literal inside a SCAN MATCH pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in value)


def keys_of_agent(agent_id: str) -> list[str]:
    """Patterns of every key that names *agent_id*: messages it sent or was sent
    (``agent:comm``), its memory cache, and realtime metrics whose source is the agent.
    Its status and lock are exact keys (:func:`agent_status`, :func:`agent_lock`)."""
    agent = _glob(agent_id)
    return [agent_comm(agent, "*"), agent_comm("*", agent), memory_cache(agent, "*", "*"), metrics_realtime("*", agent)]


def keys_of_api_key(key_id: str) -> list[str]:
    """Patterns of the rate-limit counters of one API key (every endpoint)."""
    return [rate_limit(_glob(key_id), "*")]


SESSIONS = session("*")
