"""Conversation turns indexed with their context, one at a time or in bulk.

A turn is often unfindable on its own words: "Yes, last week!" answers "when did Ada adopt
the dog?" only beside the turn it replies to. So a turn is indexed — its embedding and its
keyword vector, never its stored content — together with ``context``: the date it was said
and the turn before it in its session. ``docs/benchmarks.md`` has what each part is worth
on LoCoMo. The context is stored with the row (``conversations.context``), so a projection
rebuilt from PostgreSQL indexes exactly what search was measured with, without re-embedding.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from datetime import datetime, timezone
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

from jarvis.domain.base import ENSURE_USER, Base, Written
from jarvis.errors import InvalidInput, StoreError
from jarvis.outbox import Event
from jarvis.schemas import MessageIn, parse

#: Characters of the previous turn kept as context: enough for its gist, not enough to drown the turn.
PREVIOUS_TURN_CHARS = 400

INSERT_MESSAGE_BATCH = """
INSERT INTO conversations (id, session_id, user_id, message_type, role, content, audio_file_path, agent_id, task_id,
                           metadata, context, embedding, created_at)
VALUES (%(id)s, %(session_id)s, %(user_id)s, %(message_type)s, %(role)s, %(content)s, %(audio_file_path)s,
        %(agent_id)s, %(task_id)s, %(metadata)s, %(context)s, %(embedding)s, coalesce(%(created_at)s, CURRENT_TIMESTAMP))
"""
#: The latest turn of each session, to give the first turn of a batch (or a single turn) its context.
LAST_TURNS = """
SELECT DISTINCT ON (session_id) session_id, content FROM conversations
WHERE session_id = ANY(%(sessions)s) ORDER BY session_id, created_at DESC, id DESC
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


def indexed_text(content: str, context: str | None) -> str:
    """The text a turn's embedding is computed from: its context, then the turn itself."""
    return f"{context}\n{content}" if context else content


class TurnsMixin(Base):
    def previous_turns(self, session_ids: Iterable[str]) -> dict[str, str]:
        """The latest stored turn's content of each session (sessions without turns are absent)."""
        return {r["session_id"]: r["content"] for r in self._all(LAST_TURNS, {"sessions": sorted(set(session_ids))})}

    def ingest_messages(self, items: Iterable[dict[str, Any]], *, batch_size: int = 128,
                        wait: bool | None = None) -> dict[str, Any]:
        """Bulk import of conversation turns, in the order given (each session's turns oldest
        first). Every item is checked before anything is written (a bad one is refused, naming
        it: ``items[3].content``); then batches of *batch_size*, each one transaction, are
        embedded ahead on the embedder's lanes while the previous batch commits, as
        :meth:`ingest_knowledge` does. Each turn gets its context (date, previous turn).

        Returns ``{"ids", "count"}`` (ids in input order) once the last batch has committed;
        with ``wait=False``, :meth:`flush` waits for the last projection."""
        items = list(items)
        if not items:
            raise InvalidInput("items", "must not be empty")
        if not 1 <= batch_size <= 1000:
            raise InvalidInput("batch_size", "must be between 1 and 1000")
        specs = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidInput(f"items[{index}]", "must be an object")
            try:
                specs.append(parse(MessageIn, item))
            except InvalidInput as exc:
                raise InvalidInput(f"items[{index}].{exc.field}", exc.reason) from None
        previous = self.previous_turns(spec.session_id for spec in specs)
        contexts = []
        for spec in specs:
            contexts.append(turn_context(previous=previous.get(spec.session_id), said_at=spec.created_at))
            previous[spec.session_id] = spec.content
        rows = list(zip(specs, contexts))
        batches = [rows[start:start + batch_size] for start in range(0, len(rows), batch_size)]
        embedded = self.embedder.embed_batches(([indexed_text(s.content, c) for s, c in batch] for batch in batches),
                                               field="items.content")
        ids: list[str] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="jarvis-ingest") as writer:
            committing: Future[Written] | None = None
            for batch, vectors in zip(batches, embedded):
                if committing is not None:
                    ids += committing.result()["ids"]
                committing = writer.submit(copy_context().run, self._insert_turns, batch, vectors, wait)
            ids += committing.result()["ids"]
        self._touch_sessions(specs)
        return {"ids": ids, "count": len(ids)}

    def _insert_turns(self, batch: list[tuple[MessageIn, str]], vectors: np.ndarray, wait: bool | None) -> Written:
        def work(conn):
            keys = [uuid.uuid4() for _ in batch]
            events = []
            for user in sorted({spec.user_id for spec, _ in batch if spec.user_id}):
                if conn.execute(ENSURE_USER, (user,)).fetchone():
                    events.append(Event("user", user))
            with conn.cursor() as cur:
                cur.executemany(INSERT_MESSAGE_BATCH, [
                    {**spec.model_dump(), "id": key, "metadata": Jsonb(spec.metadata), "context": context,
                     "embedding": vector}
                    for (spec, context), key, vector in zip(batch, keys, vectors)])
            ids = [str(key) for key in keys]
            events += [Event("conversation", key) for key in ids]
            for user, agent in sorted({(s.user_id, str(s.agent_id)) for s, _ in batch if s.user_id and s.agent_id}):
                events.append(self._edge(conn, "INTERACTED_WITH", "User", user, "Agent", agent))
            return {"ids": ids, "count": len(ids)}, events

        return self._write(work, wait=wait)

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

    def _touch_sessions(self, specs: list[MessageIn]) -> None:
        latest = {spec.session_id: spec for spec in specs}
        try:
            with self.stores.redis.unavailable():
                for session_id, spec in latest.items():
                    self.stores.redis.touch_session(session_id, user_id=spec.user_id,
                                                    agent_id=str(spec.agent_id) if spec.agent_id else None)
        except StoreError:
            pass  # sessions are a cache of activity; the turns are committed
