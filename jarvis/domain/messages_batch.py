"""Conversation messages in bulk: a history of thousands of turns at the embedder's speed.

``append_message`` costs one embedding and one transaction (with its projection) per turn;
importing a history that way is a round trip per turn. :meth:`MessageBatchMixin.append_messages`
checks every message first (a bad one is refused naming its index, before anything is
written), then embeds the batches on the embedder's lanes while they are inserted, all in
one transaction: the import is whole or absent. Each message keeps its place in the
history: its ``created_at`` is the transaction's time plus its index in microseconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from psycopg.types.json import Jsonb

from jarvis.domain.base import ENSURE_USER, Base, Written
from jarvis.embeddings import check_text
from jarvis.errors import InvalidInput, StoreError
from jarvis.outbox import Event
from jarvis.schemas import MessageIn, parse_each

#: Rows per INSERT round (and per embedding batch on a lane).
BATCH = 64
#: One call's upper bound: one transaction holds the whole import.
MAX_MESSAGES = 100_000

INSERT_MESSAGES = """
INSERT INTO conversations (id, session_id, user_id, message_type, role, content, audio_file_path, agent_id, task_id,
                           metadata, embedding, created_at)
VALUES (%(id)s, %(session_id)s, %(user_id)s, %(message_type)s, %(role)s, %(content)s, %(audio_file_path)s,
        %(agent_id)s, %(task_id)s, %(metadata)s, %(embedding)s,
        CURRENT_TIMESTAMP + make_interval(secs => %(order)s::double precision / 1000000))
"""
#: The ids among the candidates that exist (a missing one is named by its message's index).
EXISTING_AGENTS = "SELECT id FROM agents WHERE id = ANY(%s)"
EXISTING_TASKS = "SELECT id FROM tasks WHERE id = ANY(%s)"


def parsed_messages(messages: list[Any]) -> list[MessageIn]:
    """Every message as MessageIn, or InvalidInput naming the first bad one (``messages[3].role``)."""
    return parse_each(MessageIn, messages, field="messages",
                      check=lambda spec: check_text(spec.content, field="content"))


class MessageBatchMixin(Base):
    def append_messages(self, messages: Iterable[dict[str, Any]], *, wait: bool | None = None) -> Written:
        """Store many messages in order, in one transaction; returns ``{"ids", "count", "lagging",
        "projected"}``. As :meth:`append_message` for each (Chroma ``conversations``, the session
        in Redis, User INTERACTED_WITH Agent), with the embedding overlapped with the inserts.

        Raises:
            InvalidInput: naming ``messages[i].field`` — nothing has been written.
            StoreUnavailable: PostgreSQL is down — nothing has been written.
        """
        messages = list(messages)
        if not 1 <= len(messages) <= MAX_MESSAGES:
            raise InvalidInput("messages", f"must be a list of 1 to {MAX_MESSAGES} messages")
        specs = parsed_messages(messages)
        batches = [specs[start:start + BATCH] for start in range(0, len(specs), BATCH)]

        def work(conn):
            _refuse_missing(conn, EXISTING_AGENTS, specs, "agent_id")
            _refuse_missing(conn, EXISTING_TASKS, specs, "task_id")
            events = [Event("user", user) for user in sorted({s.user_id for s in specs if s.user_id})
                      if conn.execute(ENSURE_USER, (user,)).fetchone()]
            ids: list[str] = []
            embedded = self.embedder.embed_batches([spec.content for spec in batch] for batch in batches)
            with conn.cursor() as cur:
                for batch, vectors in zip(batches, embedded):  # the lanes embed ahead of these inserts
                    rows = [{**spec.model_dump(), "id": uuid.uuid4(), "metadata": Jsonb(spec.metadata),
                             "embedding": vector, "order": len(ids) + offset}
                            for offset, (spec, vector) in enumerate(zip(batch, vectors))]
                    cur.executemany(INSERT_MESSAGES, rows)
                    ids += [str(row["id"]) for row in rows]
            events += [Event("conversation", key) for key in ids]
            for user, agent in sorted({(s.user_id, str(s.agent_id)) for s in specs if s.user_id and s.agent_id}):
                events.append(self._edge(conn, "INTERACTED_WITH", "User", user, "Agent", agent))
            return {"ids": ids, "count": len(ids)}, events

        written = self._write(work, wait=wait)
        last: dict[str, MessageIn] = {spec.session_id: spec for spec in specs}  # each session's latest turn
        try:
            for session_id, spec in last.items():
                self.stores.redis.touch_session(session_id, user_id=spec.user_id,
                                                agent_id=str(spec.agent_id) if spec.agent_id else None)
        except StoreError:
            written["lagging"] = sorted({*written["lagging"], "redis"})
        return written


def _refuse_missing(conn: Any, query: str, specs: list[MessageIn], field: str) -> None:
    wanted = sorted({getattr(spec, field) for spec in specs if getattr(spec, field) is not None})
    if not wanted:
        return
    found = {row["id"] for row in conn.execute(query, (wanted,)).fetchall()}
    for index, spec in enumerate(specs):
        if getattr(spec, field) is not None and getattr(spec, field) not in found:
            kind = field.removesuffix("_id")
            raise InvalidInput(f"messages[{index}].{field}", f"refers to a {kind} that does not exist")
