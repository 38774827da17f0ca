"""/api/v1/conversations: messages, history, full-text search. A key bound to a user sees only
that user's conversations (PostgreSQL row-level security)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from jarvis.api.deps import Reader, Writer
from jarvis.schemas import MessageIn

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])
Row = dict[str, Any]


@router.post("/messages", status_code=201)
def append_message(body: MessageIn, caller: Writer) -> Row:
    fields = body.model_dump()
    fields["user_id"] = caller.user_for(body.user_id)
    return caller.run(caller.jarvis.append_message, **fields)


@router.get("/search")
def search_text(caller: Reader, q: str = Query(min_length=1, max_length=1000),
                limit: int = Query(default=20, ge=1, le=200)) -> list[Row]:
    return caller.run(caller.jarvis.search_conversations_text, q, user_id=caller.key.user_id, limit=limit)


@router.get("/{session_id}")
def history(session_id: str, caller: Reader, limit: int = Query(default=200, ge=1, le=1000),
            offset: int = Query(default=0, ge=0)) -> list[Row]:
    return caller.run(caller.jarvis.conversation_history, session_id, user_id=caller.key.user_id, limit=limit,
                      offset=offset)
