"""The transactional outbox and its projector.

A write records events in the same PostgreSQL transaction as its rows. After commit the
facade calls :meth:`Projector.apply` (write-through): each event is applied to its stores
concurrently and each store that succeeded is removed from the event's ``pending_stores``.
A store that failed stays pending with an attempt count, its last error, and a backoff;
:meth:`Projector.drain` (``jarvis sync``, and a loop in the server) retries until nothing is
pending. Projection is state-based (see :mod:`jarvis.projections`), so nothing is applied twice
in effect and nothing is lost.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row, tuple_row

from jarvis.connections import Stores
from jarvis.errors import StoreError
from jarvis.principal import Principal, scope_transaction
from jarvis.projections import EDGE_ENTITY, ENTITIES, MEMORY_ENTITY, SELECT_EDGES, stores_for

logger = logging.getLogger("jarvis.outbox")
EVERY_USER = Principal(user_id=None)

INSERT_EVENT = (
    "INSERT INTO outbox (entity, entity_id, operation, pending_stores) VALUES (%s, %s, %s, %s) RETURNING id"
)
SELECT_EVENTS = "SELECT id, entity, entity_id, pending_stores FROM outbox WHERE id = ANY(%s) ORDER BY id"
SELECT_DUE = (
    "SELECT id, entity, entity_id, pending_stores FROM outbox "
    "WHERE cardinality(pending_stores) > 0 AND next_attempt_at <= CURRENT_TIMESTAMP ORDER BY id LIMIT %s"
)
SELECT_PENDING = (
    "SELECT id, entity, entity_id, pending_stores FROM outbox "
    "WHERE cardinality(pending_stores) > 0 ORDER BY id LIMIT %s"
)
COUNT_PENDING = "SELECT count(*) FROM outbox WHERE cardinality(pending_stores) > 0"
# Removing the stores that succeeded commutes with any concurrent apply of the same event.
MARK_EVENT = """
UPDATE outbox SET
    pending_stores = ARRAY(SELECT unnest(pending_stores) EXCEPT SELECT unnest(%(done)s::text[])),
    attempts = attempts + %(failed)s,
    last_error = last_error || %(errors)s::jsonb,
    next_attempt_at = CASE WHEN %(failed)s = 1
        THEN CURRENT_TIMESTAMP + make_interval(secs => least(300, 0.5 * power(2, least(attempts, 10))))
        ELSE next_attempt_at END,
    processed_at = CASE WHEN pending_stores <@ %(done)s::text[] THEN CURRENT_TIMESTAMP END
WHERE id = %(id)s
"""


@dataclass(frozen=True, slots=True)
class Event:
    """"Entity *key* changed": the projector makes every store match its current row."""

    entity: str
    key: str
    operation: str = "upsert"


def record(conn: psycopg.Connection, events: list[Event]) -> list[int]:
    """Insert *events* inside the caller's transaction; return their ids."""
    if not events:
        return []
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.executemany(INSERT_EVENT, [(e.entity, e.key, e.operation, list(stores_for(e.entity))) for e in events],
                        returning=True)
        ids = []
        while True:
            ids.append(cur.fetchone()[0])
            if not cur.nextset():
                return ids


@dataclass
class Applied:
    """What one round of projection did: events touched, and stores still lagging (with why)."""

    events: int = 0
    lagging: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # from the start of projection until every store answered


class Projector:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="jarvis-projector")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def apply(self, event_ids: list[int]) -> Applied:
        """Write-through for events just committed."""
        if not event_ids:
            return Applied()
        with self.stores.postgres.pool.connection() as conn:
            events = conn.execute(SELECT_EVENTS, (event_ids,)).fetchall()
        return self._apply(events)

    def drain(self, *, batch: int = 500, max_rounds: int | None = None, due_only: bool = False) -> tuple[Applied, int]:
        """Retry pending events (with *due_only*, only those whose backoff has passed, as the
        background loop does); return (what was done, events still pending)."""
        total = Applied()
        rounds = 0
        while max_rounds is None or rounds < max_rounds:
            rounds += 1
            with self.stores.postgres.pool.connection() as conn:
                events = conn.execute(SELECT_DUE if due_only else SELECT_PENDING, (batch,)).fetchall()
            if not events:
                break
            applied = self._apply(events)
            total.events += applied.events
            total.lagging.update(applied.lagging)
            if applied.lagging:
                break  # a store is down: the rest would fail the same way; backoff decides the next try
        return total, self.pending()

    def run(self, stop: threading.Event, *, interval: float = 1.0) -> None:
        """The background projector: drain due events until *stop* is set (never raises)."""
        while not stop.is_set():
            try:
                self.drain(due_only=True, max_rounds=10)
            except Exception:  # noqa: BLE001 - Postgres may be down too; keep trying, quietly
                logger.warning("background projection round failed", exc_info=True)
            stop.wait(interval)

    def pending(self) -> int:
        with self.stores.postgres.pool.connection() as conn:
            return int(conn.execute(COUNT_PENDING).fetchone()[0])

    # -- internals ------------------------------------------------------------------------
    def _apply(self, events: list[tuple]) -> Applied:
        started = time.perf_counter()
        by_store: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for _, entity, key, pending in events:
            for store in pending:
                by_store[store].append((entity, key))
        futures = {store: self._pool.submit(self._project, store, items) for store, items in by_store.items()}
        errors: dict[str, str] = {}
        for store, future in futures.items():
            try:
                future.result()
            except StoreError as exc:
                errors[store] = str(exc)
            except Exception as exc:  # noqa: BLE001 - any failure leaves the event pending, with its reason
                logger.exception("projection to %s failed", store)
                errors[store] = f"{type(exc).__name__}: {exc}"
        for store in errors:
            if store != "redis":
                self.stores.forget(store)
        with self.stores.postgres.pool.connection() as conn:
            with conn.cursor() as cur:
                cur.executemany(MARK_EVENT, [
                    {
                        "id": event_id,
                        "done": [s for s in pending if s not in errors],
                        "failed": int(any(s in errors for s in pending)),
                        "errors": json.dumps({s: errors[s] for s in pending if s in errors}),
                    }
                    for event_id, _, _, pending in events
                ])
        return Applied(events=len(events), lagging=errors, seconds=time.perf_counter() - started)

    def _project(self, store: str, items: list[tuple[str, str]]) -> None:
        keys_by_entity: dict[str, list[str]] = defaultdict(list)
        for entity, key in items:
            if key not in keys_by_entity[entity]:
                keys_by_entity[entity].append(key)
        for entity, keys in keys_by_entity.items():
            if entity == MEMORY_ENTITY:
                with self.stores.redis.unavailable():
                    for key in keys:
                        self.stores.redis.forget_memory(*key.split("|", 2))
                continue
            if entity == EDGE_ENTITY:
                write_edges(self.stores.get("neo4j"), self._rows(SELECT_EDGES, keys), keys)
                continue
            spec = ENTITIES[entity]
            rows = self._rows(spec.select, keys)
            write_rows(store, self.stores.get(store), spec, rows, keys)

    def _rows(self, query: str, keys: list[str]) -> list[dict]:
        with self.stores.postgres.pool.connection() as conn:
            scope_transaction(conn, EVERY_USER)  # projections hold every user's rows
            with conn.cursor(row_factory=dict_row) as cur:
                return cur.execute(query, {"keys": keys}).fetchall()


def _vector(value) -> list[float]:
    """pgvector's Vector (or an array) as the plain list the vector stores take."""
    return (value.to_list() if hasattr(value, "to_list") else [float(x) for x in value])


def write_rows(store: str, client, spec, rows: list[dict], keys: list[str] | None) -> None:
    """Make *store* match *rows*; keys in *keys* without a row are deleted from it."""
    present = {str(row[spec.key]) for row in rows}
    missing = [key for key in (keys or []) if key not in present]
    if store == "neo4j":
        if rows:
            client.upsert_nodes(spec.label, [{"key": row[spec.key], "props": spec.node(row)} for row in rows])
        if missing:
            client.delete_nodes(spec.label, missing)
    elif store == "chroma":
        if rows:
            documents = [spec.document(row) for row in rows]
            client.upsert(spec.chroma, ids=[row[spec.key] for row in rows],
                          embeddings=[_vector(row["embedding"]) for row in rows],
                          documents=[d for d, _ in documents], metadatas=[m for _, m in documents])
        if missing:
            client.delete(spec.chroma, missing)
    elif store == "qdrant":
        if rows:
            client.upsert(spec.qdrant, [(row[spec.key], _vector(row["embedding"]), spec.payload(row)) for row in rows])
        if missing:
            client.delete(spec.qdrant, missing)


def write_edges(graph, rows: list[dict], keys: list[str] | None) -> None:
    """Make Neo4j's relationships match *rows*; keys in *keys* without a row are deleted."""
    from jarvis.projections import edge_key

    grouped: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    present = set()
    for row in rows:
        present.add(edge_key(row["rel_type"], row["src_label"], row["src_id"], row["dst_label"], row["dst_id"]))
        props = {k: v for k, v in row["properties"].items() if isinstance(v, (str, int, float, bool))}
        grouped[(row["rel_type"], row["src_label"], row["dst_label"])].append(
            {"src": row["src_id"], "dst": row["dst_id"], "props": props}
        )
    for (rel, src_label, dst_label), batch in grouped.items():
        graph.upsert_edges(rel, src_label, dst_label, batch)
    gone: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for key in keys or []:
        if key not in present:
            rel, src_label, src, dst_label, dst = key.split("|", 4)
            gone[(rel, src_label, dst_label)].append({"src": src, "dst": dst})
    for (rel, src_label, dst_label), batch in gone.items():
        graph.delete_edges(rel, src_label, dst_label, batch)
