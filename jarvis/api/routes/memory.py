"""/api/v1/memory/{agent_id}/{memory_type}/{key}: an agent's core, recall, archival, working memory."""

from __future__ import annotations

import json
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from jarvis.api.deps import Caller, Reader, Writer, require
from jarvis.domain.memory import fresh
from jarvis.embeddings import MAX_TEXT_CHARS
from jarvis.schemas import Input, MemoryIn, MemoryValue, parse
from jarvis.shapes import Memory, MemoryDeleted, MemoryWritten, RecalledMemory
from jarvis.stores import redis_keys as keys
from jarvis.vocabulary import MemoryType

router = APIRouter(prefix="/api/v1/memory", tags=["memory"])


class RecallWeights(Input):
    relevance: float | None = Field(default=None, ge=0, le=10)
    recency: float | None = Field(default=None, ge=0, le=10)
    importance: float | None = Field(default=None, ge=0, le=10)


class RecallIn(Input):
    query: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    limit: int = Field(default=5, ge=1, le=100)
    memory_type: MemoryType | None = None
    weights: RecallWeights | None = None  # overrides the documented defaults, per call
    half_life_hours: float = Field(default=7 * 24.0, gt=0, le=1e6)


@router.put("/{agent_id}/{memory_type}/{key}", response_model=MemoryWritten)
def put_memory(agent_id: UUID, memory_type: MemoryType, key: str, body: MemoryValue, caller: Writer) -> MemoryWritten:
    # the path's key is checked here (a name, no NUL), with the body's fields, as one MemoryIn
    spec = parse(MemoryIn, {**body.model_dump(), "agent_id": agent_id, "memory_type": memory_type, "key": key})
    return caller.run(caller.jarvis.put_memory, spec)


def _cache_key(request: Request) -> str | None:
    """The memory's cache key, from the raw path (None if the agent id is not a UUID: the
    route then answers 422 without it)."""
    params = request.path_params
    try:
        agent_id = str(UUID(params["agent_id"]))
    except (KeyError, ValueError):
        return None
    return keys.memory_cache(agent_id, params.get("memory_type", ""), params.get("key", ""))


CachedReader = Annotated[Caller, Depends(require("read", prefetch=_cache_key))]


@router.get("/{agent_id}/{memory_type}/{key}", response_model=Memory)
async def get_memory(agent_id: UUID, memory_type: MemoryType, key: str, caller: CachedReader) -> Memory:
    # The hot read: the cached copy came with the rate limit's round trip, on the event loop;
    # anything else (a miss, Redis down, an expired copy) is the facade's read from
    # PostgreSQL, in the thread pool.
    # A user-bound key never gets the prefetched copy: Redis knows no owners, so its read goes
    # through the facade, which asks PostgreSQL whether the agent is the user's first.
    cached = (
        fresh(json.loads(caller.prefetched), now=caller.jarvis.stores.clock.now())
        if caller.prefetched and caller.key.user_id is None
        else None
    )
    if cached is not None:
        return caller.jarvis.served_from_cache(cached)
    return await run_in_threadpool(caller.run, caller.jarvis.get_memory, agent_id, memory_type, key)


@router.delete("/{agent_id}/{memory_type}/{key}", response_model=MemoryDeleted)
def delete_memory(agent_id: UUID, memory_type: MemoryType, key: str, caller: Writer) -> MemoryDeleted:
    return caller.run(caller.jarvis.delete_memory, agent_id, memory_type, key)


@router.post("/{agent_id}/recall", response_model=list[RecalledMemory])
def recall(agent_id: UUID, body: RecallIn, caller: Reader) -> list[RecalledMemory]:
    weights = body.weights.model_dump(exclude_none=True) if body.weights else None
    return caller.run(
        caller.jarvis.recall,
        agent_id,
        body.query,
        limit=body.limit,
        memory_type=body.memory_type,
        weights=weights,
        half_life_hours=body.half_life_hours,
    )
