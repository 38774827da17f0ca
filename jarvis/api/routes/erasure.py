"""Erasure with a receipt: a user, an agent, a conversation session, a preference (see
:mod:`jarvis.domain.erasure`). A key bound to a user may erase only that user's data, and fetch only its receipts."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, HTTPException

from jarvis.api.deps import Admin, Reader, Writer
from jarvis.shapes import Receipt

router = APIRouter(prefix="/api/v1", tags=["erasure"])


@router.delete("/users/{user_id}", response_model=Receipt)
def forget_user(user_id: str, caller: Writer) -> Receipt:
    """Erase the user everywhere; the receipt says per store what went and what still lags.

    A user-bound write key may forget its own user. A service key can erase any user and so
    revoke their keys, admin ones too: it needs the ``admin`` scope."""
    if caller.key.user_id is None and not caller.key.allows("admin"):
        raise HTTPException(
            403,
            "erasing a user with a service key needs the 'admin' scope (a key bound to a user may erase its own user)",
        )
    return caller.run(caller.jarvis.forget_user, caller.user_for(user_id))


@router.delete("/users/{user_id}/preferences/{preference_id}", response_model=Receipt)
def delete_preference(user_id: str, preference_id: UUID, caller: Writer) -> Receipt:
    return caller.run(caller.jarvis.delete_preference, preference_id, user_id=caller.user_for(user_id))


@router.delete("/conversations/{session_id}", response_model=Receipt)
def delete_session(session_id: str, caller: Writer) -> Receipt:
    """A user-bound key erases only its own messages (row-level security hides the rest)."""
    return caller.run(caller.jarvis.delete_session, session_id)


@router.post("/agents/{agent_id}/erase", response_model=Receipt)
def delete_agent(agent_id: UUID, caller: Admin) -> Receipt:
    """Erase the agent (``DELETE /agents/{id}`` only terminates it)."""
    return caller.run(caller.jarvis.delete_agent, agent_id)


@router.get("/erasures/{receipt_id}", response_model=Receipt)
def erasure_receipt(receipt_id: UUID, caller: Reader) -> Receipt:
    """The receipt again, checked now: a store that lagged may have caught up.

    A receipt belongs to the user whose data it erased: a key bound to another user gets 404,
    as for a receipt that does not exist (PostgreSQL's row-level security hides it). A key with
    the ``write`` scope also finishes what Redis or the key revocation missed; a read-only key
    only sees what is left (a GET by a reader changes nothing)."""
    return caller.run(caller.jarvis.erasure_receipt, receipt_id, finish=caller.key.allows("write"))
