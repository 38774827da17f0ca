"""Edges that outlived an endpoint: found by ``jarvis verify``, removed by ``jarvis sync``.

Since migration 011 PostgreSQL refuses such an edge (a trigger locks both endpoint rows, as a
foreign key would, and deleting a node row deletes its edges). Rows orphaned before it, by
the race it closes, are removed here with outbox events, so Neo4j drops them too. Ghost
nodes in Neo4j (bare endpoints an older projector created) are "extra" nodes to ``verify``
and are deleted by ``reconcile``.
"""

from __future__ import annotations

import psycopg

from jarvis.connections import Stores
from jarvis.outbox import EVERY_USER, Event, record
from jarvis.principal import scope_transaction

ORPHAN_EDGES = """
SELECT rel_type || '|' || src_label || '|' || src_id || '|' || dst_label || '|' || dst_id
FROM graph_edges
WHERE NOT jarvis_node_exists(src_label, src_id) OR NOT jarvis_node_exists(dst_label, dst_id)
ORDER BY id LIMIT %(limit)s
"""
DELETE_ORPHAN_EDGES = """
DELETE FROM graph_edges
WHERE id IN (
    SELECT id FROM graph_edges
    WHERE NOT jarvis_node_exists(src_label, src_id, true) OR NOT jarvis_node_exists(dst_label, dst_id, true)
    ORDER BY id LIMIT %(limit)s
)
RETURNING rel_type || '|' || src_label || '|' || src_id || '|' || dst_label || '|' || dst_id
"""
#: Orphan rows removed per transaction (each batch's outbox events are applied before the next):
#: neither PostgreSQL's transaction nor Neo4j's delete grows with the number of orphans.
ORPHAN_BATCH = 1000


def orphan_edges(conn: psycopg.Connection, *, limit: int = 1000) -> list[str]:
    """Keys of edges whose source or target row does not exist."""
    return [row[0] for row in conn.execute(ORPHAN_EDGES, {"limit": limit})]


def remove_orphan_edges(stores: Stores) -> int:
    """Delete every orphan edge row, :data:`ORPHAN_BATCH` per transaction, with an outbox event
    each (Neo4j follows, batch by batch); return how many."""
    from jarvis.projection.projector import Projector

    removed = 0
    projector: Projector | None = None
    try:
        while True:
            with stores.postgres.pool.connection() as conn:
                # Every user's rows: under row-level security a hidden endpoint would look missing.
                scope_transaction(conn, EVERY_USER)
                keys = [row[0] for row in conn.execute(DELETE_ORPHAN_EDGES, {"limit": ORPHAN_BATCH})]
                event_ids = record(conn, [Event("edge", key, "delete") for key in keys])
            if event_ids:
                projector = projector or Projector(stores)
                projector.apply(event_ids)
            removed += len(keys)
            if len(keys) < ORPHAN_BATCH:
                return removed
    finally:
        if projector is not None:
            projector.close()
