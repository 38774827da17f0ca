"""``/console/api``: the reads the console needs that the memory API has no route for.

Each is an ordinary keyed route (``Reader``: a key with the read scope, in the header or, from
the console, in its sealed cookie) that calls the facade as the caller's principal, so
row-level security and the owner checks apply exactly as on ``/api/v1``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from jarvis.api.deps import Reader
from jarvis.console.session import session_of
from jarvis.console.shapes import AgentBoard, AgentPage, ConsoleSession, EventRow, Neighbourhood, OutboxLag, TaskBoard
from jarvis.domain.search import SCOPES
from jarvis.errors import StoreError
from jarvis.stores.redis_keys import CHANNELS
from jarvis.vocabulary import Severity, TaskStatus

router = APIRouter(prefix="/console/api", tags=["console"])
Row = dict[str, Any]


@router.get("/session")
def whoami(request: Request, caller: Reader) -> ConsoleSession:
    """The signed-in key (never its secret), the session's CSRF token, and what the page needs to
    know: which store answers each search scope, the live channels."""
    session = session_of(request.headers, request.app.state.console_seal)
    return ConsoleSession(
        name=caller.key.name,
        scopes=list(caller.key.scopes),
        user_id=caller.key.user_id,
        csrf=session.csrf if session and session.api_key == request.headers.get("x-api-key") else None,
        search_scopes={name: scope.store for name, scope in SCOPES.items()},
        channels=list(CHANNELS),
    )


@router.get("/outbox")
def outbox(caller: Reader) -> OutboxLag:
    """Projection lag: per store, outbox events pending (and how old the oldest is) and
    dead-lettered; a key bound to a user counts only its own writes' events."""
    return OutboxLag(stores=caller.run(caller.jarvis.projection_lag))


@router.get("/tasks")
def tasks(
    caller: Reader,
    status: TaskStatus | None = None,
    agent_id: UUID | None = None,
    limit: int = Query(default=100, ge=1, le=500),
) -> TaskBoard:
    return TaskBoard(**caller.run(caller.jarvis.list_tasks, status=status, agent_id=agent_id, limit=limit))


@router.get("/agents")
def agents(caller: Reader, limit: int = Query(default=200, ge=1, le=1000)) -> AgentBoard:
    return AgentBoard(**caller.run(caller.jarvis.browse_agents, limit=limit))


@router.get("/agents/{agent_id}")
def agent_page(agent_id: UUID, caller: Reader) -> AgentPage:
    """An agent with its memory by type, recent events, tasks and collaborations."""
    jarvis = caller.jarvis
    page: Row = {
        "agent": caller.run(jarvis.get_agent, agent_id),
        "memory": caller.run(jarvis.agent_memory, agent_id),
        "events": caller.run(jarvis.agent_events, agent_id),
        "tasks": caller.run(jarvis.list_tasks, agent_id=agent_id, limit=50)["tasks"],
        "degraded": [],
    }
    try:
        page["collaborations"] = caller.run(jarvis.collaboration_history, agent_id)
    except StoreError as exc:  # Neo4j down: the rest of the page still stands
        page["collaborations"], page["degraded"] = [], [exc.store]
    return AgentPage(**page)


@router.get("/graph")
def graph(
    caller: Reader,
    topic: str | None = Query(default=None, min_length=1, max_length=255),
    node: str | None = Query(default=None, min_length=1, max_length=255),
    hops: int = Query(default=1, ge=1, le=3),
    limit: int = Query(default=60, ge=1, le=200),
) -> Neighbourhood:
    """The graph within *hops* of a knowledge topic or a node (by id; a capability by name)."""
    return Neighbourhood(
        **caller.run(caller.jarvis.graph_neighbourhood, topic=topic, node=node, hops=hops, limit=limit)
    )


@router.get("/events")
async def events(
    caller: Reader,
    min_severity: Severity = Severity.debug,
    since: datetime | None = None,
    until: datetime | None = None,
    text: str | None = Query(default=None, max_length=200),
    limit: int = Query(default=200, ge=1, le=1000),
) -> list[EventRow]:
    return await run_in_threadpool(
        caller.run,
        caller.jarvis.browse_events,
        min_severity=min_severity,
        since=since,
        until=until,
        text=text,
        limit=limit,
    )
