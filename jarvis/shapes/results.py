"""What operations answer beyond one row: a write's outcome, a search, a lease, a receipt, health.

A write answers its row plus ``lagging`` (the projection stores that have not caught up yet)
and ``projected`` (false when it returned at commit, before its projection): :class:`Written`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, with_config
from typing_extensions import NotRequired, TypedDict

from jarvis.shapes.rows import (
    OPEN,
    Agent,
    CapabilityDetail,
    CodeSnippet,
    Collaboration,
    Json,
    Knowledge,
    Memory,
    Message,
    Model,
    Preference,
    Task,
    TaskPattern,
    Timestamp,
    User,
    Uuid,
)
from jarvis.vocabulary import (
    AgentStatus,
    ErasureSubject,
    MemoryType,
    MessageRole,
    RelationshipType,
    SearchMode,
    SearchScope,
)

__all__ = [
    "AgentDetail",
    "AgentLiveStatus",
    "AgentWritten",
    "BestAgents",
    "CapabilityItem",
    "CodeSnippetWritten",
    "CollaborationWritten",
    "Collaborator",
    "Deleted",
    "Dequeued",
    "Extended",
    "HealthReport",
    "Ids",
    "KnowledgeWritten",
    "LeaseOut",
    "MemoryDeleted",
    "MemoryWritten",
    "MessageWritten",
    "ModelWritten",
    "PreferenceWritten",
    "Queued",
    "QueueDepths",
    "RankedAgent",
    "Receipt",
    "RecalledMemory",
    "Relationship",
    "SearchHit",
    "SearchResults",
    "StoreHealth",
    "TaskCreated",
    "TaskPatternWritten",
    "TaskWritten",
    "TextHit",
    "TraversedKnowledge",
    "UserWritten",
    "Written",
]


class Written(TypedDict):
    """What every write adds to its answer."""

    lagging: list[str]  # stores that have not caught up yet (the projector retries them)
    projected: bool  # false: answered at commit, projected milliseconds later


@with_config(OPEN)
class AgentWritten(Agent, Written):
    pass


@with_config(OPEN)
class AgentLiveStatus(TypedDict):
    """``agent:status:{id}`` (30 s), from the agent's last heartbeat."""

    status: AgentStatus
    last_heartbeat: Timestamp
    current_task: str | None
    resource_usage: Json


@with_config(OPEN)
class AgentDetail(Agent):
    capability_details: list[CapabilityDetail]
    live_status: AgentLiveStatus | None  # None when the status expired or Redis is down (see degraded)
    degraded: list[str]


@with_config(OPEN)
class ModelWritten(Model, Written):
    pass


@with_config(OPEN)
class TaskWritten(Task, Written):
    pass


@with_config(OPEN)
class TaskCreated(TaskWritten):
    queue: str | None  # the Redis queue it went to; None when Redis missed it (the repair loop queues it)


class LeaseOut(TypedDict):
    """What a worker hands back to extend, complete or fail the task it dequeued."""

    task_id: Uuid
    queue: str
    token: str
    agent_id: Uuid | None
    lock_holder: str | None


class Dequeued(TypedDict):
    task: TaskWritten
    lease: LeaseOut


class Extended(TypedDict):
    extended: bool


#: Tasks waiting in each priority queue, delivered (``task:inflight``) and waiting for a retry.
QueueDepths = dict[str, int]

Relationship = with_config(OPEN)(
    TypedDict(
        "Relationship",
        {"relationship": RelationshipType, "from": str, "to": str, "lagging": list[str], "projected": bool},
    )
)
Relationship.__doc__ = "A relationship added between two existing entities."


@with_config(OPEN)
class MessageWritten(Message, Written):
    pass


class Ids(Written):
    """A batch written in one transaction: the new ids in input order."""

    ids: list[Uuid]
    count: int


@with_config(OPEN)
class TextHit(TypedDict):
    """A message found by its words (full-text search)."""

    id: Uuid
    session_id: str
    user_id: str | None
    role: MessageRole
    content: str
    created_at: Timestamp
    rank: float


@with_config(OPEN)
class MemoryWritten(Memory, Written):
    pass


class MemoryDeleted(Written):
    agent_id: Uuid
    memory_type: MemoryType
    key: str
    deleted: bool


@with_config(OPEN)
class RecalledMemory(Memory):
    """A memory as recall scores it: relevance × w + recency × w + importance × w."""

    relevance: float
    recency: float
    score: float


@with_config(OPEN)
class KnowledgeWritten(Knowledge, Written):
    pass


class Deleted(Written):
    id: Uuid
    deleted: bool


@with_config(OPEN)
class TraversedKnowledge(TypedDict):
    id: Uuid
    topic: str
    content: str
    hops: int


class Collaborator(TypedDict):
    """An agent another worked with, and how often."""

    id: Uuid
    name: str | None
    collaboration_count: int


@with_config(OPEN)
class CodeSnippetWritten(CodeSnippet, Written):
    pass


@with_config(OPEN)
class TaskPatternWritten(TaskPattern, Written):
    pass


@with_config(OPEN)
class UserWritten(User, Written):
    pass


@with_config(OPEN)
class PreferenceWritten(Preference, Written):
    pass


@with_config(OPEN)
class CollaborationWritten(Collaboration, Written):
    pass


class Queued(TypedDict):
    queued: bool


# -- search -------------------------------------------------------------------------------------
@with_config(OPEN)
class CapabilityItem(TypedDict):
    """An agent's capability (a point of ``agent_capabilities``)."""

    id: Uuid
    agent_id: Uuid
    capability: str
    description: str
    success_rate: float
    avg_execution_time: int
    created_at: Timestamp


def _hit(scope: SearchScope, item: type, doc: str) -> type:
    """The hit of one scope: where it came from, its scores, and its row."""
    hit = with_config(OPEN)(
        TypedDict(
            f"{scope.value.title().replace('_', '')}Hit",
            {  # type: ignore[misc]
                "scope": Literal[scope.value],
                "id": Uuid,  # type: ignore[valid-type]
                "score": float,  # hybrid: fused 0-1; vector: cosine; keyword: BM25
                "vector_score": NotRequired[float],  # cosine, where the vector ranking had the hit
                "keyword_score": NotRequired[float],  # BM25, where the keyword ranking had it
                "item": item,
            },
        )
    )
    hit.__doc__ = doc
    return hit


#: One search hit; ``scope`` says which row ``item`` is.
SearchHit = Annotated[
    Union[
        _hit(SearchScope.knowledge, Knowledge, "A knowledge item."),
        _hit(SearchScope.conversations, Message, "A conversation turn."),
        _hit(SearchScope.code, CodeSnippet, "A code snippet."),
        _hit(SearchScope.capabilities, CapabilityItem, "An agent's capability."),
        _hit(SearchScope.task_patterns, TaskPattern, "A task pattern."),
        _hit(SearchScope.preferences, Preference, "A user's preference."),
        _hit(SearchScope.memory, Memory, "A memory of the agent searched for."),
    ],
    Field(discriminator="scope"),
]


class SearchResults(TypedDict):
    query: str | None
    mode: SearchMode
    results: list[SearchHit]
    degraded: list[str]  # stores that were down: their scopes answered from PostgreSQL


class RankedAgent(TypedDict):
    agent_id: Uuid
    name: str
    type: str
    score: float
    similarity: float
    matched_capability: str | None
    performance_score: float
    running_tasks: int
    locked: bool


class BestAgents(TypedDict):
    task_description: str
    capability: str | None
    agents: list[RankedAgent]
    degraded: list[str]


# -- erasure and health -------------------------------------------------------------------------
class Receipt(TypedDict):
    """An erasure's receipt: per store what was removed, and what (if anything) is still there."""

    id: Uuid
    subject_type: ErasureSubject
    subject_id: str
    removed: dict[str, dict[str, int]]
    requested_at: Timestamp
    revoked_keys: NotRequired[list[str]]  # a user's erasure: the API keys it revoked
    remaining: dict[str, int | None]  # None: the store was down when checked
    lagging: list[str]
    complete: bool


class StoreHealth(TypedDict):
    store: str
    up: bool
    version: str | None
    latency_ms: float | None
    detail: str | None  # why it is down; shown only to a key with the read scope


class HealthReport(TypedDict):
    status: Literal["ok", "degraded", "down"]
    degraded: list[str]
    stores: list[StoreHealth]
