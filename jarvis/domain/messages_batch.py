"""Conversation messages in bulk: a history of thousands of turns at the embedder's speed.

``append_message`` costs one embedding and one transaction (with its projection) per turn;
importing a history that way is a round trip per turn. :meth:`MessageBatchMixin.append_messages`
is the one batch path (the REST batch endpoint, ``jarvis eval``, imports): it checks every
message first (a bad one is refused naming its index, before anything is written), then
embeds the batches on the embedder's lanes while they are inserted, all in one transaction:
the import is whole or absent. Each turn gets its context in the keyword index as a single
turn does (:mod:`jarvis.domain.turns`: its date, the turn before and the turn after it; a
session's stored last turn gets the batch's first turn of that session as its next one).

Each message keeps its place in the history: without a ``created_at`` of its own, its time
is the transaction's plus its index in microseconds.

A caller importing more than a few thousand turns sends them in calls of about a thousand
(as the REST endpoint bounds them): each call's projection then runs while the next call is
embedded, and one transaction never holds a whole archive.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from psycopg.types.json import Jsonb

from jarvis.domain.base import ENSURE_USER, Written
from jarvis.domain.turns import FOREIGN_SESSIONS, LAST_TURNS, PREVIOUS_TURN_CHARS, TurnsMixin, turn_context
from jarvis.embeddings import check_text
from jarvis.errors import Forbidden, InvalidInput
from jarvis.outbox import Event
from jarvis.schemas import MessageIn, parse_each

#: Rows per INSERT round (and per embedding batch on a lane).
BATCH = 64
#: One call's upper bound: one transaction holds the whole import.
MAX_MESSAGES = 100_000

#: One embedded batch in one statement (each column an array): the statement-level triggers of
#: migration 017 run once per batch, not once per turn as with ``executemany``. A turn without
#: ``created_at`` is stamped now plus its position in microseconds, so the order survives.
#: The arrays travel in binary, as :data:`jarvis.domain.knowledge.INSERT_KNOWLEDGE_BATCH`'s do.
INSERT_MESSAGES = """
INSERT INTO conversations (id, session_id, user_id, message_type, role, content, audio_file_path, agent_id, task_id,
                           metadata, context, embedding, created_at)
SELECT id, session_id, user_id, message_type, role, content, audio_file_path, agent_id, task_id, metadata, context,
       embedding, coalesce(created_at, CURRENT_TIMESTAMP + make_interval(secs => position::double precision / 1000000))
FROM unnest(%(id)b::uuid[], %(session_id)b::text[], %(user_id)b::text[], %(message_type)b::text[], %(role)b::text[],
            %(content)b::text[], %(audio_file_path)b::text[], %(agent_id)b::uuid[], %(task_id)b::uuid[],
            %(metadata)b::jsonb[], %(context)b::text[], %(embedding)b::vector[], %(created_at)b::timestamptz[],
            %(position)b::bigint[])
     AS batch(id, session_id, user_id, message_type, role, content, audio_file_path, agent_id, task_id, metadata,
              context, embedding, created_at, position)
"""
#: The columns of :data:`INSERT_MESSAGES` a :class:`MessageIn` gives.
MESSAGE_COLUMNS = (
    "session_id",
    "user_id",
    "message_type",
    "role",
    "content",
    "audio_file_path",
    "agent_id",
    "task_id",
    "created_at",
)
#: The ids among the candidates that exist (a missing one is named by its message's index).
EXISTING_AGENTS = "SELECT id FROM agents WHERE id = ANY(%s)"
EXISTING_TASKS = "SELECT id FROM tasks WHERE id = ANY(%s)"


def parsed_messages(messages: list[Any]) -> list[MessageIn]:
    """Every message as MessageIn, or InvalidInput naming the first bad one (``messages[3].role``)."""
    return parse_each(
        MessageIn, messages, field="messages", check=lambda spec: check_text(spec.content, field="content")
    )


def contexts(specs: list[MessageIn], stored: dict[str, dict]) -> list[str]:
    """Each turn's keyword context: its date, the turn before it (in the batch, or the session's
    *stored* last turn) and the turn after it in the batch."""
    following: dict[int, str] = {}
    later: dict[str, str] = {}
    for index in range(len(specs) - 1, -1, -1):
        if specs[index].session_id in later:
            following[index] = later[specs[index].session_id]
        later[specs[index].session_id] = specs[index].content
    previous: dict[str, str] = {}
    out = []
    for index, spec in enumerate(specs):
        before = previous.get(spec.session_id) or (stored.get(spec.session_id) or {}).get("content")
        context = turn_context(previous=before, said_at=spec.created_at)
        after = following.get(index)
        out.append(f"{context}\n{after[:PREVIOUS_TURN_CHARS]}" if after else context)
        previous[spec.session_id] = spec.content
    return out


class MessageBatchMixin(TurnsMixin):
    def append_messages(self, messages: Iterable[dict[str, Any]], *, wait: bool | None = None) -> Written:
        """Store many messages in order, in one transaction; returns ``{"ids", "count", "lagging",
        "projected"}`` (ids in input order). As :meth:`append_message` for each (turn context,
        Chroma ``conversations``, the session in Redis, User INTERACTED_WITH Agent), with the
        embedding overlapped with the inserts. *wait* as in :meth:`_write`; with ``wait=False``,
        :meth:`flush` waits for the projection.

        Raises:
            InvalidInput: naming ``messages[i].field`` — nothing has been written.
            Forbidden: a user-bound caller names another user, or writes into a session holding
                another user's turn (``messages[i].user_id`` / ``.session_id``) — nothing has been
                written.
            StoreUnavailable: PostgreSQL is down — nothing has been written.
        """
        messages = list(messages)
        if not 1 <= len(messages) <= MAX_MESSAGES:
            raise InvalidInput("messages", f"must be a list of 1 to {MAX_MESSAGES} messages")
        specs = self._owned(parsed_messages(messages))

        bound = self._who().bound

        def work(conn):
            if bound:  # PostgreSQL refuses these anyway (migration 027); asked first to name the message
                _refuse_foreign_sessions(conn, specs)
            _refuse_missing(conn, EXISTING_AGENTS, specs, "agent_id")
            _refuse_missing(conn, EXISTING_TASKS, specs, "task_id")
            stored = {
                r["session_id"]: r
                for r in conn.execute(LAST_TURNS, {"sessions": sorted({s.session_id for s in specs})}).fetchall()
            }
            first: dict[str, MessageIn] = {}
            for spec in specs:
                first.setdefault(spec.session_id, spec)
            for session_id, last in stored.items():  # the batch's first turn follows the stored last one
                self.add_next_turn(conn, last, first[session_id].content)
            events = [
                Event("user", user)
                for user in sorted({s.user_id for s in specs if s.user_id})
                if conn.execute(ENSURE_USER, (user,)).fetchone()
            ]
            rows = list(zip(specs, contexts(specs, stored)))
            batches = [rows[start : start + BATCH] for start in range(0, len(rows), BATCH)]
            embedded = self.embedder.embed_batches(
                ([spec.content for spec, _ in batch] for batch in batches), field="messages.content"
            )
            ids: list[str] = []
            for batch, vectors in zip(batches, embedded):  # the lanes embed ahead of these inserts
                dumped = [spec.model_dump() for spec, _ in batch]
                keys = [uuid.uuid4() for _ in batch]
                conn.execute(
                    INSERT_MESSAGES,
                    {
                        **{column: [row[column] for row in dumped] for column in MESSAGE_COLUMNS},
                        "id": keys,
                        "metadata": [Jsonb(spec.metadata) for spec, _ in batch],
                        "context": [context for _, context in batch],
                        "embedding": list(vectors),
                        "position": list(range(len(ids), len(ids) + len(batch))),
                    },
                )
                ids += [str(key) for key in keys]
            events += [Event("conversation", key) for key in ids]
            for user, agent in sorted({(s.user_id, str(s.agent_id)) for s in specs if s.user_id and s.agent_id}):
                events.append(self._edge(conn, "INTERACTED_WITH", "User", user, "Agent", agent))
            return {"ids": ids, "count": len(ids)}, events

        try:
            written = self._write(work, wait=wait)
        except Forbidden as exc:
            if exc.field != "session_id":
                raise
            # another user's turn arrived after the check (a service's write): name the message
            with self._postgres() as conn:
                _refuse_foreign_sessions(conn, specs)
            raise
        latest = {spec.session_id: spec for spec in specs}  # each session's latest turn
        self._after_commit(
            written,
            lambda redis: [
                redis.touch_session(
                    session_id, user_id=spec.user_id, agent_id=str(spec.agent_id) if spec.agent_id else None
                )
                for session_id, spec in latest.items()
            ],
        )
        return written

    def _owned(self, specs: list[MessageIn]) -> list[MessageIn]:
        """Each message attributed as :meth:`append_message` attributes one: a user-bound caller
        writes only as its user (the sessions are checked in the transaction)."""
        owned = []
        for index, spec in enumerate(specs):
            try:
                user = self._own_user(spec.user_id, field="user_id")
            except Forbidden as exc:
                raise Forbidden(f"messages[{index}].{exc.field}", str(exc).split(": ", 1)[-1]) from None
            spec = spec if user == spec.user_id else spec.model_copy(update={"user_id": user})
            self._require_own_recording(spec, field=f"messages[{index}].audio_file_path")
            owned.append(spec)
        return owned


def _refuse_foreign_sessions(conn: Any, specs: list[MessageIn]) -> None:
    """Forbidden naming the first message into a session holding another user's turn (for a
    user-bound transaction; it also takes the batch's new sessions' locks, in one order)."""
    sessions = sorted({spec.session_id for spec in specs})
    foreign = {row["session_id"] for row in conn.execute(FOREIGN_SESSIONS, {"sessions": sessions}).fetchall()}
    for index, spec in enumerate(specs):
        if spec.session_id in foreign:
            raise Forbidden(f"messages[{index}].session_id", "is a session of another user")


def _refuse_missing(conn: Any, query: str, specs: list[MessageIn], field: str) -> None:
    wanted = sorted({getattr(spec, field) for spec in specs if getattr(spec, field) is not None})
    if not wanted:
        return
    found = {row["id"] for row in conn.execute(query, (wanted,)).fetchall()}
    for index, spec in enumerate(specs):
        if getattr(spec, field) is not None and getattr(spec, field) not in found:
            kind = field.removesuffix("_id")
            raise InvalidInput(f"messages[{index}].{field}", f"refers to a {kind} that does not exist")
