"""Rebuild a projection from PostgreSQL alone, and verify that every projection matches it.

A rebuild empties the store and streams every row through the same writers the outbox uses,
with the stored embeddings: nothing is embedded again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from psycopg.rows import dict_row

from jarvis.connections import Stores
from jarvis.dead_letters import dead_letters
from jarvis.projection.orphans import orphan_edges, remove_orphan_edges
from jarvis.outbox import EVERY_USER
from jarvis.projection.writers import write_edges, write_rows
from jarvis.principal import scope_transaction
from jarvis.projection.entities import ENTITIES, SELECT_ALL_EDGES, edge_key

BATCH = 1000
EDGE_KEYS = (
    "SELECT rel_type || '|' || src_label || '|' || src_id || '|' || dst_label || '|' || dst_id FROM graph_edges"
)


def _stream(stores: Stores, query: str) -> Iterator[list[dict]]:
    with stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)
        # binary: each embedding arrives as its 1.5 KB of floats, not as 384 numbers in text
        with conn.transaction(), conn.cursor(name="jarvis_rebuild", row_factory=dict_row, binary=True) as cur:
            cur.itersize = BATCH
            cur.execute(query)
            while batch := cur.fetchmany(BATCH):
                yield batch


def rebuild(stores: Stores, store: str) -> dict[str, int]:
    """Empty *store* (``neo4j``, ``chroma`` or ``qdrant``) and repopulate it; return counts written."""
    client = stores.get(store)
    counts: dict[str, int] = {}
    specs = [spec for spec in ENTITIES.values() if store in spec.stores]
    if store == "neo4j":
        client.delete_everything()
    for spec in specs:
        if store == "chroma":
            client.reset(spec.chroma)
        elif store == "qdrant":
            client.reset(spec.qdrant)
        counts[spec.name] = 0
        for rows in _stream(stores, spec.select_all):
            write_rows(store, client, spec, rows, None)
            counts[spec.name] += len(rows)
    if store == "neo4j":
        counts["edge"] = 0
        for rows in _stream(stores, SELECT_ALL_EDGES):
            write_edges(client, rows, None)
            counts["edge"] += len(rows)
    if store == "qdrant":
        client.flush()
    return counts


@dataclass
class Difference:
    store: str
    what: str  # e.g. "Agent nodes", "knowledge_base documents"
    missing: list[str] = field(default_factory=list)  # in Postgres, not in the store
    extra: list[str] = field(default_factory=list)    # in the store, not in Postgres


def verify(stores: Stores, only: list[str] | None = None) -> list[Difference]:
    """Compare ids across the stores; every difference found (an empty list means clean).

    Raises:
        StoreUnavailable: a store to verify cannot be reached.
    """
    found: list[Difference] = []
    chosen = only or ["neo4j", "chroma", "qdrant"]
    with stores.postgres.pool.connection() as conn:
        scope_transaction(conn, EVERY_USER)

        def keys(query: str) -> set[str]:
            return {row[0] for row in conn.execute(query)}

        for spec in ENTITIES.values():
            expected = keys(spec.all_keys)
            for store in spec.stores:
                if store not in chosen:
                    continue
                client = stores.get(store)
                if store == "neo4j":
                    actual, what = client.node_keys(spec.label), f"{spec.label} nodes"
                elif store == "chroma":
                    actual, what = client.ids(spec.chroma), f"{spec.chroma} documents"
                else:
                    actual, what = client.ids(spec.qdrant), f"{spec.qdrant} points"
                _compare(found, store, what, expected, actual)
        if "neo4j" in chosen:
            actual = {edge_key(*edge) for edge in stores.get("neo4j").edge_keys()}
            _compare(found, "neo4j", "relationships", keys(EDGE_KEYS), actual)
        found.extend(_dead_letters(conn, chosen))
        orphans = orphan_edges(conn)
        if orphans:  # rows PostgreSQL itself should not hold: reported whichever store was chosen
            found.append(Difference("postgres", ORPHAN_EDGES, extra=orphans))
    return found


#: What verify calls edge rows whose endpoint row is gone (see :mod:`jarvis.projection.orphans`).
ORPHAN_EDGES = "orphan edges"


#: What verify calls the events a store kept refusing (see :mod:`jarvis.dead_letters`).
DEAD_LETTERS = "dead-lettered events"


def _dead_letters(conn, chosen: list[str]) -> list[Difference]:
    """Per store, the events it refused for good: "missing" from it until `sync --retry-dead`."""
    per_store: dict[str, list[str]] = {}
    for event in dead_letters(conn, limit=1000):
        for store in event["dead_stores"]:
            if store in chosen:
                reason = event["last_error"].get(store, "")
                per_store.setdefault(store, []).append(
                    f"event {event['id']} {event['entity']} {event['entity_id']}: {reason}")
    return [Difference(store, DEAD_LETTERS, missing=items) for store, items in sorted(per_store.items())]


def _compare(found: list[Difference], store: str, what: str, expected: set[str], actual: set[str]) -> None:
    missing, extra = sorted(expected - actual), sorted(actual - expected)
    if missing or extra:
        found.append(Difference(store, what, missing, extra))


def reconcile(stores: Stores, only: list[str] | None = None) -> int:
    """Make every projection (or those in *only*) match PostgreSQL for each id ``verify`` finds
    different; return how many."""
    from jarvis.projection.entities import SELECT_EDGES

    fixed = remove_orphan_edges(stores)  # first: an orphan row could never be projected
    for difference in verify(stores, only):
        if difference.what == DEAD_LETTERS:
            continue  # a refused row is fixed in PostgreSQL, then `jarvis sync --retry-dead`
        if difference.what == ORPHAN_EDGES:
            continue  # removed above; one that appeared since is removed by the next sync
        keys = difference.missing + difference.extra
        client = stores.get(difference.store)
        with stores.postgres.pool.connection() as conn:
            scope_transaction(conn, EVERY_USER)
            with conn.cursor(row_factory=dict_row) as cur:
                if difference.what == "relationships":
                    write_edges(client, cur.execute(SELECT_EDGES, {"keys": keys}).fetchall(), keys)
                else:
                    spec = next(s for s in ENTITIES.values() if difference.what in _descriptions(s))
                    write_rows(difference.store, client, spec, cur.execute(spec.select, {"keys": keys}).fetchall(), keys)
        fixed += len(keys)
    return fixed


def _descriptions(spec) -> set[str]:
    return {f"{spec.label} nodes", f"{spec.chroma} documents", f"{spec.qdrant} points"}
