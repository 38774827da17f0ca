"""/api/v1/users: users, their preferences, and whom they prefer."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from jarvis.api.deps import Writer
from jarvis.schemas import PreferenceBody, UserBody, UserIn, UserPreferenceIn, parse
from jarvis.shapes import PreferenceWritten, Relationship, UserWritten

router = APIRouter(prefix="/api/v1/users", tags=["users"])


# The path's user id is checked (an identifier) with the body's fields, as one model.
@router.put("/{user_id}", response_model=UserWritten)
def upsert_user(user_id: str, body: UserBody, caller: Writer) -> UserWritten:
    spec = parse(UserIn, {**body.model_dump(), "id": caller.user_for(user_id)})
    return caller.run(caller.jarvis.upsert_user, spec)


@router.post("/{user_id}/preferences", status_code=201, response_model=PreferenceWritten)
def add_preference(user_id: str, body: PreferenceBody, caller: Writer) -> PreferenceWritten:
    spec = parse(UserPreferenceIn, {**body.model_dump(), "user_id": caller.user_for(user_id)})
    return caller.run(caller.jarvis.add_user_preference, spec)


@router.put("/{user_id}/prefers/{agent_id}", response_model=Relationship)
def prefers(user_id: str, agent_id: UUID, caller: Writer) -> Relationship:
    return caller.run(caller.jarvis.user_prefers, caller.user_for(user_id), agent_id)
