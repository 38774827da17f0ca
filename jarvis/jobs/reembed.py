"""``jarvis reembed --to BACKEND``: embed every stored text again, to switch vector families.

Switching between fp32 (torch, ONNX) and int8 (ONNX quantised) vectors means every stored
embedding must be redone: a search compares a query's vector with stored ones, and the two
families must never meet. The job walks each embedded table in id order, a page at a time;
each page's new vectors, its outbox events (the projections follow through the outbox, as
for any write) and the table's progress commit in one transaction, so an interrupted run
resumes where it stopped. Once every table is done, the recorded family changes in one
statement; until then every process refuses to embed (``embedding_space.check``).

Run it with ``jarvis serve`` stopped (the local stack's Qdrant Edge belongs to one process,
and writers of the old family must not add rows meanwhile).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from psycopg.rows import dict_row

from jarvis import embedding_space
from jarvis.connections import Stores
from jarvis.embeddings import Embedder
from jarvis.outbox import EVERY_USER, Event, record
from jarvis.principal import scope_transaction

PAGE = 256


@dataclass(frozen=True)
class Embedded:
    """A table whose rows carry an embedding of *text* (an SQL expression over fixed column
    names, the same text the write path embeds); *entity* is its outbox entity, if projected."""

    table: str
    text: str
    entity: str | None

    # Table and column names are the fixed constants below, never input.
    @property
    def page(self) -> str:
        return (
            f"SELECT id, {self.text} AS text FROM {self.table} "
            "WHERE embedding IS NOT NULL AND id > %(after)s ORDER BY id LIMIT %(limit)s"
        )

    @property
    def update(self) -> str:
        return f"UPDATE {self.table} SET embedding = %(embedding)s WHERE id = %(id)s"

    @property
    def count(self) -> str:
        return f"SELECT count(*) AS n FROM {self.table} WHERE embedding IS NOT NULL AND id > %(after)s"


TABLES = (
    Embedded("knowledge", "content", "knowledge"),
    Embedded("conversations", "content", "conversation"),
    Embedded(
        "code_snippets",
        "CASE WHEN coalesce(purpose, '') <> '' THEN purpose || E'\\n' || content ELSE content END",
        "code_snippet",
    ),
    Embedded("agent_capabilities", "description", "agent_capability"),
    Embedded("task_patterns", "description", "task_pattern"),
    Embedded("user_preferences", "description", "user_preference"),
    Embedded("agent_memory", "value", None),  # recall reads PostgreSQL itself
)
#: Below every uuid: where a table's walk starts.
FIRST = "00000000-0000-0000-0000-000000000000"


def reembed(stores: Stores, embedder: Embedder, *, progress: Callable[[str], None] = print) -> dict[str, int]:
    """Re-embed every stored text with *embedder* and record its family; returns rows per table.

    Resumes a run to the same family that was interrupted; a run to the family already
    recorded does nothing."""
    to = embedder.family
    with stores.postgres.pool.connection() as conn:
        space = embedding_space.read(conn)
        if space["family"] == to and space["reembed_to"] is None:
            progress(f"reembed: the store already holds {to} vectors; nothing to do")
            return {}
        conn.execute(embedding_space.START_REEMBED, {"to": to})
        done_before = embedding_space.read(conn)["progress"]
    counts: dict[str, int] = {}
    for spec in TABLES:
        state = done_before.get(spec.table, {})
        if state.get("finished"):
            counts[spec.table] = state.get("rows", 0)
            continue
        counts[spec.table] = _table(
            stores, embedder, spec, to=to, after=state.get("after", FIRST), rows=state.get("rows", 0), progress=progress
        )
    with stores.postgres.pool.connection() as conn:
        conn.execute(embedding_space.FINISH_REEMBED, {"to": to})
    progress(f"reembed: done; the store now holds {to} vectors ({sum(counts.values())} rows)")
    return counts


def _table(
    stores: Stores,
    embedder: Embedder,
    spec: Embedded,
    *,
    to: str,
    after: str,
    rows: int,
    progress: Callable[[str], None],
) -> int:
    with stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)
        total = rows + conn.execute(spec.count, {"after": after}).fetchone()[0]
        conn.commit()
    started, last_said = time.monotonic(), 0.0
    while True:
        with stores.postgres.pool.connection() as conn, conn.transaction():
            scope_transaction(conn, EVERY_USER)
            with conn.cursor(row_factory=dict_row) as cur:
                page = cur.execute(spec.page, {"after": after, "limit": PAGE}).fetchall()
            if not page:
                state = {"after": after, "rows": rows, "finished": True}
                conn.execute(
                    embedding_space.RECORD_PROGRESS, {"table": spec.table, "state": json.dumps(state), "to": to}
                )
                break
            vectors = embedder.embed_many([row["text"] for row in page], field=f"{spec.table}.text")
            with conn.cursor() as cur:
                cur.executemany(
                    spec.update, [{"id": row["id"], "embedding": vector} for row, vector in zip(page, vectors)]
                )
            if spec.entity is not None:
                record(conn, [Event(spec.entity, str(row["id"])) for row in page])
            after, rows = str(page[-1]["id"]), rows + len(page)
            conn.execute(
                embedding_space.RECORD_PROGRESS,
                {"table": spec.table, "to": to, "state": json.dumps({"after": after, "rows": rows})},
            )
        if time.monotonic() - last_said >= 2.0:
            last_said = time.monotonic()
            rate = rows / max(last_said - started, 1e-9)
            progress(f"reembed: {spec.table} {rows}/{total} ({rate:.0f} rows/s)")
    progress(f"reembed: {spec.table} {rows}/{total} done")
    return rows
