"""Every Redis key pattern and TTL in one place (the seed's "Redis Schema").

Nothing else builds a key: callers use these functions, so a pattern has one home.
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

QUEUE_HIGH = "task:queue:high"      # priority 8-10
QUEUE_MEDIUM = "task:queue:medium"  # priority 4-7
QUEUE_LOW = "task:queue:low"        # priority 1-3
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
