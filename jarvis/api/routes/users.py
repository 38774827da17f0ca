"""/api/v1/users: users, their preferences, and whom they prefer."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import Field

from jarvis.schemas import Input, JsonObject
from jarvis.api.deps import Writer
from jarvis.embeddings import MAX_TEXT_CHARS

router = APIRouter(prefix="/api/v1/users", tags=["users"])
Row = dict[str, Any]


class UserBody(Input):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    preferences: JsonObject = Field(default_factory=dict)


class PreferenceBody(Input):
    preference_type: Literal["agent", "task", "interface"]
    description: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    value: JsonObject = Field(default_factory=dict)
    confidence: float = Field(default=0.5, ge=0, le=1)


@router.put("/{user_id}")
def upsert_user(user_id: str, body: UserBody, caller: Writer) -> Row:
    return caller.run(caller.jarvis.upsert_user, id=caller.user_for(user_id), **body.model_dump())


@router.post("/{user_id}/preferences", status_code=201)
def add_preference(user_id: str, body: PreferenceBody, caller: Writer) -> Row:
    return caller.run(caller.jarvis.add_user_preference, user_id=caller.user_for(user_id), **body.model_dump())


@router.put("/{user_id}/prefers/{agent_id}")
def prefers(user_id: str, agent_id: UUID, caller: Writer) -> Row:
    return caller.run(caller.jarvis.user_prefers, caller.user_for(user_id), agent_id)
