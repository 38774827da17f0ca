"""Conversation turns indexed with their context (one at a time in :mod:`jarvis.domain.activity`,
in bulk in :mod:`jarvis.domain.messages_batch`).

A turn is often unfindable on its own words: "Yes, last week!" answers "when did Ada adopt
the dog?" only beside the turns around it. So a turn's keyword index (``search_tsv``, not
its stored content nor its embedding) also holds ``context``: the date it was said, the turn
before it and — added when it arrives — the turn after it, at a lower weight than the turn's
own words. Its embedding is made from its own words alone: on LoCoMo, embedding the context
too made vector search worse while the same context in the keyword index made it better
(``docs/benchmarks.md``). The context is a column of the row, so a rebuild needs no model.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from jarvis.domain.base import Base, Written
from jarvis.errors import Forbidden, InvalidInput, StoreError
from jarvis.outbox import Event

#: Characters of the previous turn kept as context: enough for its gist, not enough to drown the turn.
PREVIOUS_TURN_CHARS = 400

#: The latest turn of each session, to give the first turn of a batch (or a single turn) its
#: context, and to add the new turn to that turn's context. Row-level security applies: a
#: session's turns of another user are neither read nor changed.
LAST_TURNS = """
SELECT DISTINCT ON (session_id) session_id, id, created_at, content FROM conversations
WHERE session_id = ANY(%(sessions)s) ORDER BY session_id, created_at DESC, id DESC
"""
ADD_NEXT_TURN = """
UPDATE conversations SET context = concat_ws(E'\n', context, %(next)s::text)
WHERE id = %(id)s AND created_at = %(created_at)s
"""
FORGET_CONVERSATIONS = "DELETE FROM conversations WHERE user_id = ANY(%(users)s) RETURNING id::text"
FORGET_PREFERENCES = "DELETE FROM user_preferences WHERE user_id = ANY(%(users)s) RETURNING id::text"
FORGET_USERS = "DELETE FROM users WHERE id = ANY(%(users)s) RETURNING id"


def turn_context(*, previous: str | None, said_at: datetime | None) -> str:
    """What a turn is indexed with besides its own words: its date and the turn before it."""
    when = (said_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    parts = [f"{when.day} {when:%B %Y}"]
    if previous:
        parts.append(previous[:PREVIOUS_TURN_CHARS])
    return "\n".join(parts)


class TurnsMixin(Base):
    def previous_turns(self, session_ids: Iterable[str]) -> dict[str, dict]:
        """The latest stored turn of each session (id, created_at, content); sessions without
        turns are absent."""
        return {r["session_id"]: r for r in self._all(LAST_TURNS, {"sessions": sorted(set(session_ids))})}

    @staticmethod
    def add_next_turn(conn, previous: dict | None, content: str) -> None:
        """Add *content* to the context of the *previous* turn of its session (if there is one)."""
        if previous is not None:
            conn.execute(ADD_NEXT_TURN, {"id": previous["id"], "created_at": previous["created_at"],
                                         "next": content[:PREVIOUS_TURN_CHARS]})

    def forget_users(self, user_ids: list[str]) -> Written:
        """Delete these users and every conversation turn of theirs (an evaluation's own users,
        a user's request to be forgotten); the outbox removes them from Chroma and Neo4j."""
        if not isinstance(user_ids, list) or not all(isinstance(u, str) and u for u in user_ids):
            raise InvalidInput("user_ids", "must be a list of user ids")

        def work(conn):
            turns = [r["id"] for r in conn.execute(FORGET_CONVERSATIONS, {"users": user_ids}).fetchall()]
            preferences = [r["id"] for r in conn.execute(FORGET_PREFERENCES, {"users": user_ids}).fetchall()]
            events = [edge for user in user_ids for edge in self._drop_edges_of(conn, "User", user)]
            users = [r["id"] for r in conn.execute(FORGET_USERS, {"users": user_ids}).fetchall()]
            events += [Event("conversation", key, "delete") for key in turns]
            events += [Event("user_preference", key, "delete") for key in preferences]
            events += [Event("user", key, "delete") for key in users]
            return {"users": len(users), "conversations": len(turns)}, events

        return self._write(work)

    def _refuse_foreign_session(self, session_id: str) -> None:
        """Forbidden if a user-bound caller writes into a live session of another user (which
        would hand that session to the caller). With Redis down there is no session to take."""
        who = self._who()
        if not who.bound:
            return
        try:
            with self.stores.redis.unavailable():
                session = self.stores.redis.get_session(session_id)
        except StoreError:
            return
        if session is not None and session.get("user_id") != who.user_id:
            raise Forbidden("session_id", "is a session of another user")
