"""/api/v1/conversations: messages, history, full-text search. A key bound to a user sees only
that user's conversations (PostgreSQL row-level security)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from jarvis.api.deps import Reader, Writer
from jarvis.schemas import MessageIn
from jarvis.shapes import Ids, Message, MessageWritten, TextHit

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


@router.post("/messages", status_code=201, response_model=MessageWritten)
def append_message(body: MessageIn, caller: Writer) -> MessageWritten:
    return caller.run(caller.jarvis.append_message, body.model_copy(update={"user_id": caller.user_for(body.user_id)}))


class MessagesIn(BaseModel):
    """A batch of messages, stored in order in one transaction (all or none)."""

    model_config = ConfigDict(extra="forbid")
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


@router.post("/messages/batch", status_code=201, response_model=Ids)
def append_messages(
    body: MessagesIn,
    caller: Writer,
    wait: bool | None = Query(
        default=None,
        description=(
            "true: answer after every projection store has the messages; false: answer at commit; "
            "unset: the server's JARVIS_WRITE_WAIT"
        ),
    ),
) -> Ids:
    """Many messages at the embedder's batch speed; a bad one is refused (422) naming
    ``messages[i].field`` before anything is written."""
    messages = []
    for index, message in enumerate(body.messages):
        try:
            user = caller.user_for(message.get("user_id"))
        except HTTPException as exc:
            raise HTTPException(exc.status_code, f"messages[{index}].user_id: {exc.detail}") from None
        messages.append({**message, "user_id": user} if user is not None else message)
    return caller.run(caller.jarvis.append_messages, messages, wait=wait)


@router.get("/search", response_model=list[TextHit])
def search_text(
    caller: Reader, q: str = Query(min_length=1, max_length=1000), limit: int = Query(default=20, ge=1, le=200)
) -> list[TextHit]:
    return caller.run(caller.jarvis.search_conversations_text, q, user_id=caller.key.user_id, limit=limit)


@router.get("/{session_id}", response_model=list[Message])
def history(
    session_id: str,
    caller: Reader,
    limit: int = Query(default=200, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> list[Message]:
    return caller.run(
        caller.jarvis.conversation_history, session_id, user_id=caller.key.user_id, limit=limit, offset=offset
    )
