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
from typing import Any
from datetime import datetime, timezone

from jarvis.audio_files import check_owned_name
from jarvis.domain.base import Base
from jarvis.errors import InvalidInput

#: Characters of the previous turn kept as context: enough for its gist, not enough to drown the turn.
PREVIOUS_TURN_CHARS = 400

#: The latest turn of each session, to give the first turn of a batch (or a single turn) its
#: context, and to add the new turn to that turn's context. Row-level security applies: a
#: session's turns of another user are neither read nor changed.
LAST_TURNS = """
SELECT DISTINCT ON (session_id) session_id, id, created_at, content FROM conversations
WHERE session_id = ANY(%(sessions)s) ORDER BY session_id, created_at DESC, id DESC
"""
#: The sessions among ``sessions`` that hold another user's turn, for a user-bound transaction
#: (none for one acting for every user). Migration 027's trigger refuses any turn into them; the
#: batch path asks first to name the message. It also takes the new sessions' locks, in one order.
FOREIGN_SESSIONS = "SELECT s AS session_id FROM jarvis_foreign_sessions(%(sessions)s::text[]) AS s"
ADD_NEXT_TURN = """
UPDATE conversations SET context = concat_ws(E'\n', context, %(next)s::text)
WHERE id = %(id)s AND created_at = %(created_at)s
"""


def turn_context(*, previous: str | None, said_at: datetime | None) -> str:
    """What a turn is indexed with besides its own words: its date and the turn before it."""
    when = (said_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    parts = [f"{when.day} {when:%B %Y}"]
    if previous:
        parts.append(previous[:PREVIOUS_TURN_CHARS])
    return "\n".join(parts)


class TurnsMixin(Base):
    def _require_own_recording(self, spec: Any, *, field: str) -> None:
        """A user-bound caller's voice message names a recording in its user's folder of the
        audio directory (:func:`jarvis.audio_files.check_owned_name`), else InvalidInput naming
        *field*; a service names any file there."""
        who = self._who()
        if spec.audio_file_path is None or not who.bound:
            return
        try:
            check_owned_name(spec.audio_file_path, str(who.user_id))
        except ValueError as exc:
            raise InvalidInput(field, str(exc)) from None

    def previous_turns(self, session_ids: Iterable[str]) -> dict[str, dict]:
        """The latest stored turn of each session (id, created_at, content); sessions without
        turns are absent."""
        return {r["session_id"]: r for r in self._all(LAST_TURNS, {"sessions": sorted(set(session_ids))})}

    @staticmethod
    def add_next_turn(conn, previous: dict | None, content: str) -> None:
        """Add *content* to the context of the *previous* turn of its session (if there is one)."""
        if previous is not None:
            conn.execute(
                ADD_NEXT_TURN,
                {"id": previous["id"], "created_at": previous["created_at"], "next": content[:PREVIOUS_TURN_CHARS]},
            )
