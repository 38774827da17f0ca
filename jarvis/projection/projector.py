"""The projector: applies outbox events to Neo4j, Chroma, Qdrant and Redis' cache.

After commit the facade calls :meth:`Projector.apply` (write-through): each event is applied
to its stores concurrently and each store that succeeded is removed from the event's
``pending_stores``. :meth:`Projector.drain` (``jarvis sync``, and a loop in the server)
retries what is pending until nothing is.
"""

from __future__ import annotations

from typing import Any

import json
import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import psycopg
from psycopg.rows import dict_row

from jarvis.connections import Stores
from jarvis.errors import StoreError, StoreRefused
from jarvis.outbox import (
    CLAIM_DUE,
    CLAIM_PENDING,
    COUNT_PENDING,
    DEAD_EVENT,
    EVERY_USER,
    LOCK_KEYS,
    LOCK_NAMESPACE,
    MARK_EVENT,
    REFUSE_EVENT,
    SELECT_EVENTS,
    Outboxed,
)
from jarvis.principal import scope_transaction
from jarvis.projection.applier import Applied, Applier
from jarvis.projection.entities import EDGE_ENTITY, MEMORY_ENTITY, rows_of
from jarvis.projection.writers import write
from jarvis.stores.base import Row, StoreName

logger = logging.getLogger("jarvis.outbox")


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
            scope_transaction(conn, EVERY_USER)  # the outbox shows every user's events only when asked
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
                scope_transaction(claim, EVERY_USER)
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
            scope_transaction(conn, EVERY_USER)
            row = conn.execute(COUNT_PENDING).fetchone()
            return int(row[0]) if row else 0

    # -- internals ------------------------------------------------------------------------
    def _apply(self, events: list[Outboxed], *, claim: psycopg.Connection | None = None) -> Applied:
        started = time.perf_counter()
        keyed_by_store: dict[StoreName, dict[str, dict[str, None]]] = defaultdict(lambda: defaultdict(dict))
        for _, entity, key, pending in events:  # each key once, in order (a round holds up to 2,048)
            for store in pending:
                keyed_by_store[StoreName(store)][entity][key] = None
        by_store = {
            store: {entity: list(keys) for entity, keys in keyed.items()} for store, keyed in keyed_by_store.items()
        }
        errors: dict[str, str] = {}  # store -> why it is down: every event pending for it waits
        refused: dict[int, dict[str, str]] = defaultdict(dict)  # event -> store -> why it refused that event
        with self.stores.postgres.pool.connection() as conn:  # one transaction: the key locks, released at its end
            conn.execute(
                LOCK_KEYS,
                {"namespace": LOCK_NAMESPACE, "keys": sorted({f"{entity}|{key}" for _, entity, key, _ in events})},
            )
            rows = self._current_rows(
                conn,
                {entity for keyed in by_store.values() for entity in keyed},
                {(entity, key) for _, entity, key, _ in events},
            )
            futures = {store: self._pool.submit(self._project, store, keyed, rows) for store, keyed in by_store.items()}
            for store, future in futures.items():
                try:
                    future.result()
                except StoreError as exc:
                    if not isinstance(exc, StoreRefused):  # down: every event pending for it waits
                        errors[store] = str(exc)
                        continue
                    logger.warning(
                        "projection to %s refused a batch (%s); isolating it event by event", store, type(exc).__name__
                    )
                    self._isolate(store, events, rows, errors, refused)
                except Exception as exc:  # noqa: BLE001 - the store answered and refused something in the batch
                    logger.warning(
                        "projection to %s refused a batch (%s); isolating it event by event", store, type(exc).__name__
                    )
                    self._isolate(store, events, rows, errors, refused)
        for store in errors:
            if store is not StoreName.REDIS:
                self.stores.forget(store)
        failed = {
            event_id: {s: errors[s] for s in pending if s in errors} | refused.get(event_id, {})
            for event_id, _, _, pending in events
        }
        dead = 0
        with nullcontext(claim) if claim is not None else self.stores.postgres.pool.connection() as conn:
            with conn.cursor() as cur:
                # after every write that waits: the transaction's start, its scope and the marks
                # travel together, one round trip (the refusals below read their results one by one)
                with conn.pipeline():
                    if claim is None:  # a claim was scoped when it was taken
                        scope_transaction(conn, EVERY_USER)
                    cur.executemany(
                        MARK_EVENT,
                        [
                            {
                                "id": event_id,
                                "done": [s for s in pending if s not in failed[event_id]],
                                "failed": int(bool(failed[event_id])),
                                "errors": json.dumps(failed[event_id]),
                            }
                            for event_id, _, _, pending in events
                        ],
                    )
                for event_id, refusers in refused.items():
                    for store in refusers:
                        counted = cur.execute(REFUSE_EVENT, {"id": event_id, "store": store}).fetchone()
                        if counted and counted[0] >= self.stores.settings.outbox_max_attempts:
                            cur.execute(DEAD_EVENT, {"id": event_id, "store": store})
                            dead += cur.rowcount
        lagging = dict(errors)
        for refusers in refused.values():
            lagging.update(refusers)
        finished = time.perf_counter()
        return Applied(
            events=len(events),
            lagging=lagging,
            unreachable=set(errors),
            dead=dead,
            seconds=finished - started,
            finished=finished,
        )

    def _isolate(
        self,
        store: StoreName,
        events: list[Outboxed],
        rows: dict[str, list[dict[str, Any]]],
        errors: dict[str, str],
        refused: dict[int, dict[str, str]],
    ) -> None:
        """Retry a refused batch for *store* event by event, so one poisoned event fails alone."""
        for event_id, entity, key, pending in events:
            if store not in pending:
                continue
            try:
                self._project(store, {entity: [key]}, rows)
            except StoreError as exc:
                if not isinstance(exc, StoreRefused):  # the store went down meanwhile: the rest waits for it
                    errors[store] = str(exc)
                    return
                refused[event_id][store] = f"{type(exc).__name__}: {str(exc)[:500]}"
            except Exception as exc:  # noqa: BLE001 - this event is refused; its reason is kept
                refused[event_id][store] = f"{type(exc).__name__}: {str(exc)[:500]}"

    def _current_rows(
        self, conn: psycopg.Connection, entities: set[str], wanted: set[tuple[str, str]]
    ) -> dict[str, list[dict[str, Any]]]:
        """Each entity's current rows, read once for every store that projects it (state-based:
        whatever the event said, the store is made to match the row as it is now)."""
        read = [entity for entity in entities if entity != MEMORY_ENTITY]
        if not read:
            return {}
        keys = defaultdict(list)
        for entity, key in wanted:
            keys[entity].append(key)
        scope_transaction(conn, EVERY_USER)  # projections hold every user's rows
        # binary results: a vector arrives as 1.5 KB copied into numpy, not 384 numbers in text
        with conn.cursor(row_factory=dict_row, binary=True) as cur:
            return {entity: cur.execute(*rows_of(entity, keys[entity])).fetchall() for entity in read}

    def _project(self, store: StoreName, keyed: dict[str, list[str]], rows: dict[str, list[Row]]) -> None:
        # Nodes before edges: an edge is written only between nodes that are already there.
        for entity, keys in sorted(keyed.items(), key=lambda item: item[0] == EDGE_ENTITY):
            write(self.stores, store, entity, rows.get(entity, []), keys, locked=True)  # _apply holds the keys
