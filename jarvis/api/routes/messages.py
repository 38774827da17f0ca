"""/api/v1/messages/{from}/{to}: messages between agents (``agent:comm:{from}:{to}``, 300 s)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query

from jarvis.api.deps import Writer
from jarvis.shapes import AgentMessage, Queued

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])


@router.post("/{from_agent}/{to_agent}", status_code=202, response_model=Queued)
def send(from_agent: UUID, to_agent: UUID, message: dict[str, Any], caller: Writer) -> Queued:
    caller.run(caller.jarvis.send_message, from_agent, to_agent, message)
    return {"queued": True}


@router.post("/{from_agent}/{to_agent}/receive", response_model=list[AgentMessage])
def receive(
    from_agent: UUID, to_agent: UUID, caller: Writer, limit: int = Query(default=100, ge=1, le=1000)
) -> list[AgentMessage]:
    """Oldest first; received messages are removed (hence a POST)."""
    return caller.run(caller.jarvis.receive_messages, from_agent, to_agent, limit=limit)
