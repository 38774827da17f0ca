"""Knowledge, code snippets, task patterns, users and their preferences: the things agents search."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

from jarvis.domain.base import Written, as_uuid, jsonable
from jarvis.domain.ownership import OwnershipMixin
from jarvis.errors import InvalidInput, NotFound
from jarvis.outbox import Event
from jarvis.schemas import CodeSnippetIn, KnowledgeIn, TaskPatternIn, UserIn, UserPreferenceIn, parse_each, takes
from jarvis.vocabulary import RelationshipType
from jarvis.stores.base import StoreName

# The id is made here, not by the database, so the outbox event can be queued behind the
# insert without waiting for its answer: both travel in one round trip. The row comes back
# without its embedding: the caller has it, and 384 floats cost a parse.
INSERT_KNOWLEDGE = """
INSERT INTO knowledge (id, topic, content, source, category, confidence, agent_id, embedding, valid_from, valid_to,
                       supersedes)
VALUES (%(id)s, %(topic)s, %(content)s, %(source)s, %(category)s, %(confidence)s, %(agent_id)s, %(embedding)s,
        coalesce(%(valid_from)s, CURRENT_TIMESTAMP), %(valid_to)s, %(supersedes)s)
RETURNING id, topic, content, source, category, confidence, agent_id, created_at, updated_at, valid_from, valid_to,
          supersedes
"""
#: The superseded fact, locked: two facts superseding it at once close it one after the other.
SUPERSEDED = "SELECT valid_from, valid_to FROM knowledge WHERE id = %(old)s FOR UPDATE"
#: Its validity ends where the new fact's begins (earlier ends are kept: history is not rewritten).
CLOSE_VALIDITY = """
UPDATE knowledge SET valid_to = coalesce(%(at)s, CURRENT_TIMESTAMP), updated_at = CURRENT_TIMESTAMP
WHERE id = %(old)s AND (valid_to IS NULL OR valid_to > coalesce(%(at)s, CURRENT_TIMESTAMP))
  AND valid_from <= coalesce(%(at)s, CURRENT_TIMESTAMP)
RETURNING id, valid_from
"""
INSERT_CODE = """
INSERT INTO code_snippets (content, language, purpose, agent_id, performance_score, tested, embedding)
VALUES (%(content)s, %(language)s, %(purpose)s, %(agent_id)s, %(performance_score)s, %(tested)s, %(embedding)s)
RETURNING *
"""
INSERT_PATTERN = """
INSERT INTO task_patterns (pattern_type, description, task_sequence, success_rate, optimal_agents, embedding)
VALUES (%(pattern_type)s, %(description)s, %(task_sequence)s, %(success_rate)s, %(optimal_agents)s, %(embedding)s)
RETURNING *
"""
#: A batch in one statement (each column an array): the statement-level triggers of migration
#: 017 run once per batch, not once per row as with ``executemany``. The arrays travel in
#: binary (``%(x)b``): in text, psycopg escapes every element with a regular expression and
#: writes each vector as 384 numbers, which the server parses back: 27 ms a batch of 64 (15
#: ms of it our CPU) against 7.5 ms (0.6 ms) in binary (docs/benchmark-notes.md, item 24).
INSERT_KNOWLEDGE_BATCH = """
INSERT INTO knowledge (id, topic, content, source, category, confidence, agent_id, embedding, valid_from, valid_to,
                       supersedes)
SELECT id, topic, content, source, category, confidence, agent_id, embedding,
       coalesce(valid_from, CURRENT_TIMESTAMP), valid_to, supersedes
FROM unnest(%(id)b::uuid[], %(topic)b::text[], %(content)b::text[], %(source)b::text[], %(category)b::text[],
            %(confidence)b::numeric[], %(agent_id)b::uuid[], %(embedding)b::vector[], %(valid_from)b::timestamptz[],
            %(valid_to)b::timestamptz[], %(supersedes)b::uuid[])
     AS batch(id, topic, content, source, category, confidence, agent_id, embedding, valid_from, valid_to, supersedes)
"""
#: The columns of :data:`INSERT_KNOWLEDGE_BATCH` a :class:`KnowledgeIn` gives.
BATCH_COLUMNS = (
    "topic",
    "content",
    "source",
    "category",
    "confidence",
    "agent_id",
    "valid_from",
    "valid_to",
    "supersedes",
)
DELETE_KNOWLEDGE = "DELETE FROM knowledge WHERE id = %s RETURNING id"
UPSERT_USER = """
INSERT INTO users (id, name, preferences) VALUES (%(id)s, %(name)s, %(preferences)s)
ON CONFLICT (id) DO UPDATE SET name = coalesce(EXCLUDED.name, users.name),
                               preferences = users.preferences || EXCLUDED.preferences
RETURNING *
"""
INSERT_PREFERENCE = """
INSERT INTO user_preferences (user_id, preference_type, description, value, confidence, embedding)
VALUES (%(user_id)s, %(preference_type)s, %(description)s, %(value)s, %(confidence)s, %(embedding)s)
RETURNING *
"""


class KnowledgeMixin(OwnershipMixin):
    @takes(KnowledgeIn)
    def add_knowledge(self, spec: KnowledgeIn, /, *, wait: bool | None = None) -> Written:
        """Knowledge node (GENERATED_BY its agent) and a ``knowledge_base`` document; *wait* as in
        :meth:`_write`."""
        self._require_seen(agent_id=spec.agent_id)
        vector = self._embed(spec.content, field="content")

        def work(conn):
            key = uuid.uuid4()
            events = self._supersede(conn, spec, key)
            inserted = conn.execute(INSERT_KNOWLEDGE, {**spec.model_dump(), "id": key, "embedding": vector})
            events.append(Event("knowledge", str(key)))
            if spec.supersedes is not None:  # after the insert: an edge needs both its endpoints' rows
                events.append(
                    self._edge(conn, RelationshipType.SUPERSEDES, "Knowledge", key, "Knowledge", spec.supersedes)
                )
            if spec.agent_id:
                events.append(self._edge(conn, RelationshipType.GENERATED_BY, "Knowledge", key, "Agent", spec.agent_id))
            return lambda: jsonable(inserted.fetchone()), events  # read once the outbox insert is answered

        return self._write(work, wait=wait)

    def add_knowledge_many(self, items: list[dict[str, Any]], *, wait: bool | None = None) -> Written:
        """Add a batch in one transaction: one embedding pass, one projection round.

        For more than one batch, :meth:`ingest_knowledge` overlaps the batches' embedding
        with their writes."""
        if not isinstance(items, list) or not 1 <= len(items) <= 1000:
            raise InvalidInput("items", "must be a list of 1 to 1000 items")
        specs = _parsed(items)
        self._require_seen(**{f"items[{i}].agent_id": spec.agent_id for i, spec in enumerate(specs)})
        vectors = self.embedder.embed_many([spec.content for spec in specs], field="items.content")
        return self._insert_knowledge(specs, vectors, wait)

    def ingest_knowledge(
        self, items: Iterable[dict[str, Any]], *, batch_size: int = 64, wait: bool | None = None
    ) -> dict[str, Any]:
        """Bulk import: every item is checked before anything is written (a bad one is refused,
        naming it), then batches of *batch_size*, each its own transaction. The embedder's
        lanes work ahead while each batch commits (and, with *wait*, is projected) on a writer
        thread, so the embedder — the one thing that cannot go faster — never waits for a store.

        Returns ``{"ids", "count"}`` once the last batch has committed; with ``wait=False``,
        :meth:`flush` waits for the last projection. If a batch fails (a store down), the
        batches before it stay committed and the error is raised."""
        items = list(items)
        if not items:
            raise InvalidInput("items", "must not be empty")
        if not 1 <= batch_size <= 1000:
            raise InvalidInput("batch_size", "must be between 1 and 1000")
        specs = _parsed(items)
        self._require_seen(**{f"items[{i}].agent_id": spec.agent_id for i, spec in enumerate(specs)})
        batches = [specs[start : start + batch_size] for start in range(0, len(specs), batch_size)]
        embedded = self.embedder.embed_batches(
            ([spec.content for spec in batch] for batch in batches), field="items.content"
        )
        ids: list[str] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="jarvis-ingest") as writer:
            committing: Future[Written] | None = None
            for batch, vectors in zip(batches, embedded):
                if committing is not None:
                    ids += committing.result()["ids"]
                # the caller's principal (the API's user) goes with the batch to the writer thread
                committing = writer.submit(copy_context().run, self._insert_knowledge, batch, vectors, wait)
            ids += committing.result()["ids"]
        return {"ids": ids, "count": len(ids)}

    def _insert_knowledge(self, specs: list[KnowledgeIn], vectors: np.ndarray, wait: bool | None) -> Written:
        def work(conn):
            keys = [uuid.uuid4() for _ in specs]
            closed = [
                event for spec, key in zip(specs, keys) if spec.supersedes for event in self._supersede(conn, spec, key)
            ]
            # one statement, queued with the outbox events: one round trip for the batch
            dumped = [spec.model_dump() for spec in specs]
            columns = {column: [row[column] for row in dumped] for column in BATCH_COLUMNS}
            conn.execute(INSERT_KNOWLEDGE_BATCH, {**columns, "id": keys, "embedding": list(vectors)})
            ids = [str(key) for key in keys]
            events = [*closed, *(Event("knowledge", key) for key in ids)]
            for spec, key in zip(specs, ids):
                if spec.agent_id:
                    events.append(
                        self._edge(conn, RelationshipType.GENERATED_BY, "Knowledge", key, "Agent", spec.agent_id)
                    )
            return {"ids": ids, "count": len(ids)}, events

        return self._write(work, wait=wait)

    def _supersede(self, conn, spec: KnowledgeIn, key: uuid.UUID) -> list[Event]:
        """Close the validity of the fact *spec* supersedes at *spec*'s valid_from (the caller
        records ``(new)-[:SUPERSEDES]->(old)`` once the new row exists); the old fact stays,
        valid until then (``as_of`` finds it)."""
        if spec.supersedes is None:
            return []
        old = conn.execute(SUPERSEDED, {"old": spec.supersedes}).fetchone()
        if old is None:
            raise InvalidInput("supersedes", f"knowledge {spec.supersedes} does not exist")
        if spec.valid_from is not None and spec.valid_from < old["valid_from"]:
            raise InvalidInput("valid_from", "must not be before the valid_from of the fact it supersedes")
        conn.execute(CLOSE_VALIDITY, {"old": spec.supersedes, "at": spec.valid_from})
        return [Event("knowledge", str(spec.supersedes))]

    def delete_knowledge(self, knowledge_id: Any) -> Written:
        """Delete an item and its relationships; the outbox removes it from Neo4j and Chroma."""
        key = as_uuid(knowledge_id, "knowledge_id")

        def work(conn):
            events = self._drop_edges_of(conn, "Knowledge", key)
            if conn.execute(DELETE_KNOWLEDGE, (key,)).fetchone() is None:
                raise NotFound(f"knowledge {key} does not exist")
            return {"id": str(key), "deleted": True}, [*events, Event("knowledge", str(key), "delete")]

        return self._write(work)

    def relate_knowledge(self, knowledge_id: Any, related_id: Any) -> Written:
        """``(Knowledge)-[:RELATED_TO]->(Knowledge)``."""
        a, b = as_uuid(knowledge_id, "knowledge_id"), as_uuid(related_id, "related_id")
        if a == b:
            raise InvalidInput("related_id", "must differ from knowledge_id")
        return self._link(
            RelationshipType.RELATED_TO,
            ("Knowledge", "knowledge", a, "knowledge_id"),
            ("Knowledge", "knowledge", b, "related_id"),
        )

    def use_knowledge(self, knowledge_id: Any, task_id: Any) -> Written:
        """``(Knowledge)-[:USED_IN]->(Task)``."""
        k, t = as_uuid(knowledge_id, "knowledge_id"), as_uuid(task_id, "task_id")
        return self._link(
            RelationshipType.USED_IN, ("Knowledge", "knowledge", k, "knowledge_id"), ("Task", "tasks", t, "task_id")
        )

    def traverse_knowledge(
        self, topic: str, *, max_hops: int = 3, limit: int = 50, as_of: datetime | None = None
    ) -> list[dict]:
        """Knowledge reachable from *topic* through RELATED_TO in 1 to *max_hops* (≤ 3) hops,
        through facts valid at *as_of* only (default: now) — a superseded fact is neither
        reached nor passed through, as in search."""
        if not 1 <= max_hops <= 3:
            raise InvalidInput("max_hops", "must be 1, 2 or 3")
        if not isinstance(topic, str) or not topic.strip():
            raise InvalidInput("topic", "must not be empty")
        if as_of is not None and not isinstance(as_of, datetime):
            raise InvalidInput("as_of", "must be a time")
        at = (
            datetime.now(timezone.utc)
            if as_of is None
            else (as_of if as_of.tzinfo is not None else as_of.replace(tzinfo=timezone.utc))
        )
        return self.stores.get(StoreName.NEO4J).run_named(
            "knowledge_traversal", topic=topic, max_hops=max_hops, limit=limit, as_of=at
        )

    @takes(CodeSnippetIn)
    def add_code_snippet(self, spec: CodeSnippetIn, /) -> Written:
        self._require_seen(agent_id=spec.agent_id)
        vector = self._embed(f"{spec.purpose}\n{spec.content}" if spec.purpose else spec.content, field="content")

        def work(conn):
            row = conn.execute(INSERT_CODE, {**spec.model_dump(), "embedding": vector}).fetchone()
            return jsonable(row), [Event("code_snippet", str(row["id"]))]

        return self._write(work)

    @takes(TaskPatternIn)
    def add_task_pattern(self, spec: TaskPatternIn, /) -> Written:
        vector = self._embed(spec.description, field="description")

        def work(conn):
            row = conn.execute(
                INSERT_PATTERN,
                {
                    **spec.model_dump(),
                    "embedding": vector,
                    "task_sequence": Jsonb(spec.task_sequence),
                    "optimal_agents": Jsonb(spec.optimal_agents),
                },
            ).fetchone()
            return jsonable(row), [Event("task_pattern", str(row["id"]))]

        return self._write(work)

    @takes(UserIn)
    def upsert_user(self, spec: UserIn, /) -> Written:
        self._own_user(spec.id, field="id")  # a user-bound caller writes only its own user

        def work(conn):
            row = conn.execute(UPSERT_USER, {**spec.model_dump(), "preferences": Jsonb(spec.preferences)}).fetchone()
            return jsonable(row), [Event("user", spec.id)]

        return self._write(work)

    @takes(UserPreferenceIn)
    def add_user_preference(self, spec: UserPreferenceIn, /) -> Written:
        """A preference point in ``user_preferences`` (euclidean), embedded from its description."""
        self._own_user(spec.user_id, field="user_id")
        vector = self._embed(spec.description, field="description")

        def work(conn):
            row = conn.execute(
                INSERT_PREFERENCE, {**spec.model_dump(), "embedding": vector, "value": Jsonb(spec.value)}
            ).fetchone()
            return jsonable(row), [Event("user_preference", str(row["id"]))]

        return self._write(work)

    def user_prefers(self, user_id: str, agent_id: Any) -> Written:
        """``(User)-[:PREFERS]->(Agent)``."""
        self._own_user(user_id, field="user_id")
        return self._link(
            RelationshipType.PREFERS,
            ("User", "users", user_id, "user_id"),
            ("Agent", "agents", as_uuid(agent_id, "agent_id"), "agent_id"),
        )


def _parsed(items: list[Any]) -> list[KnowledgeIn]:
    """Every item as KnowledgeIn, or InvalidInput naming the first bad one (``items[3].content``)."""
    return parse_each(KnowledgeIn, items, field="items")
