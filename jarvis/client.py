"""A typed Python client for the memory API, synchronous and asynchronous (httpx).

    with JarvisClient("http://127.0.0.1:8000", api_key=key) as jarvis:
        agent = jarvis.register_agent(name="atlas", type="crewai", capabilities=[...])
        jarvis.search(query="...", scopes=["knowledge"])

    async with AsyncJarvisClient(url, api_key=key) as jarvis:
        await jarvis.best_agent("translate this letter")

Errors come back as this package's exceptions: InvalidInput (naming the field), NotFound,
Conflict, LeaseLost, StoreUnavailable, Unauthorized, RateLimited, ApiError.

Every method returns the shape its route declares (:mod:`jarvis.shapes`, the same TypedDicts
the server's ``/openapi.json`` is made from): plain dicts whose keys a type checker knows.
The asynchronous client's methods return awaitables of the same shapes.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from jarvis.errors import (
    ApiError,
    Conflict,
    InvalidInput,
    LeaseLost,
    NotFound,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
)
from jarvis.shapes import (
    Agent,
    AgentDetail,
    AgentMessage,
    AgentWritten,
    BestAgents,
    CodeSnippetWritten,
    CollaborationWritten,
    Collaborator,
    Deleted,
    Dequeued,
    Event,
    Extended,
    HealthReport,
    Ids,
    Improvement,
    KnowledgeWritten,
    LeaseOut,
    Memory,
    MemoryDeleted,
    MemoryWritten,
    Message,
    MessageWritten,
    Metric,
    ModelWritten,
    PreferenceWritten,
    QueueDepths,
    Queued,
    Receipt,
    RecalledMemory,
    Relationship,
    SearchResults,
    Task,
    TaskCreated,
    TaskPatternWritten,
    TaskWritten,
    TextHit,
    TraversedKnowledge,
    UserWritten,
)
from jarvis.vocabulary import AgentStatus, MemoryType, Severity

Id = str | UUID


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        error = {"code": "http_error", "message": response.text[:500], "field": None}
    code, message, field = error.get("code", "http_error"), error.get("message", ""), error.get("field")
    status = response.status_code
    if status == 422:
        raise InvalidInput(field or "body", message)
    if status == 404:
        raise NotFound(message)
    if status == 409:
        raise (LeaseLost(message) if code == "lease_lost" else Conflict(field or "body", message))
    if status == 503:
        raise StoreUnavailable("api", message)
    if status == 429:
        raise RateLimited(status, code, message, field, retry_after=float(response.headers.get("Retry-After", 1)))
    if status in (401, 403):
        raise Unauthorized(status, code, message, field)
    raise ApiError(status, code, message, field)


def _json(response: httpx.Response) -> Any:
    _raise_for(response)
    return response.json() if response.content else None


class _Endpoints:
    """Every operation of the API; the subclass decides whether calls block or are awaited."""

    def _call(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        raise NotImplementedError

    # agents and models
    def register_agent(self, **fields: Any) -> AgentWritten:
        return self._call("POST", "/api/v1/agents", json=fields)

    def list_agents(
        self, *, type: str | None = None, status: AgentStatus | None = None, limit: int = 100, offset: int = 0
    ) -> list[Agent]:
        params = {
            k: v for k, v in {"type": type, "status": status, "limit": limit, "offset": offset}.items() if v is not None
        }
        return self._call("GET", "/api/v1/agents", params=params)

    def get_agent(self, agent_id: Id) -> AgentDetail:
        return self._call("GET", f"/api/v1/agents/{agent_id}")

    def update_agent_configuration(self, agent_id: Id, configuration: dict) -> AgentWritten:
        return self._call("PATCH", f"/api/v1/agents/{agent_id}/configuration", json=configuration)

    def heartbeat(self, agent_id: Id, **fields: Any) -> AgentWritten:
        return self._call("POST", f"/api/v1/agents/{agent_id}/heartbeat", json=fields)

    def terminate_agent(self, agent_id: Id) -> AgentWritten:
        return self._call("DELETE", f"/api/v1/agents/{agent_id}")

    def assign_model(self, agent_id: Id, model_id: Id) -> Relationship:
        return self._call("PUT", f"/api/v1/agents/{agent_id}/models/{model_id}")

    def collaboration_history(self, agent_id: Id) -> list[Collaborator]:
        return self._call("GET", f"/api/v1/agents/{agent_id}/collaborations")

    def register_model(self, **fields: Any) -> ModelWritten:
        return self._call("POST", "/api/v1/models", json=fields)

    def record_model_use(self, name: str, *, memory_usage_mb: float | None = None) -> ModelWritten:
        return self._call("POST", f"/api/v1/models/{name}/use", json={"memory_usage_mb": memory_usage_mb})

    # tasks
    def create_task(self, **fields: Any) -> TaskCreated:
        return self._call("POST", "/api/v1/tasks", json=fields)

    def get_task(self, task_id: Id) -> Task:
        return self._call("GET", f"/api/v1/tasks/{task_id}")

    def queue_depths(self) -> QueueDepths:
        return self._call("GET", "/api/v1/tasks/queues")

    def dequeue_task(
        self, *, worker: str, visibility_timeout: float = 30.0, agent_id: Id | None = None
    ) -> Dequeued | None:
        """``{"task": {...}, "lease": {...}}``, or None when every queue is empty."""
        body = {
            "worker": worker,
            "visibility_timeout": visibility_timeout,
            "agent_id": str(agent_id) if agent_id else None,
        }
        return self._call("POST", "/api/v1/tasks/dequeue", json=body)

    def extend_lease(self, lease: LeaseOut, *, visibility_timeout: float = 30.0) -> Extended:
        return self._call(
            "POST",
            f"/api/v1/tasks/{lease['task_id']}/extend",
            json={"lease": lease, "visibility_timeout": visibility_timeout},
        )

    def complete_task(
        self, lease: LeaseOut, *, output: dict | None = None, execution_time_ms: int | None = None
    ) -> TaskWritten:
        return self._call(
            "POST",
            f"/api/v1/tasks/{lease['task_id']}/complete",
            json={"lease": lease, "output": output or {}, "execution_time_ms": execution_time_ms},
        )

    def fail_task(self, lease: LeaseOut, *, error: dict, retry_delay: float = 5.0) -> TaskWritten:
        return self._call(
            "POST",
            f"/api/v1/tasks/{lease['task_id']}/fail",
            json={"lease": lease, "error": error, "retry_delay": retry_delay},
        )

    def cancel_task(self, task_id: Id) -> TaskWritten:
        return self._call("POST", f"/api/v1/tasks/{task_id}/cancel")

    def assign_task(self, task_id: Id, agent_id: Id) -> TaskWritten:
        return self._call("PUT", f"/api/v1/tasks/{task_id}/agent/{agent_id}")

    def task_produced(self, task_id: Id, knowledge_id: Id) -> Relationship:
        return self._call("PUT", f"/api/v1/tasks/{task_id}/produced/{knowledge_id}")

    # conversations and memory
    def append_message(self, **fields: Any) -> MessageWritten:
        return self._call("POST", "/api/v1/conversations/messages", json=fields)

    def append_messages(self, messages: list[dict[str, Any]], *, wait: bool | None = None) -> Ids:
        """Up to 1,000 messages in order, all or none (``{"ids", "count", "lagging"}``)."""
        params = {"wait": str(wait).lower()} if wait is not None else None
        return self._call("POST", "/api/v1/conversations/messages/batch", json={"messages": messages}, params=params)

    def conversation_history(self, session_id: str, *, limit: int = 200, offset: int = 0) -> list[Message]:
        return self._call("GET", f"/api/v1/conversations/{session_id}", params={"limit": limit, "offset": offset})

    def search_conversations_text(self, query: str, *, limit: int = 20) -> list[TextHit]:
        return self._call("GET", "/api/v1/conversations/search", params={"q": query, "limit": limit})

    def put_memory(
        self,
        agent_id: Id,
        memory_type: MemoryType,
        key: str,
        value: str,
        *,
        importance: float = 0.5,
        expires_at: str | None = None,
    ) -> MemoryWritten:
        return self._call(
            "PUT",
            f"/api/v1/memory/{agent_id}/{memory_type}/{key}",
            json={"value": value, "importance": importance, "expires_at": expires_at},
        )

    def get_memory(self, agent_id: Id, memory_type: MemoryType, key: str) -> Memory:
        return self._call("GET", f"/api/v1/memory/{agent_id}/{memory_type}/{key}")

    def delete_memory(self, agent_id: Id, memory_type: MemoryType, key: str) -> MemoryDeleted:
        return self._call("DELETE", f"/api/v1/memory/{agent_id}/{memory_type}/{key}")

    def recall(
        self,
        agent_id: Id,
        query: str,
        *,
        limit: int = 5,
        memory_type: MemoryType | None = None,
        weights: dict[str, float] | None = None,
        half_life_hours: float | None = None,
    ) -> list[RecalledMemory]:
        """*weights*: any of relevance, recency, importance (the rest keep their defaults)."""
        body: dict[str, Any] = {"query": query, "limit": limit, "memory_type": memory_type}
        if weights is not None:
            body["weights"] = weights
        if half_life_hours is not None:
            body["half_life_hours"] = half_life_hours
        return self._call("POST", f"/api/v1/memory/{agent_id}/recall", json=body)

    # knowledge, code, patterns, users
    def add_knowledge(self, **fields: Any) -> KnowledgeWritten:
        return self._call("POST", "/api/v1/knowledge", json=fields)

    def delete_knowledge(self, knowledge_id: Id) -> Deleted:
        return self._call("DELETE", f"/api/v1/knowledge/{knowledge_id}")

    def relate_knowledge(self, knowledge_id: Id, related_id: Id) -> Relationship:
        return self._call("PUT", f"/api/v1/knowledge/{knowledge_id}/related/{related_id}")

    def use_knowledge(self, knowledge_id: Id, task_id: Id) -> Relationship:
        return self._call("PUT", f"/api/v1/knowledge/{knowledge_id}/used-in/{task_id}")

    def traverse_knowledge(
        self,
        topic: str,
        *,
        max_hops: int = 3,
        limit: int = 50,
        as_of: str | None = None,
    ) -> list[TraversedKnowledge]:
        """*as_of*: an ISO-8601 time; only facts valid then are reached (default: now)."""
        params = {"topic": topic, "max_hops": max_hops, "limit": limit}
        if as_of is not None:
            params["as_of"] = as_of
        return self._call("GET", "/api/v1/knowledge/traverse", params=params)

    def add_code_snippet(self, **fields: Any) -> CodeSnippetWritten:
        return self._call("POST", "/api/v1/code-snippets", json=fields)

    def add_task_pattern(self, **fields: Any) -> TaskPatternWritten:
        return self._call("POST", "/api/v1/task-patterns", json=fields)

    def upsert_user(self, user_id: str, **fields: Any) -> UserWritten:
        return self._call("PUT", f"/api/v1/users/{user_id}", json=fields)

    def add_user_preference(self, user_id: str, **fields: Any) -> PreferenceWritten:
        return self._call("POST", f"/api/v1/users/{user_id}/preferences", json=fields)

    def user_prefers(self, user_id: str, agent_id: Id) -> Relationship:
        return self._call("PUT", f"/api/v1/users/{user_id}/prefers/{agent_id}")

    # erasure (each answers a receipt)
    def forget_user(self, user_id: str) -> Receipt:
        return self._call("DELETE", f"/api/v1/users/{user_id}")

    def delete_preference(self, user_id: str, preference_id: Id) -> Receipt:
        return self._call("DELETE", f"/api/v1/users/{user_id}/preferences/{preference_id}")

    def delete_session(self, session_id: str) -> Receipt:
        return self._call("DELETE", f"/api/v1/conversations/{session_id}")

    def delete_agent(self, agent_id: Id) -> Receipt:
        return self._call("POST", f"/api/v1/agents/{agent_id}/erase")

    def erasure_receipt(self, receipt_id: Id) -> Receipt:
        return self._call("GET", f"/api/v1/erasures/{receipt_id}")

    # operations
    def start_collaboration(self, **fields: Any) -> CollaborationWritten:
        return self._call("POST", "/api/v1/collaborations", json=fields)

    def log_event(self, **fields: Any) -> Event:
        return self._call("POST", "/api/v1/events", json=fields)

    def list_events(
        self,
        *,
        severity: Severity | None = None,
        event_type: str | None = None,
        source: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Event]:
        params = {"severity": severity, "event_type": event_type, "source": source, "limit": limit, "offset": offset}
        return self._call("GET", "/api/v1/events", params={k: v for k, v in params.items() if v is not None})

    def record_metric(self, **fields: Any) -> Metric:
        return self._call("POST", "/api/v1/performance-metrics", json=fields)

    def log_improvement(self, **fields: Any) -> Improvement:
        return self._call("POST", "/api/v1/improvements", json=fields)

    def approve_improvement(self, improvement_id: Id) -> Improvement:
        return self._call("POST", f"/api/v1/improvements/{improvement_id}/approve")

    def apply_improvement(self, improvement_id: Id) -> Improvement:
        return self._call("POST", f"/api/v1/improvements/{improvement_id}/apply")

    # messages
    def send_message(self, from_agent: Id, to_agent: Id, message: dict) -> Queued:
        return self._call("POST", f"/api/v1/messages/{from_agent}/{to_agent}", json=message)

    def receive_messages(self, from_agent: Id, to_agent: Id, *, limit: int = 100) -> list[AgentMessage]:
        return self._call("POST", f"/api/v1/messages/{from_agent}/{to_agent}/receive", params={"limit": limit})

    # search and health
    def search(self, **fields: Any) -> SearchResults:
        """``query`` (or ``vector``), ``scopes``, ``limit``, ``mode`` (hybrid, vector, keyword), and the
        filters ``user_id``, ``session_id``, ``agent_id``, ``created_after``/``created_before`` and
        ``as_of`` (ISO-8601), ``metadata`` (equality): see ``POST /api/v1/search``."""
        return self._call("POST", "/api/v1/search", json=fields)

    def best_agent(self, task_description: str, *, capability: str | None = None, limit: int = 3) -> BestAgents:
        return self._call(
            "POST",
            "/api/v1/best-agent",
            json={"task_description": task_description, "capability": capability, "limit": limit},
        )

    def health(self) -> HealthReport:
        return self._call("GET", "/health")


def _clean(value: Any) -> Any:
    """JSON-ready: UUIDs as strings, inside dicts and lists too."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class JarvisClient(_Endpoints):
    """Blocking client. ``close()`` (or ``with``) releases its connections."""

    def __init__(
        self, base_url: str, *, api_key: str, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url, headers={"X-API-Key": api_key}, timeout=timeout, transport=transport
        )

    def _call(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        health = path == "/health"
        response = self._http.request(method, path, json=_clean(json), params=params)
        return response.json() if health else _json(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "JarvisClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncJarvisClient(_Endpoints):
    """Asynchronous client: every method returns an awaitable."""

    def __init__(
        self, base_url: str, *, api_key: str, timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, headers={"X-API-Key": api_key}, timeout=timeout, transport=transport
        )

    async def _call(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        response = await self._http.request(method, path, json=_clean(json), params=params)
        return response.json() if path == "/health" else _json(response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncJarvisClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
