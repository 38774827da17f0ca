"""What the routes under ``/console/api`` answer, declared so the OpenAPI (and a script calling
them with ``X-API-Key``) knows each body's shape. Times are ISO-8601 strings, ids strings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ConsoleSession(BaseModel):
    name: str
    scopes: list[str]
    user_id: str | None
    csrf: str | None  # the session's CSRF token when signed in with the cookie; None over X-API-Key
    search_scopes: dict[str, str]  # search scope -> the store that answers it by meaning
    channels: list[str]


class StoreLag(BaseModel):
    pending: int
    dead: int
    oldest_pending_seconds: float


class OutboxLag(BaseModel):
    stores: dict[str, StoreLag]  # stores with nothing pending or dead are left out


class TaskRow(BaseModel):
    id: str
    name: str
    description: str | None = None
    type: str
    status: str
    priority: int
    agent_id: str | None = None
    agent_name: str | None = None
    requested_by: str | None = None
    attempts: int
    max_attempts: int
    run_after: str | None = None
    lease_owner: str | None = None
    lease_expires_at: str | None = None
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None
    execution_time_ms: int | None = None
    error_details: dict[str, Any] | None = None


class TaskBoard(BaseModel):
    tasks: list[TaskRow]
    counts: dict[str, int]  # every status, newest tasks or not


class AgentRow(BaseModel):
    id: str
    name: str
    type: str
    status: str
    capabilities: list[Any]
    owner_user_id: str | None = None
    performance_score: float
    last_heartbeat: str | None = None
    heartbeat_age_seconds: float | None = None
    created_at: str
    live_status: dict[str, Any] | None = None  # agent:status:{id} in Redis (expires 30 s after a heartbeat)
    locked: bool = False  # lock:agent:{id} is held
    lock_worker: str | None = None  # the holding worker's name (never the lock's token)


class AgentBoard(BaseModel):
    agents: list[AgentRow]
    degraded: list[str]  # ["redis"] when live status and locks could not be read


class MemoryRow(BaseModel):
    id: str
    agent_id: str
    memory_type: str
    key: str
    value: str
    importance: float
    access_count: int
    updated_at: str
    expires_at: str | None = None


class EventRow(BaseModel):
    id: str
    event_type: str
    severity: str
    source: str
    agent_id: str | None = None
    task_id: str | None = None
    message: str
    details: dict[str, Any]
    created_at: str


class Collaborator(BaseModel):
    id: str
    name: str
    collaboration_count: int


class AgentPage(BaseModel):
    agent: dict[str, Any]  # as GET /api/v1/agents/{id} answers it
    memory: dict[str, list[MemoryRow]]  # by memory type
    events: list[EventRow]
    tasks: list[TaskRow]
    collaborations: list[Collaborator]
    degraded: list[str]


class GraphNode(BaseModel):
    key: str  # the node's id (a capability's name)
    label: str
    caption: str | None = None
    kind: str | None = None


class GraphEdge(BaseModel):
    type: str
    source: str
    target: str


class Neighbourhood(BaseModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    start: str | None


class StoreBackup(BaseModel):
    bytes: int
    items: dict[str, Any] | int | None = None
    seconds: float | None = None


class BackupInfo(BaseModel):
    name: str
    complete: bool
    created_at: str | None = None
    seconds: float | None = None
    bytes: int | None = None
    stores: dict[str, StoreBackup] = {}


class Ran(BaseModel):
    seconds: float
    finished_at: str


class BackupRun(Ran):
    backup: BackupInfo


class RetentionRun(Ran):
    counts: dict[str, int]
    dropped_partitions: list[str]
    lagging: list[str]
    refused_audio: int


class VerifyDifference(BaseModel):
    store: str
    what: str
    missing: list[str]  # the first ones
    extra: list[str]
    missing_count: int
    extra_count: int
    repair: str | None = None  # what to run, for a finding reconcile does not fix


class VerifyRun(Ran):
    clean: bool
    differences: list[VerifyDifference]


class Operations(BaseModel):
    backup_dir: str
    backups: list[BackupInfo]
    last_retention: RetentionRun | None
    last_verify: VerifyRun | None
    running: bool
