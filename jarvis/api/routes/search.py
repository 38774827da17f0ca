"""/api/v1/search and /api/v1/best-agent: finding things and agents by meaning."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import Field

from jarvis.api.deps import Reader
from jarvis.embeddings import MAX_TEXT_CHARS
from jarvis.schemas import Input, SearchIn
from jarvis.shapes import BestAgents, SearchResults

router = APIRouter(prefix="/api/v1", tags=["search"])


class BestAgentIn(Input):
    task_description: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    capability: str | None = Field(default=None, min_length=1, max_length=255)
    limit: int = Field(default=3, ge=1, le=50)


@router.post("/search", response_model=SearchResults)
def search(body: SearchIn, caller: Reader) -> SearchResults:
    if caller.key.user_id is not None:
        if body.user_id not in (None, caller.key.user_id):
            raise HTTPException(403, f"this key acts for user {caller.key.user_id!r} only")
        body = body.model_copy(update={"user_id": caller.key.user_id})
    return caller.run(caller.jarvis.search, body)


@router.post("/best-agent", response_model=BestAgents)
def best_agent(body: BestAgentIn, caller: Reader) -> BestAgents:
    return caller.run(caller.jarvis.best_agent, body.task_description, capability=body.capability, limit=body.limit)
