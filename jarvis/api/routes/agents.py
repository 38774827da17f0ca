"""/api/v1/agents and /api/v1/models."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import Field

from jarvis.api.deps import Reader, Writer
from jarvis.schemas import AgentIn, Input, JsonObject, ModelIn, ReportedStatus
from jarvis.shapes import Agent, AgentDetail, AgentWritten, Collaborator, ModelWritten, Relationship
from jarvis.vocabulary import AgentStatus

router = APIRouter(prefix="/api/v1", tags=["agents"])


class Heartbeat(Input):
    status: ReportedStatus = AgentStatus.active
    current_task: str | None = Field(default=None, max_length=255)
    resource_usage: JsonObject = Field(default_factory=dict, max_length=100)


class ModelUse(Input):
    memory_usage_mb: float | None = Field(default=None, ge=0, le=10_000_000)


@router.post("/agents", status_code=201, response_model=AgentWritten)
def register_agent(body: AgentIn, caller: Writer) -> AgentWritten:
    return caller.run(caller.jarvis.register_agent, body)


@router.get("/agents", response_model=list[Agent])
def list_agents(
    caller: Reader,
    type: str | None = Query(default=None, max_length=100),
    status: AgentStatus | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> list[Agent]:
    return caller.run(caller.jarvis.list_agents, type=type, status=status, limit=limit, offset=offset)


@router.get("/agents/{agent_id}", response_model=AgentDetail)
def get_agent(agent_id: UUID, caller: Reader) -> AgentDetail:
    return caller.run(caller.jarvis.get_agent, agent_id)


@router.patch("/agents/{agent_id}/configuration", response_model=AgentWritten)
def update_configuration(agent_id: UUID, configuration: dict[str, Any], caller: Writer) -> AgentWritten:
    return caller.run(caller.jarvis.update_agent_configuration, agent_id, configuration)


@router.post("/agents/{agent_id}/heartbeat", response_model=AgentWritten)
def heartbeat(agent_id: UUID, body: Heartbeat, caller: Writer) -> AgentWritten:
    return caller.run(caller.jarvis.heartbeat, agent_id, **body.model_dump())


@router.delete("/agents/{agent_id}", response_model=AgentWritten)
def terminate_agent(agent_id: UUID, caller: Writer) -> AgentWritten:
    return caller.run(caller.jarvis.terminate_agent, agent_id)


@router.put("/agents/{agent_id}/models/{model_id}", response_model=Relationship)
def assign_model(agent_id: UUID, model_id: UUID, caller: Writer) -> Relationship:
    return caller.run(caller.jarvis.assign_model, agent_id, model_id)


@router.get("/agents/{agent_id}/collaborations", response_model=list[Collaborator])
def collaboration_history(agent_id: UUID, caller: Reader) -> list[Collaborator]:
    return caller.run(caller.jarvis.collaboration_history, agent_id)


@router.post("/models", status_code=201, tags=["models"], response_model=ModelWritten)
def register_model(body: ModelIn, caller: Writer) -> ModelWritten:
    return caller.run(caller.jarvis.register_model, body)


@router.post("/models/{name}/use", tags=["models"], response_model=ModelWritten)
def record_model_use(name: str, body: ModelUse, caller: Writer) -> ModelWritten:
    return caller.run(caller.jarvis.record_model_use, name, memory_usage_mb=body.memory_usage_mb)
