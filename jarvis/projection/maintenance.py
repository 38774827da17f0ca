"""Rebuild a projection from PostgreSQL alone, and verify that every projection matches it.

A rebuild empties the store and streams every row through the same writers the outbox uses,
with the stored embeddings: nothing is embedded again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from jarvis.connections import Stores
from jarvis.dead_letters import dead_letters
from jarvis.projection.orphans import orphan_edges, remove_orphan_edges
from jarvis.outbox import EVERY_USER
from jarvis.projection.writers import write_edges, write_rows
from jarvis.principal import scope_transaction
from jarvis.projection.entities import EDGE_ENTITY, ENTITIES, SELECT_ALL_EDGES, Entity, edge_key, rows_of
from jarvis.stores.base import PROJECTION_STORES, StoreName
from jarvis.stores.neo4j import REPAIR_SWAP, SWAP_MARKER

BATCH = 1000
#: Ids ``reconcile`` fixes per round: each round reads that many rows from PostgreSQL and sends
#: each store one write of at most that many items, so no store transaction or request grows
#: with the size of a difference (100,000 missing Knowledge nodes in one UNWIND exhausted
#: Neo4j's transaction memory; 2,000 take a few MB). Not smaller: each round's read of the rows
#: by ``key::text`` scans the table once.
RECONCILE_BATCH = 2000
EDGE_KEYS = "SELECT rel_type || '|' || src_label || '|' || src_id || '|' || dst_label || '|' || dst_id FROM graph_edges"


def _stream(stores: Stores, query: str) -> Iterator[list[dict[str, Any]]]:
    with stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)
        # binary: each embedding arrives as its 1.5 KB of floats, not as 384 numbers in text
        with conn.transaction(), conn.cursor(name="jarvis_rebuild", row_factory=dict_row, binary=True) as cur:
            cur.itersize = BATCH
            cur.execute(query)
            while batch := cur.fetchmany(BATCH):
                yield batch


def rebuild(stores: Stores, store: StoreName | str) -> dict[str, int]:
    """Empty *store* (``neo4j``, ``chroma`` or ``qdrant``) and repopulate it; return counts written."""
    store = StoreName(store)
    client = stores.get(store)
    counts: dict[str, int] = {}
    client.clear()
    for spec in ENTITIES.values():
        if store not in spec.stores:
            continue
        counts[spec.name] = 0
        for rows in _stream(stores, spec.select_all):
            write_rows(stores, store, spec, rows, None)
            counts[spec.name] += len(rows)
    if store is StoreName.NEO4J:
        counts[EDGE_ENTITY] = 0
        for rows in _stream(stores, SELECT_ALL_EDGES):
            write_edges(stores, rows, None)
            counts[EDGE_ENTITY] += len(rows)
    client.flush()
    return counts


@dataclass
class Difference:
    """What one store holds differently from PostgreSQL for one entity type (*entity*: a name of
    :data:`ENTITIES` or ``edge``; None for findings no projection write can fix)."""

    store: str
    what: str  # e.g. "Agent nodes", "knowledge_base documents"
    missing: list[str] = field(default_factory=list)  # in Postgres, not in the store
    extra: list[str] = field(default_factory=list)  # in the store, not in Postgres
    entity: str | None = None
    repair: str | None = None  # what to run, for a finding that ``reconcile`` does not fix

    def as_dict(self) -> dict[str, Any]:
        """What ``jarvis verify --json`` prints for it (``repair`` only when it has one)."""
        found = {"store": self.store, "what": self.what, "missing": self.missing, "extra": self.extra}
        return found | ({"repair": self.repair} if self.repair else {})


def verify(stores: Stores, only: list[str] | None = None) -> list[Difference]:
    """Compare ids across the stores; every difference found (an empty list means clean).

    Raises:
        StoreUnavailable: a store to verify cannot be reached.
    """
    chosen = [StoreName(store) for store in only] if only else list(PROJECTION_STORES)
    # first: an interrupted swap explains the node and relationship differences that follow
    found = _interrupted_swap(stores) if StoreName.NEO4J in chosen else []
    with stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)

        def keys(query: str) -> set[str]:
            return {row[0] for row in conn.execute(query)}

        for spec in ENTITIES.values():
            expected = keys(spec.all_keys)
            for store in spec.stores:
                if store in chosen:
                    _compare(found, store, spec.described(store), expected, _ids(stores, store, spec), spec.name)
        if StoreName.NEO4J in chosen:
            actual = {edge_key(*edge) for edge in stores.get(StoreName.NEO4J).edge_keys()}
            _compare(found, StoreName.NEO4J, "relationships", keys(EDGE_KEYS), actual, EDGE_ENTITY)
        found.extend(_dead_letters(conn, chosen))
        orphans = orphan_edges(conn)
        if orphans:  # rows PostgreSQL itself should not hold: reported whichever store was chosen
            found.append(Difference("postgres", ORPHAN_EDGES, extra=orphans))
    return found


#: What verify calls a restore's graph swap that stopped half way (see :mod:`jarvis.stores.neo4j_backup`).
INTERRUPTED_SWAP = "interrupted restore swap"


def _interrupted_swap(stores: Stores) -> list[Difference]:
    """The marker of a restore's graph swap that stopped half way: the graph is part old, part
    new, which no projection write repairs (``reconcile`` leaves it), only :data:`REPAIR_SWAP`."""
    phase = stores.get(StoreName.NEO4J).restore_swap_phase()
    if phase is None:
        return []
    marker = f":{SWAP_MARKER} node (phase {phase}): the graph is part old, part new"
    return [Difference(StoreName.NEO4J, INTERRUPTED_SWAP, extra=[marker], repair=REPAIR_SWAP)]


#: What verify calls edge rows whose endpoint row is gone (see :mod:`jarvis.projection.orphans`).
ORPHAN_EDGES = "orphan edges"


#: What verify calls the events a store kept refusing (see :mod:`jarvis.dead_letters`).
DEAD_LETTERS = "dead-lettered events"


def _dead_letters(conn: psycopg.Connection, chosen: list[StoreName]) -> list[Difference]:
    """Per store, the events it refused for good: "missing" from it until `sync --retry-dead`."""
    per_store: dict[str, list[str]] = {}
    for event in dead_letters(conn, limit=1000):
        for store in event["dead_stores"]:
            if store in chosen:
                reason = event["last_error"].get(store, "")
                per_store.setdefault(store, []).append(
                    f"event {event['id']} {event['entity']} {event['entity_id']}: {reason}"
                )
    return [Difference(store, DEAD_LETTERS, missing=items) for store, items in sorted(per_store.items())]


def _ids(stores: Stores, store: StoreName, spec: Entity) -> set[str]:
    """The keys of *spec*'s items that *store* holds."""
    where = spec.where(store) or ""
    if store is StoreName.NEO4J:
        return stores.get(StoreName.NEO4J).node_keys(where)
    if store is StoreName.CHROMA:
        return stores.get(StoreName.CHROMA).ids(where)
    return stores.get(StoreName.QDRANT).ids(where)


def _compare(found: list[Difference], store: str, what: str, expected: set[str], actual: set[str], entity: str) -> None:
    missing, extra = sorted(expected - actual), sorted(actual - expected)
    if missing or extra:
        found.append(Difference(store, what, missing, extra, entity=entity))


def reconcile(stores: Stores, only: list[str] | None = None) -> int:
    """Make every projection (or those in *only*) match PostgreSQL for each id ``verify`` finds
    different, by entity type and id, :data:`RECONCILE_BATCH` ids at a time; return how many."""
    fixed = remove_orphan_edges(stores)  # first: an orphan row could never be projected
    for difference in verify(stores, only):
        if difference.entity is None:
            continue  # dead letters (fixed in PostgreSQL, then `sync --retry-dead`) and orphan edge rows
        keys = difference.missing + difference.extra
        for start in range(0, len(keys), RECONCILE_BATCH):
            _fix(stores, difference, keys[start : start + RECONCILE_BATCH])
        fixed += len(keys)
    return fixed


def _fix(stores: Stores, difference: Difference, keys: list[str]) -> None:
    """Make one store match PostgreSQL's current rows for *keys* (one batch of a difference)."""
    with stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(*rows_of(str(difference.entity), keys)).fetchall()
            if difference.entity == EDGE_ENTITY:
                write_edges(stores, rows, keys)
            else:
                write_rows(stores, StoreName(difference.store), ENTITIES[str(difference.entity)], rows, keys)
