"""The owner restriction of the projections: which Chroma and Qdrant collections hold user-owned
points, and the filter that keeps a user-bound search inside its user's.

PostgreSQL enforces ownership with row-level security (``migrations/008_ownership.sql``); the
vector stores have nothing like it, so every query a user-bound caller sends them carries the
owner condition built here, and the hits are hydrated from PostgreSQL, which checks again.
Other filters compose with it: :func:`with_owner` adds the owner to whatever condition the
search already has (and an owner the caller asked for that is not its own is refused earlier,
by ``own_user``).
"""

from __future__ import annotations

from jarvis.principal import Principal

#: Collection -> the payload/metadata field that names the owning user.
OWNED_COLLECTIONS: dict[str, str] = {
    "conversations": "user_id",       # Chroma
    "user_preferences": "user_id",    # Qdrant
}


def owner_filter(collection: str | None, who: Principal) -> dict[str, str]:
    """``{owner field: user}`` for a user-owned *collection* searched by a user-bound caller;
    empty for a caller acting for every user or a shared collection."""
    field = OWNED_COLLECTIONS.get(collection or "")
    if field is None or not who.bound:
        return {}
    return {field: who.user_id or ""}


def with_owner(condition: dict | None, collection: str | None, who: Principal) -> dict | None:
    """*condition* (field -> value equality) with the owner restriction added; None if empty."""
    merged = {**(condition or {}), **owner_filter(collection, who)}
    return merged or None
