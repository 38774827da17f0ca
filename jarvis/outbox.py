"""The transactional outbox and its projector.

A write records events in the same PostgreSQL transaction as its rows. After commit the
facade calls :meth:`Projector.apply` (write-through): each event is applied to its stores
concurrently and each store that succeeded is removed from the event's ``pending_stores``.
A writer that does not need to wait (``wait=False``) hands its events to the
:class:`Applier` instead, which applies them right away on its own thread, coalescing what
queued up meanwhile; the write returns at commit and the projection lag is a few milliseconds.
A store that failed stays pending with an attempt count, its last error, and a backoff;
:meth:`Projector.drain` (``jarvis sync``, and a loop in the server) retries until nothing is
pending. Projection is state-based (see :mod:`jarvis.projections`), so nothing is applied twice
in effect and nothing is lost.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row, tuple_row

from jarvis.connections import Stores
from jarvis.errors import StoreError
from jarvis.principal import Principal, scope_transaction
from jarvis.projections import EDGE_ENTITY, ENTITIES, MEMORY_ENTITY, SELECT_EDGES, edge_key, stores_for

logger = logging.getLogger("jarvis.outbox")
EVERY_USER = Principal(user_id=None)

# The writer applies its own events at once; the background loop takes them only after a grace
# period, so it retries what a writer could not apply (its process died) without racing it.
INSERT_EVENT = (
    "INSERT INTO outbox (entity, entity_id, operation, pending_stores, next_attempt_at) "
    "VALUES (%s, %s, %s, %s, CURRENT_TIMESTAMP + interval '10 seconds') RETURNING id"
)
#: An outbox row as the projector reads it: (id, entity, entity_id, pending_stores).
Outboxed = tuple[int, str, str, Sequence[str]]
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
# A drainer claims its batch: rows another process holds are skipped, not waited for, so any
# number of API workers and `jarvis sync` drain one outbox with no event applied by two at once.
CLAIM_DUE = SELECT_DUE + " FOR UPDATE SKIP LOCKED"
CLAIM_PENDING = SELECT_PENDING + " FOR UPDATE SKIP LOCKED"
# Two events of one entity may still be applied by two processes at once (or by a writer and
# a drainer). Each takes the entity keys' advisory locks (1,024 buckets, in one order, so no
# deadlock) before reading the rows and holds them until every store answered: the later
# applier reads the newer row, so a projection never overwrites a newer version with an older.
LOCK_NAMESPACE = 0x4A4D  # "JM"
LOCK_KEYS = (
    "SELECT count(pg_advisory_xact_lock(%(namespace)s, bucket)) FROM ("
    "SELECT DISTINCT hashtext(k) & 1023 AS bucket FROM unnest(%(keys)s::text[]) AS k ORDER BY 1) AS buckets"
)
# Removing the stores that succeeded commutes with any concurrent apply of the same event.
MARK_EVENT = """
UPDATE outbox SET
    pending_stores = ARRAY(SELECT unnest(pending_stores) EXCEPT SELECT unnest(%(done)s::text[])),
    attempts = attempts + %(failed)s,
    last_error = last_error || %(errors)s::jsonb,
    next_attempt_at = CASE WHEN %(failed)s = 1
        THEN CURRENT_TIMESTAMP + make_interval(secs => least(10, 0.5 * power(2, least(attempts, 10))))
        ELSE next_attempt_at END,
    processed_at = CASE WHEN pending_stores <@ %(done)s::text[] THEN CURRENT_TIMESTAMP END
WHERE id = %(id)s
"""
# A store answered and refused one event: count it; after too many, the event is dead for that
# store (it leaves pending_stores, so it neither blocks nor slows anything, and stays visible).
REFUSE_EVENT = """
UPDATE outbox SET refusals = refusals || jsonb_build_object(%(store)s::text,
    coalesce((refusals ->> %(store)s::text)::int, 0) + 1)
WHERE id = %(id)s RETURNING (refusals ->> %(store)s::text)::int
"""
DEAD_EVENT = """
UPDATE outbox SET pending_stores = array_remove(pending_stores, %(store)s::text),
                  dead_stores = array_append(array_remove(dead_stores, %(store)s::text), %(store)s::text)
WHERE id = %(id)s AND %(store)s::text = ANY(pending_stores)
"""


@dataclass(frozen=True, slots=True)
class Event:
    """"Entity *key* changed": the projector makes every store match its current row."""

    entity: str
    key: str
    operation: str = "upsert"


def recorded(event_ids: list[int], events: list[Event]) -> list[Outboxed]:
    """The rows :func:`record` just wrote, without reading them back."""
    return [(i, e.entity, e.key, stores_for(e.entity)) for i, e in zip(event_ids, events)]


def record(conn: psycopg.Connection, events: list[Event]) -> list[int]:
    """Insert *events* inside the caller's transaction; return their ids."""
    return queue_record(conn, events)()


def queue_record(conn: psycopg.Connection, events: list[Event]) -> Callable[[], list[int]]:
    """Insert *events* inside the caller's transaction; the ids come from the function returned.

    In pipeline mode the insert is only queued: read after the transaction block has ended,
    the ids arrive with the ``COMMIT``'s answer, and a short write is one round trip."""
    if not events:
        return list
    cur = conn.cursor(row_factory=tuple_row)
    cur.executemany(INSERT_EVENT, [(e.entity, e.key, e.operation, list(stores_for(e.entity))) for e in events],
                    returning=True)

    def ids() -> list[int]:
        with cur:
            return [cur.fetchone()[0] for _ in cur.results()]

    return ids


@dataclass
class Applied:
    """What one round of projection did: events touched, and stores still lagging (with why)."""

    events: int = 0
    lagging: dict[str, str] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)  # lagging because down, not because they refused
    dead: int = 0  # events dead-lettered in this round
    seconds: float = 0.0  # from the start of projection until every store answered
    finished: float = 0.0  # perf_counter() when every store had answered


class Ticket:
    """A write handed to the :class:`Applier`: ``wait()`` until its events were projected."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.applied = Applied()

    def settle(self, applied: Applied) -> None:
        self.applied = applied
        self._done.set()

    def wait(self, timeout: float | None = None) -> Applied:
        if not self._done.wait(timeout):
            raise TimeoutError("projection did not finish in time")
        return self.applied


class Applier:
    """Applies committed events on one background thread, as soon as they arrive.

    Whatever queued up while a round ran is applied together in the next round, so under
    load the stores see a few large writes instead of many small ones, and the writer's
    next embedding overlaps the projection of its last write.
    """

    def __init__(self, projector: "Projector", *, max_events: int = 2048) -> None:
        self.projector, self.max_events = projector, max_events
        self._queue: queue.SimpleQueue[tuple[list[Outboxed], Ticket] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._idle = threading.Condition()
        self._unsettled = 0

    def submit(self, events: list[Outboxed]) -> Ticket:
        ticket = Ticket()
        if not events:
            ticket.settle(Applied(finished=time.perf_counter()))
            return ticket
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="jarvis-applier", daemon=True)
                self._thread.start()
        with self._idle:
            self._unsettled += 1
        self._queue.put((events, ticket))
        return ticket

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far was applied (or left pending in the outbox)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unsettled == 0, timeout)

    def close(self) -> None:
        if self._thread is not None:
            self.flush(timeout=60)
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            batch = [item]
            size = len(item[0])
            while size < self.max_events:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # close() after this round
                    break
                batch.append(item)
                size += len(item[0])
            try:
                applied = self.projector.apply_events([e for events, _ in batch for e in events])
            except Exception as exc:  # noqa: BLE001 - Postgres itself failed: the events stay pending
                logger.warning("background apply failed; the outbox keeps the events", exc_info=True)
                applied = Applied(lagging={"postgres": f"{type(exc).__name__}: {exc}"}, finished=time.perf_counter())
            for _, ticket in batch:
                ticket.settle(applied)
            with self._idle:
                self._unsettled -= len(batch)
                self._idle.notify_all()


class Projector:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="jarvis-projector")
        self.applier = Applier(self)

    def close(self) -> None:
        self.applier.close()
        self._pool.shutdown(wait=True)

    def apply(self, event_ids: list[int]) -> Applied:
        """Write-through for events committed earlier, read back by id."""
        if not event_ids:
            return Applied()
        with self.stores.postgres.pool.connection() as conn:
            events = conn.execute(SELECT_EVENTS, (event_ids,)).fetchall()
        return self._apply(events)

    def apply_events(self, events: list[Outboxed]) -> Applied:
        """Write-through for events just committed, as :func:`recorded` describes them."""
        return self._apply(events) if events else Applied(finished=time.perf_counter())

    def drain(self, *, batch: int = 500, max_rounds: int | None = None, due_only: bool = False) -> tuple[Applied, int]:
        """Retry pending events (with *due_only*, only those whose backoff has passed, as the
        background loop does); return (what was done, events still pending)."""
        total = Applied()
        rounds = 0
        while max_rounds is None or rounds < max_rounds:
            rounds += 1
            with self.stores.postgres.pool.connection() as claim:  # the claim holds until the batch is marked
                events = claim.execute(CLAIM_DUE if due_only else CLAIM_PENDING, (batch,)).fetchall()
                if not events:
                    break
                applied = self._apply(events, claim=claim)
            total.events += applied.events
            total.lagging.update(applied.lagging)
            total.unreachable |= applied.unreachable
            total.dead += applied.dead
            if applied.unreachable:
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
    def _apply(self, events: list[Outboxed], *, claim: psycopg.Connection | None = None) -> Applied:
        started = time.perf_counter()
        keyed_by_store: dict[str, dict[str, dict[str, None]]] = defaultdict(lambda: defaultdict(dict))
        for _, entity, key, pending in events:  # each key once, in order (a round holds up to 2,048)
            for store in pending:
                keyed_by_store[store][entity][key] = None
        by_store = {store: {entity: list(keys) for entity, keys in keyed.items()}
                    for store, keyed in keyed_by_store.items()}
        errors: dict[str, str] = {}  # store -> why it is down: every event pending for it waits
        refused: dict[int, dict[str, str]] = defaultdict(dict)  # event -> store -> why it refused that event
        with self.stores.postgres.pool.connection() as conn:  # one transaction: the key locks, released at its end
            conn.execute(LOCK_KEYS, {"namespace": LOCK_NAMESPACE,
                                     "keys": sorted({f"{entity}|{key}" for _, entity, key, _ in events})})
            rows = self._current_rows(conn, {entity for keyed in by_store.values() for entity in keyed},
                                      {(entity, key) for _, entity, key, _ in events})
            futures = {store: self._pool.submit(self._project, store, keyed, rows)
                       for store, keyed in by_store.items()}
            for store, future in futures.items():
                try:
                    future.result()
                except StoreError as exc:
                    errors[store] = str(exc)
                except Exception as exc:  # noqa: BLE001 - the store answered and refused something in the batch
                    logger.warning("projection to %s refused a batch (%s); isolating it event by event", store,
                                   type(exc).__name__)
                    self._isolate(store, events, rows, errors, refused)
        for store in errors:
            if store != "redis":
                self.stores.forget(store)
        failed = {event_id: {s: errors[s] for s in pending if s in errors} | refused.get(event_id, {})
                  for event_id, _, _, pending in events}
        dead = 0
        with (nullcontext(claim) if claim is not None else self.stores.postgres.pool.connection()) as conn:
            with conn.cursor() as cur:
                cur.executemany(MARK_EVENT, [
                    {
                        "id": event_id,
                        "done": [s for s in pending if s not in failed[event_id]],
                        "failed": int(bool(failed[event_id])),
                        "errors": json.dumps(failed[event_id]),
                    }
                    for event_id, _, _, pending in events
                ])
                for event_id, by_store in refused.items():
                    for store in by_store:
                        count = cur.execute(REFUSE_EVENT, {"id": event_id, "store": store}).fetchone()[0]
                        if count >= self.stores.settings.outbox_max_attempts:
                            cur.execute(DEAD_EVENT, {"id": event_id, "store": store})
                            dead += cur.rowcount
        lagging = dict(errors)
        for by_store in refused.values():
            lagging.update(by_store)
        finished = time.perf_counter()
        return Applied(events=len(events), lagging=lagging, unreachable=set(errors), dead=dead,
                       seconds=finished - started, finished=finished)

    def _isolate(self, store: str, events: list[Outboxed], rows: dict[str, list[dict]], errors: dict[str, str],
                 refused: dict[int, dict[str, str]]) -> None:
        """Retry a refused batch for *store* event by event, so one poisoned event fails alone."""
        for event_id, entity, key, pending in events:
            if store not in pending:
                continue
            try:
                self._project(store, {entity: [key]}, rows)
            except StoreError as exc:  # the store went down meanwhile: the rest waits for it
                errors[store] = str(exc)
                return
            except Exception as exc:  # noqa: BLE001 - this event is refused; its reason is kept
                refused[event_id][store] = f"{type(exc).__name__}: {str(exc)[:500]}"

    def _current_rows(self, conn: psycopg.Connection, entities: set[str],
                      wanted: set[tuple[str, str]]) -> dict[str, list[dict]]:
        """Each entity's current rows, read once for every store that projects it (state-based:
        whatever the event said, the store is made to match the row as it is now)."""
        queries = {entity: SELECT_EDGES if entity == EDGE_ENTITY else ENTITIES[entity].select
                   for entity in entities if entity != MEMORY_ENTITY}
        if not queries:
            return {}
        keys = defaultdict(list)
        for entity, key in wanted:
            keys[entity].append(key)
        scope_transaction(conn, EVERY_USER)  # projections hold every user's rows
        # binary results: a vector arrives as 1.5 KB copied into numpy, not 384 numbers in text
        with conn.cursor(row_factory=dict_row, binary=True) as cur:
            return {entity: cur.execute(query, {"keys": keys[entity]}).fetchall()
                    for entity, query in queries.items()}

    def _project(self, store: str, keyed: dict[str, list[str]], rows: dict[str, list[dict]]) -> None:
        # Nodes before edges: an edge is written only between nodes that are already there.
        for entity, keys in sorted(keyed.items(), key=lambda item: item[0] == EDGE_ENTITY):
            if entity == MEMORY_ENTITY:
                with self.stores.redis.unavailable():
                    for key in keys:
                        self.stores.redis.forget_memory(*key.split("|", 2))
            elif entity == EDGE_ENTITY:
                wanted = set(keys)
                current = [row for row in rows[entity] if _edge_key_of(row) in wanted]
                write_edges(self.stores.get("neo4j"), current, keys)
            else:
                spec, wanted = ENTITIES[entity], set(keys)
                current = [row for row in rows[entity] if str(row[spec.key]) in wanted]
                write_rows(store, self.stores.get(store), spec, current, keys)


def _edge_key_of(row: dict) -> str:
    return edge_key(row["rel_type"], row["src_label"], row["src_id"], row["dst_label"], row["dst_id"])


def _vector(value) -> list[float]:
    """pgvector's Vector (or an array) as the plain list the vector stores take."""
    return value.tolist() if hasattr(value, "tolist") else value.to_list() if hasattr(value, "to_list") else [
        float(x) for x in value]


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
