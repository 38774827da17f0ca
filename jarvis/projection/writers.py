"""The writers: make one projection store match the current PostgreSQL rows of some entities.

One table, :data:`WRITERS`, says how each store is written; the entities' own mapping (node
properties, document and metadata, payload) is in :mod:`jarvis.projection.entities`. Two
entities are not rows of one table: graph edges (Neo4j relationships) and agent memories
(whose only projection is Redis' read cache, which is invalidated); :func:`write` sends them
to their own writer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

from jarvis.connections import Stores
from jarvis.projection.entities import EDGE_ENTITY, ENTITIES, MEMORY_ENTITY, VERSION, Entity, edge_key
from jarvis.stores.base import CollectionStore, Row, StoreName


def _vector(value: Any) -> list[float]:
    """pgvector's Vector (or an array) as the plain list the vector stores take."""
    if hasattr(value, "tolist"):
        return list(value.tolist())
    if hasattr(value, "to_list"):
        return list(value.to_list())
    return [float(x) for x in value]


def _home(entity: Entity, store: StoreName) -> str:
    where = entity.where(store)
    if where is None:
        raise ValueError(f"{entity.name} is not projected to {store}")
    return where


def _version(row: Row) -> int:
    return int(row.get(VERSION) or 0)


def _not_older(client: CollectionStore, collection: str, entity: Entity, rows: list[Row], *, locked: bool) -> list[Row]:
    """*rows* without those whose item in *collection* carries a newer version already (a
    writer that read the row earlier must not overwrite what a later one wrote).

    A *locked* writer — every applier of the outbox — holds the keys' advisory locks
    (:data:`~jarvis.outbox.LOCK_KEYS`) from reading the rows until every store answered: no
    other applier can have written a later version in between, so the store's versions are not
    read (one round trip less per write; in Chroma a ``get`` by id, 4-5 ms of its CPU, a
    quarter of what projecting one write costs it). Rebuild and reconcile read without the
    locks (taking them for a batch of 2,000 keys would hold up every projection meanwhile), so
    their rows are checked. What an applier writes can still be older than what one of those
    wrote a moment before, when that newer row's event is still pending: the event is applied
    next, under the locks, and writes the newer row again."""
    if not rows or locked:
        return rows
    stored = client.versions(collection, [str(row[entity.key]) for row in rows])
    return [row for row in rows if stored.get(str(row[entity.key]), -1) <= _version(row)]


def _nodes(stores: Stores, entity: Entity, rows: list[Row], missing: list[str], *, locked: bool) -> None:
    graph, label = stores.get(StoreName.NEO4J), _home(entity, StoreName.NEO4J)
    node = entity.node
    if rows and node is not None:  # the store skips a node whose version is newer (in the same query)
        graph.upsert_nodes(
            label, [{"key": row[entity.key], "props": {**node(row), VERSION: _version(row)}} for row in rows]
        )
    if missing:
        graph.delete_nodes(label, missing)


def _documents(stores: Stores, entity: Entity, rows: list[Row], missing: list[str], *, locked: bool) -> None:
    chroma, collection = stores.get(StoreName.CHROMA), _home(entity, StoreName.CHROMA)
    document = entity.document
    rows = _not_older(chroma, collection, entity, rows, locked=locked)
    if rows and document is not None:
        documents = [document(row) for row in rows]
        chroma.upsert(
            collection,
            ids=[row[entity.key] for row in rows],
            embeddings=[_vector(row["embedding"]) for row in rows],
            documents=[d for d, _ in documents],
            metadatas=[{**m, VERSION: _version(row)} for (_, m), row in zip(documents, rows)],
        )
    if missing:
        chroma.delete(collection, missing)


def _points(stores: Stores, entity: Entity, rows: list[Row], missing: list[str], *, locked: bool) -> None:
    qdrant, collection = stores.get(StoreName.QDRANT), _home(entity, StoreName.QDRANT)
    payload = entity.payload
    rows = _not_older(qdrant, collection, entity, rows, locked=locked)
    if rows and payload is not None:
        qdrant.upsert(
            collection,
            [(row[entity.key], _vector(row["embedding"]), {**payload(row), VERSION: _version(row)}) for row in rows],
        )
    if missing:
        qdrant.delete(collection, missing)


class Writer(Protocol):
    def __call__(
        self, stores: Stores, entity: Entity, rows: list[Row], missing: list[str], *, locked: bool
    ) -> None: ...


#: How each projection store is made to match an entity's rows (rows present are upserted, keys
#: without a row are deleted; *locked*: see :func:`_not_older`; Neo4j compares versions inside
#: its ``MERGE`` either way).
WRITERS: dict[StoreName, Writer] = {
    StoreName.NEO4J: _nodes,
    StoreName.CHROMA: _documents,
    StoreName.QDRANT: _points,
}


def write_rows(
    stores: Stores,
    store: StoreName,
    entity: Entity,
    rows: list[Row],
    keys: Iterable[str] | None,
    *,
    locked: bool = False,
) -> None:
    """Make *store* match *rows* of *entity*; keys in *keys* without a row are deleted from it.
    *locked*: the caller holds the keys' advisory locks since it read *rows* (:func:`_not_older`)."""
    present = {str(row[entity.key]) for row in rows}
    WRITERS[store](stores, entity, rows, [key for key in (keys or []) if key not in present], locked=locked)


def write_edges(stores: Stores, rows: list[Row], keys: Iterable[str] | None) -> None:
    """Make Neo4j's relationships match *rows*; keys in *keys* without a row are deleted."""
    graph = stores.get(StoreName.NEO4J)
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    present = set()
    for row in rows:
        present.add(edge_key(row["rel_type"], row["src_label"], row["src_id"], row["dst_label"], row["dst_id"]))
        props = {k: v for k, v in row["properties"].items() if isinstance(v, (str, int, float, bool))}
        props[VERSION] = _version(row)  # the store skips a relationship whose version is newer
        grouped[(row["rel_type"], row["src_label"], row["dst_label"])].append(
            {"src": row["src_id"], "dst": row["dst_id"], "props": props}
        )
    for (rel, src_label, dst_label), batch in grouped.items():
        graph.upsert_edges(rel, src_label, dst_label, batch)
    gone: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for key in keys or []:
        if key not in present:
            rel, src_label, src, dst_label, dst = key.split("|", 4)
            gone[(rel, src_label, dst_label)].append({"src": src, "dst": dst})
    for (rel, src_label, dst_label), batch in gone.items():
        graph.delete_edges(rel, src_label, dst_label, batch)


def forget_memories(stores: Stores, keys: Iterable[str]) -> None:
    """Drop Redis' cached copies of agent memories (key ``agent_id|memory_type|key``)."""
    for key in keys:
        agent_id, memory_type, name = key.split("|", 2)
        stores.redis.forget_memory(agent_id, memory_type, name)


def edge_key_of(row: Row) -> str:
    return edge_key(row["rel_type"], row["src_label"], row["src_id"], row["dst_label"], row["dst_id"])


def write(stores: Stores, store: StoreName, entity: str, rows: list[Row], keys: list[str], *, locked: bool) -> None:
    """Make *store* match the current rows of *entity* for *keys* (*rows*: that entity's rows read
    for this round, possibly of more keys; memories have none; *locked* as in :func:`write_rows`)."""
    wanted = set(keys)
    if entity == MEMORY_ENTITY:
        forget_memories(stores, keys)
    elif entity == EDGE_ENTITY:
        write_edges(stores, [row for row in rows if edge_key_of(row) in wanted], keys)
    else:
        spec = ENTITIES[entity]
        write_rows(stores, store, spec, [row for row in rows if str(row[spec.key]) in wanted], keys, locked=locked)
