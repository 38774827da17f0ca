"""What every area of the facade shares: the write path, reads, edges and error translation."""

from __future__ import annotations

import json
import re
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
from psycopg_pool import PoolTimeout

from jarvis.config import Settings
from jarvis.connections import Stores
from jarvis.embeddings import Embedder
from jarvis.errors import Conflict, InvalidInput, NotFound, StoreUnavailable
from jarvis.outbox import Event, Projector, record
from jarvis.principal import scope_transaction
from jarvis.projections import EDGE_ENTITY, edge_key

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

_DETAIL_COLUMN = re.compile(r"Key \(([^)]+)\)")


class Written(dict):
    """A write's result: the row as a dict, plus ``lagging`` (stores that have not caught up yet).

    ``projection_seconds`` (an attribute, not a key) is the time from commit until every
    projection store answered: the projection lag the benchmarks report.
    """

    projection_seconds: float = 0.0


class Base:
    settings: Settings
    stores: Stores
    projector: Projector

    @property
    def embedder(self) -> Embedder:  # provided by the facade
        raise NotImplementedError

    # -- the write path ---------------------------------------------------------------------
    def _write(self, work: Callable[[psycopg.Connection], tuple[dict, list[Event]]]) -> Written:
        """Run *work* in one transaction with its outbox events, then project them (write-through)."""
        with self._postgres() as conn:
            with conn.transaction():
                result, events = work(conn)
                event_ids = record(conn, events)
        committed = time.perf_counter()
        applied = self.projector.apply(event_ids)
        written = Written(result)
        written["lagging"] = sorted(applied.lagging)
        written.projection_seconds = time.perf_counter() - committed
        return written

    @contextmanager
    def _postgres(self) -> Iterator[psycopg.Connection]:
        """A pooled connection with dict rows; database errors become ours, naming the field."""
        try:
            with self.stores.postgres.pool.connection() as conn:
                scope_transaction(conn)
                conn.row_factory = dict_row
                try:
                    yield conn
                finally:
                    conn.row_factory = tuple_row  # pooled: leave it as the pool's other users expect
        except PoolTimeout:
            raise StoreUnavailable("postgres", "no connection available (is PostgreSQL up?)") from None
        except psycopg.errors.ForeignKeyViolation as exc:
            field = _column(exc)
            raise InvalidInput(field, f"refers to a {_table(exc)} row that does not exist") from None
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(_column(exc), "already exists") from None
        except psycopg.errors.CheckViolation as exc:
            raise InvalidInput(exc.diag.constraint_name or "value", "is out of range") from None
        except (psycopg.errors.InvalidTextRepresentation, psycopg.errors.CharacterNotInRepertoire,
                psycopg.errors.UntranslatableCharacter, psycopg.errors.NumericValueOutOfRange) as exc:
            raise InvalidInput(exc.diag.column_name or "value", str(exc).splitlines()[0]) from None
        except psycopg.DataError as exc:  # e.g. a NUL byte, which PostgreSQL text cannot hold
            raise InvalidInput("value", str(exc).splitlines()[0]) from None
        except psycopg.OperationalError as exc:
            raise StoreUnavailable("postgres", type(exc).__name__) from None

    def _one(self, query: str, params: Any = None, *, missing: str | None = None) -> dict | None:
        with self._postgres() as conn:
            row = conn.execute(query, params).fetchone()
        if row is None and missing:
            raise NotFound(missing)
        return row

    def _all(self, query: str, params: Any = None) -> list[dict]:
        with self._postgres() as conn:
            return conn.execute(query, params).fetchall()

    # -- graph edges (rows in Postgres, relationships in Neo4j) ---------------------------------
    @staticmethod
    def _edge(conn: psycopg.Connection, rel: str, src_label: str, src: Any, dst_label: str, dst: Any,
              properties: dict | None = None, *, bump: bool = False) -> Event:
        args = (rel, src_label, str(src), dst_label, str(dst))
        if bump:
            conn.execute(BUMP_EDGE, args)
        else:
            conn.execute(UPSERT_EDGE, (*args, json.dumps(properties or {})))
        return Event(EDGE_ENTITY, edge_key(*args))

    def _link(self, rel: str, src: tuple[str, str, Any, str], dst: tuple[str, str, Any, str], *,
              properties: dict | None = None, bump: bool = False) -> Written:
        """Add one relationship between two existing entities, each given as (label, table, id, field)."""
        def work(conn):
            for label, table, key, field in (src, dst):
                if conn.execute(EXISTS[table], (key,)).fetchone() is None:
                    raise InvalidInput(field, f"{label.lower()} {key} does not exist")
            event = self._edge(conn, rel, src[0], src[2], dst[0], dst[2], properties, bump=bump)
            return {"relationship": rel, "from": str(src[2]), "to": str(dst[2])}, [event]

        return self._write(work)

    @staticmethod
    def _drop_edges_of(conn: psycopg.Connection, label: str, node_id: Any) -> list[Event]:
        rows = conn.execute(DELETE_EDGES_OF, {"label": label, "id": str(node_id)}).fetchall()
        return [Event(EDGE_ENTITY, edge_key(*(r.values() if isinstance(r, dict) else r)), "delete") for r in rows]

    def _embed(self, text: str, *, field: str) -> np.ndarray:
        return self.embedder.embed(text, field=field)


def _column(exc: psycopg.Error) -> str:
    match = _DETAIL_COLUMN.search(exc.diag.message_detail or "")
    return match.group(1) if match else (exc.diag.column_name or "value")


def _table(exc: psycopg.Error) -> str:
    match = re.search(r'table "([^"]+)"', exc.diag.message_detail or "")
    return match.group(1) if match else "referenced"


def jsonable(row: dict) -> dict:
    """A row without its embedding, ready for JSON (UUIDs, times and decimals as plain values)."""
    return {key: _plain(value) for key, value in row.items() if key != "embedding"}


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
