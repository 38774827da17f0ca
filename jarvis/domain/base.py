"""What every area of the facade shares: the write path, reads, edges and error translation."""

from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import psycopg
from psycopg.rows import dict_row, tuple_row

from jarvis.access_counts import AccessCounts
from jarvis.config import Settings
from jarvis.connections import Stores
from jarvis.embeddings import Embedder
from jarvis.errors import InvalidInput, NotFound, StoreError, StoreUnavailable
from jarvis.outbox import Event, queue_record, recorded
from jarvis.projection.applier import Applied, Ticket
from jarvis.projection.projector import Projector
from jarvis.principal import Principal, current, own_user, scope_for
from jarvis.projection.entities import EDGE_ENTITY, edge_key
from jarvis.vocabulary import RelationshipType

T = TypeVar("T")

UPSERT_EDGE = """
INSERT INTO graph_edges (rel_type, src_label, src_id, dst_label, dst_id, properties)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT ON CONSTRAINT graph_edges_identity_key
DO UPDATE SET properties = graph_edges.properties || EXCLUDED.properties
"""
BUMP_EDGE = """
INSERT INTO graph_edges (rel_type, src_label, src_id, dst_label, dst_id, properties)
VALUES (%s, %s, %s, %s, %s, '{"count": 1}')
ON CONFLICT ON CONSTRAINT graph_edges_identity_key
DO UPDATE SET properties = jsonb_set(graph_edges.properties, '{count}',
    to_jsonb(coalesce((graph_edges.properties ->> 'count')::int, 0) + 1))
"""
DELETE_EDGES_OF = """
DELETE FROM graph_edges WHERE (src_label = %(label)s AND src_id = %(id)s) OR (dst_label = %(label)s AND dst_id = %(id)s)
RETURNING rel_type, src_label, src_id, dst_label, dst_id
"""

#: A user row for an id seen first in a task or a message (users are created on first sight).
ENSURE_USER = "INSERT INTO users (id) VALUES (%s) ON CONFLICT (id) DO NOTHING RETURNING id"

#: Existence checks for linking two entities; the table and key names are fixed here.
EXISTS = {
    "agents": "SELECT 1 FROM agents WHERE id = %s",
    "tasks": "SELECT 1 FROM tasks WHERE id = %s",
    "users": "SELECT 1 FROM users WHERE id = %s",
    "models": "SELECT 1 FROM models WHERE id = %s",
    "knowledge": "SELECT 1 FROM knowledge WHERE id = %s",
}


class Written(dict):
    """A write's result: the row as a dict, plus ``lagging`` (stores that have not caught up yet)
    and ``projected`` (false when the write returned at commit, before its projection).

    ``committed`` (perf_counter at commit) and ``ticket`` (for a write that did not wait) are
    attributes, not keys: :meth:`projection_seconds` is the lag the benchmarks report.
    """

    committed: float = 0.0
    ticket: Ticket | None = None
    _projection_seconds: float | None = None

    def projection_seconds(self, timeout: float | None = 30.0) -> float:
        """Seconds from commit until every projection store answered (waits if still running)."""
        if self._projection_seconds is None and self.ticket is not None:
            self._projection_seconds = self.ticket.wait(timeout).finished - self.committed
        return self._projection_seconds or 0.0


class Base:
    settings: Settings
    stores: Stores
    projector: Projector
    access_counts: AccessCounts

    @property
    def embedder(self) -> Embedder:  # provided by the facade
        raise NotImplementedError

    # -- the write path ---------------------------------------------------------------------
    def _write(
        self,
        work: Callable[[psycopg.Connection], tuple[dict | Callable[[], dict], list[Event]]],
        *,
        wait: bool | None = None,
    ) -> Written:
        """Run *work* in one transaction with its outbox events, then project them.

        *work* may return its result as a function, called once the transaction has committed:
        statements it only queued (its rows, the outbox insert, the ``COMMIT``) then travel in
        one round trip (pipeline mode, :meth:`PostgresStore.transaction`).

        With *wait* (default: ``settings.write_wait``) the caller waits for every projection
        store (write-through, read-your-writes); without, the write returns once committed
        (durable) and the :class:`~jarvis.outbox.Applier` projects it milliseconds later.
        """
        with self._postgres() as conn:  # one transaction: the rows and their outbox events
            result, events = work(conn)
            read_ids = queue_record(conn, events)
        event_ids = read_ids()  # answered with the COMMIT
        if callable(result):
            result = result()
        written = Written(result)
        written.committed = time.perf_counter()
        outboxed = recorded(event_ids, events)
        if self.settings.write_wait if wait is None else wait:
            try:
                applied = self.projector.apply_events(outboxed)
            except Exception:  # noqa: BLE001 - committed: PostgreSQL failed while projecting; the outbox keeps it
                logging.getLogger("jarvis.write").warning("projection after commit failed", exc_info=True)
                applied = Applied(
                    lagging={store: "not applied yet" for *_, pending in outboxed for store in pending},
                    finished=time.perf_counter(),
                )
            written["lagging"], written["projected"] = sorted(applied.lagging), True
            written._projection_seconds = applied.finished - written.committed if event_ids else 0.0
        else:
            written.ticket = self.projector.applier.submit(outboxed)
            written["lagging"], written["projected"] = [], False
        return written

    def _after_commit(self, written: Written, step: Callable[[Any], object]) -> None:
        """Run a Redis step (*step* gets the RedisStore) after PostgreSQL committed: never raises;
        if Redis fails, ``lagging`` says so and the server's repair loop (or its TTL) puts it right."""
        try:
            step(self.stores.redis)
        except StoreError:
            written["lagging"] = sorted({*written.get("lagging", []), "redis"})

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every write that did not wait has been projected (or left in the outbox)."""
        return self.projector.applier.flush(timeout)

    # -- whose call this is -----------------------------------------------------------------
    def _who(self) -> Principal:
        """The principal of the current call (see :meth:`Stores.postgres_for` for an unnamed one)."""
        return self.stores.postgres_for(current())[1]

    def _own_user(self, requested: str | None, *, field: str) -> str | None:
        """The user a write is attributed to; Forbidden (naming *field*) if a caller bound to one
        user names another."""
        return own_user(self._who(), requested, field=field)

    @contextmanager
    def _postgres(self) -> Iterator[psycopg.Connection]:
        """A pooled connection with dict rows, on the pool and with the principal of the current
        call (row-level security sees the same principal); the store translates database errors
        into ours, naming the field (:meth:`PostgresStore.translate`)."""
        pool, who = self.stores.postgres_for(current())
        try:
            with pool.transaction(scope_for(who)) as conn:
                conn.row_factory = dict_row
                try:
                    yield conn
                finally:
                    conn.row_factory = tuple_row  # pooled: leave it as the pool's other users expect
        except StoreUnavailable:
            self.stores.check_postgres()  # the sibling pool's idle connections died too
            raise

    def _one(self, query: str, params: Any = None, *, missing: str | None = None) -> dict | None:
        with self._postgres() as conn:
            cursor = conn.execute(query, params)
        row = cursor.fetchone()  # read after the COMMIT: one round trip (see _all)
        if row is None and missing:
            raise NotFound(missing)
        return row

    def _all(self, query: str, params: Any = None) -> list[dict]:
        """Rows of one statement. They are read once the transaction block has ended: in
        pipeline mode ``BEGIN``, the row-level-security scope, the statement and ``COMMIT``
        then travel together, one round trip instead of two (a search's hydration)."""
        with self._postgres() as conn:
            cursor = conn.execute(query, params)
        return cursor.fetchall()

    # -- graph edges (rows in Postgres, relationships in Neo4j) ---------------------------------
    @staticmethod
    def _edge(
        conn: psycopg.Connection,
        rel: RelationshipType | str,
        src_label: str,
        src: Any,
        dst_label: str,
        dst: Any,
        properties: dict | None = None,
        *,
        bump: bool = False,
    ) -> Event:
        """Record one relationship as a ``graph_edges`` row; *rel* must be a :class:`RelationshipType`
        (ValueError otherwise: a programming error, never input)."""
        args = (RelationshipType(rel).value, src_label, str(src), dst_label, str(dst))
        if bump:
            conn.execute(BUMP_EDGE, args)
        else:
            conn.execute(UPSERT_EDGE, (*args, json.dumps(properties or {})))
        return Event(EDGE_ENTITY, edge_key(*args))

    def _link(
        self,
        rel: RelationshipType,
        src: tuple[str, str, Any, str],
        dst: tuple[str, str, Any, str],
        *,
        properties: dict | None = None,
        bump: bool = False,
    ) -> Written:
        """Add one relationship between two existing entities, each given as (label, table, id, field)."""

        def work(conn):
            for label, table, key, field in (src, dst):
                if conn.execute(EXISTS[table], (key,)).fetchone() is None:
                    raise InvalidInput(field, f"{label.lower()} {key} does not exist")
            event = self._edge(conn, rel, src[0], src[2], dst[0], dst[2], properties, bump=bump)
            return {"relationship": RelationshipType(rel).value, "from": str(src[2]), "to": str(dst[2])}, [event]

        return self._write(work)

    @staticmethod
    def _drop_edges_of(conn: psycopg.Connection, label: str, node_id: Any) -> list[Event]:
        rows = conn.execute(DELETE_EDGES_OF, {"label": label, "id": str(node_id)}).fetchall()
        return [Event(EDGE_ENTITY, edge_key(*(r.values() if isinstance(r, dict) else r)), "delete") for r in rows]

    def _embed(self, text: str, *, field: str) -> np.ndarray:
        return self.embedder.embed(text, field=field)


#: Columns no caller is shown: the embedding (large, ours), and a task's lease token, which only
#: the worker that dequeued the task holds (in its lease), so nobody else can finish or fail it;
#: and a row's version, which only orders projections (migration 015).
HIDDEN_COLUMNS = frozenset({"embedding", "lease_token", "row_version"})


def jsonable(row: dict) -> dict:
    """A row without its hidden columns, ready for JSON (UUIDs, times and decimals as plain values)."""
    return {key: _plain(value) for key, value in row.items() if key not in HIDDEN_COLUMNS}


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def as_uuid(value: Any, field: str) -> UUID:
    """*value* as a UUID, or InvalidInput naming *field*."""
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise InvalidInput(field, "is not a valid UUID") from None
