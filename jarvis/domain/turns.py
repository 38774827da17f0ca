"""Conversation turns indexed with their context, one at a time or in bulk.

A turn is often unfindable on its own words: "Yes, last week!" answers "when did Ada adopt
the dog?" only beside the turns around it. So a turn's keyword index (``search_tsv``, not
its stored content nor its embedding) also holds ``context``: the date it was said, the turn
before it and — added when it arrives — the turn after it, at a lower weight than the turn's
own words. Its embedding is made from its own words alone: on LoCoMo, embedding the context
too made vector search worse while the same context in the keyword index made it better
(``docs/benchmarks.md``). The context is a column of the row, so a rebuild needs no model.
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
from jarvis.schemas import MessageIn, parse_each

#: Characters of the previous turn kept as context: enough for its gist, not enough to drown the turn.
PREVIOUS_TURN_CHARS = 400

INSERT_MESSAGE_BATCH = """
INSERT INTO conversations (id, session_id, user_id, message_type, role, content, audio_file_path, agent_id, task_id,
                           metadata, context, embedding, created_at)
VALUES (%(id)s, %(session_id)s, %(user_id)s, %(message_type)s, %(role)s, %(content)s, %(audio_file_path)s,
        %(agent_id)s, %(task_id)s, %(metadata)s, %(context)s, %(embedding)s, coalesce(%(created_at)s, CURRENT_TIMESTAMP))
"""
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

    def ingest_messages(self, items: Iterable[dict[str, Any]], *, batch_size: int = 128,
                        wait: bool | None = None) -> dict[str, Any]:
        """Bulk import of conversation turns, in the order given (each session's turns oldest
        first). Every item is checked before anything is written (a bad one is refused, naming
        it: ``items[3].content``); then batches of *batch_size*, each one transaction, are
        embedded ahead on the embedder's lanes while the previous batch commits, as
        :meth:`ingest_knowledge` does. Each turn gets its context (date, previous and next turns).

        Returns ``{"ids", "count"}`` (ids in input order) once the last batch has committed;
        with ``wait=False``, :meth:`flush` waits for the last projection."""
        items = list(items)
        if not items:
            raise InvalidInput("items", "must not be empty")
        if not 1 <= batch_size <= 1000:
            raise InvalidInput("batch_size", "must be between 1 and 1000")
        specs = parse_each(MessageIn, items, field="items")
        stored = self.previous_turns(spec.session_id for spec in specs)
        following: dict[int, str] = {}
        later: dict[str, str] = {}
        for index in range(len(specs) - 1, -1, -1):
            if specs[index].session_id in later:
                following[index] = later[specs[index].session_id]
            later[specs[index].session_id] = specs[index].content
        previous: dict[str, str] = {}
        contexts, follows = [], []
        for index, spec in enumerate(specs):
            if spec.session_id not in previous:  # the session's first new turn follows its stored last one
                follows.append((index, stored.get(spec.session_id), spec.content))
            before = previous.get(spec.session_id) or (stored.get(spec.session_id) or {}).get("content")
            context = turn_context(previous=before, said_at=spec.created_at)
            after = following.get(index)
            contexts.append(f"{context}\n{after[:PREVIOUS_TURN_CHARS]}" if after else context)
            previous[spec.session_id] = spec.content
        rows = list(zip(specs, contexts))
        batches = [rows[start:start + batch_size] for start in range(0, len(rows), batch_size)]
        embedded = self.embedder.embed_batches(([s.content for s, _ in batch] for batch in batches),
                                               field="items.content")
        ids: list[str] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="jarvis-ingest") as writer:
            committing: Future[Written] | None = None
            for number, (batch, vectors) in enumerate(zip(batches, embedded)):
                if committing is not None:
                    ids += committing.result()["ids"]
                start = number * batch_size
                mine = [(turn, content) for index, turn, content in follows if start <= index < start + batch_size]
                committing = writer.submit(copy_context().run, self._insert_turns, batch, vectors, wait, mine)
            ids += committing.result()["ids"]
        self._touch_sessions(specs)
        return {"ids": ids, "count": len(ids)}

    def _insert_turns(self, batch: list[tuple[MessageIn, str]], vectors: np.ndarray, wait: bool | None,
                      follows: list[tuple[dict | None, str]]) -> Written:
        def work(conn):
            keys = [uuid.uuid4() for _ in batch]
            for previous, content in follows:
                self.add_next_turn(conn, previous, content)
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

    def _touch_sessions(self, specs: list[MessageIn]) -> None:
        latest = {spec.session_id: spec for spec in specs}
        try:
            for session_id, spec in latest.items():
                self.stores.redis.touch_session(session_id, user_id=spec.user_id,
                                                agent_id=str(spec.agent_id) if spec.agent_id else None)
        except StoreError:
            pass  # sessions are a cache of activity; the turns are committed
