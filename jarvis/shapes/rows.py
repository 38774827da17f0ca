"""The entities as the API answers them: one row of each table, as ``jsonable`` renders it.

Every column a route returns is named with its type and whether it may be null; the hidden
ones (embeddings, lease tokens, ``value_encrypted``) never appear. Rows are open: extra
columns pass through (see :mod:`jarvis.shapes`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BeforeValidator, ConfigDict, WithJsonSchema, with_config
from typing_extensions import TypedDict

from jarvis.vocabulary import (
    AgentStatus,
    CollaborationStatus,
    CollaborationType,
    ImprovementType,
    MemoryType,
    MessageRole,
    MessageType,
    MetricType,
    ModelStatus,
    ModelType,
    PreferenceType,
    Severity,
    TaskStatus,
    TaskType,
)

__all__ = [
    "Agent",
    "CapabilityDetail",
    "CodeSnippet",
    "Collaboration",
    "Event",
    "Improvement",
    "Json",
    "Knowledge",
    "Memory",
    "Message",
    "Metric",
    "Model",
    "OPEN",
    "Preference",
    "Task",
    "TaskPattern",
    "Timestamp",
    "User",
    "Uuid",
]

#: Rows keep the columns no shape names yet.
OPEN = ConfigDict(extra="allow")


def _as_text(value: Any) -> Any:
    """An id or a time as the JSON text callers get (rows are rendered so already)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


#: A time, ISO-8601 with its offset (``2026-12-06T23:46:42.123456+00:00``).
Timestamp = Annotated[str, BeforeValidator(_as_text), WithJsonSchema({"type": "string", "format": "date-time"})]
#: An id PostgreSQL made (a UUID, as text).
Uuid = Annotated[str, BeforeValidator(_as_text), WithJsonSchema({"type": "string", "format": "uuid"})]
#: A JSON object a caller stored.
Json = dict[str, Any]


@with_config(OPEN)
class Agent(TypedDict):
    id: Uuid
    name: str
    type: str
    status: AgentStatus
    capabilities: list[str]
    configuration: Json
    resources: Json
    port: int | None
    performance_score: float
    created_at: Timestamp
    updated_at: Timestamp
    last_heartbeat: Timestamp | None
    owner_user_id: str | None


@with_config(OPEN)
class CapabilityDetail(TypedDict):
    capability: str
    description: str
    success_rate: float
    avg_execution_time: int


@with_config(OPEN)
class Model(TypedDict):
    id: Uuid
    name: str
    type: ModelType
    provider: str
    size_mb: int | None
    parameters: Json
    performance_metrics: Json
    status: ModelStatus
    path: str | None
    created_at: Timestamp
    last_used: Timestamp | None
    usage_count: int


@with_config(OPEN)
class Task(TypedDict):
    id: Uuid
    name: str
    description: str | None
    type: TaskType
    status: TaskStatus
    priority: int
    agent_id: Uuid | None
    parent_task_id: Uuid | None
    input_data: Json | None
    output_data: Json | None
    error_details: Json | None
    execution_time_ms: int | None
    attempts: int
    max_attempts: int
    run_after: Timestamp | None
    requested_by: str | None
    created_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None


@with_config(OPEN)
class Message(TypedDict):
    """One conversation turn."""

    id: Uuid
    session_id: str
    user_id: str | None
    message_type: MessageType
    role: MessageRole
    content: str
    audio_file_path: str | None
    agent_id: Uuid | None
    task_id: Uuid | None
    metadata: Json
    created_at: Timestamp


@with_config(OPEN)
class Memory(TypedDict):
    """One memory of an agent, its value in plaintext (even when sealed at rest)."""

    id: Uuid
    agent_id: Uuid
    memory_type: MemoryType
    key: str
    value: str
    importance: float
    access_count: int
    created_at: Timestamp
    updated_at: Timestamp
    last_accessed: Timestamp | None
    expires_at: Timestamp | None


@with_config(OPEN)
class Knowledge(TypedDict):
    id: Uuid
    topic: str
    content: str
    source: str | None
    category: str | None
    confidence: float
    agent_id: Uuid | None
    created_at: Timestamp
    updated_at: Timestamp
    valid_from: Timestamp | None
    valid_to: Timestamp | None
    supersedes: Uuid | None


@with_config(OPEN)
class CodeSnippet(TypedDict):
    id: Uuid
    content: str
    language: str
    purpose: str | None
    agent_id: Uuid | None
    performance_score: float | None
    tested: bool
    created_at: Timestamp
    updated_at: Timestamp


@with_config(OPEN)
class TaskPattern(TypedDict):
    id: Uuid
    pattern_type: str
    description: str
    task_sequence: list[Any]
    success_rate: float
    optimal_agents: list[Any]
    created_at: Timestamp


@with_config(OPEN)
class User(TypedDict):
    id: str
    name: str | None
    preferences: Json
    created_at: Timestamp
    updated_at: Timestamp


@with_config(OPEN)
class Preference(TypedDict):
    id: Uuid
    user_id: str
    preference_type: PreferenceType
    description: str
    value: Json
    confidence: float
    created_at: Timestamp


@with_config(OPEN)
class Collaboration(TypedDict):
    id: Uuid
    task_id: Uuid | None
    coordinator_agent_id: Uuid | None
    participant_agent_ids: list[Uuid]
    collaboration_type: CollaborationType | None
    workflow: Json
    status: CollaborationStatus
    created_at: Timestamp
    completed_at: Timestamp | None


@with_config(OPEN)
class Event(TypedDict):
    """A system event (also what ``system_monitoring`` carries live)."""

    id: Uuid
    event_type: str
    severity: Severity
    source: str
    agent_id: Uuid | None
    task_id: Uuid | None
    message: str
    details: Json
    created_at: Timestamp


@with_config(OPEN)
class Metric(TypedDict):
    id: Uuid
    metric_type: MetricType
    source: str
    agent_id: Uuid | None
    value: float
    unit: str | None
    metadata: Json
    created_at: Timestamp


@with_config(OPEN)
class Improvement(TypedDict):
    id: Uuid
    improvement_type: ImprovementType
    target: str
    description: str | None
    before_state: Json | None
    after_state: Json | None
    performance_gain: float | None
    agent_id: Uuid | None
    approved: bool
    applied: bool
    created_at: Timestamp
    applied_at: Timestamp | None
