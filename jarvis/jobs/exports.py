"""Portable exports of the four stores besides PostgreSQL, as JSON lines, and their imports.

Neo4j Community has no online backup, Chroma's server and Qdrant Edge no snapshot call we can
use here, so each store is read through its client: ids, vectors, documents, payloads,
properties. Redis keys go as ``DUMP`` payloads with their remaining time to live.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import neo4j.time

from jarvis.stores.chroma import COLLECTIONS as CHROMA_COLLECTIONS
from jarvis.stores.neo4j import NODE_KEYS
from jarvis.stores.qdrant import COLLECTIONS as QDRANT_COLLECTIONS

BATCH = 1000
NODES = "MATCH (n) RETURN labels(n)[0] AS label, properties(n) AS props"
RELATIONSHIPS = (
    "MATCH (a)-[r]->(b) RETURN type(r) AS rel, labels(a)[0] AS src_label, coalesce(a.id, a.name) AS src, "
    "labels(b)[0] AS dst_label, coalesce(b.id, b.name) AS dst, properties(r) AS props"
)


def _write_lines(path: Path, rows: Iterator[dict]) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
            count += 1
    return count


def read_lines(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _batches(rows: Iterator[dict], size: int = BATCH) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- Redis --------------------------------------------------------------------------------------
def export_redis(raw, path: Path) -> int:
    """Every key as (key, DUMP payload, remaining ms to live or -1), base64 where binary."""
    def rows() -> Iterator[dict]:
        for key in raw.scan_iter(count=1000):
            pipe = raw.pipeline(transaction=False)
            pipe.dump(key)
            pipe.pttl(key)
            payload, ttl = pipe.execute()
            if payload is not None and ttl != -2:
                yield {"key": base64.b64encode(key).decode(), "dump": base64.b64encode(payload).decode(), "pttl": ttl}

    return _write_lines(path, rows())


def import_redis(raw, path: Path, *, elapsed_ms: int) -> int:
    """Restore keys; a key's time to live continues from the backup (expired ones are skipped)."""
    count = 0
    for batch in _batches(read_lines(path)):
        pipe = raw.pipeline(transaction=False)
        for row in batch:
            ttl = row["pttl"]
            if ttl >= 0:
                ttl -= elapsed_ms
                if ttl <= 0:
                    continue
            pipe.restore(base64.b64decode(row["key"]), max(ttl, 0), base64.b64decode(row["dump"]), replace=True)
            count += 1
        pipe.execute()
    return count


# -- Neo4j --------------------------------------------------------------------------------------
def _encode(value: Any) -> Any:
    if isinstance(value, neo4j.time.DateTime):
        return {"$datetime": value.to_native().isoformat()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def export_neo4j(graph, nodes_path: Path, relationships_path: Path) -> tuple[int, int]:
    """Every node and relationship with its properties, read in one transaction (consistent)."""
    with graph.driver.session() as session, session.begin_transaction() as tx:
        nodes = _write_lines(nodes_path, (
            {"label": r["label"], "props": {k: _encode(v) for k, v in r["props"].items()}} for r in tx.run(NODES)))
        rels = _write_lines(relationships_path, (
            {**{k: r[k] for k in ("rel", "src_label", "src", "dst_label", "dst")},
             "props": {k: _encode(v) for k, v in r["props"].items()}} for r in tx.run(RELATIONSHIPS)))
    return nodes, rels


def import_neo4j(graph, nodes_path: Path, relationships_path: Path) -> tuple[int, int]:
    nodes = rels = 0
    for batch in _batches(read_lines(nodes_path)):
        by_label: dict[str, list[dict]] = defaultdict(list)
        for row in batch:
            props = {k: _decode(v) for k, v in row["props"].items()}
            by_label[row["label"]].append({"key": props[NODE_KEYS[row["label"]]], "props": props})
        for label, rows in by_label.items():
            graph.upsert_nodes(label, rows)
        nodes += len(batch)
    for batch in _batches(read_lines(relationships_path)):
        grouped: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
        for row in batch:
            grouped[(row["rel"], row["src_label"], row["dst_label"])].append(
                {"src": row["src"], "dst": row["dst"], "props": {k: _decode(v) for k, v in row["props"].items()}})
        for (rel, src_label, dst_label), rows in grouped.items():
            # A backup taken during writes may hold an edge whose endpoint node it missed: the
            # edge is skipped (never a ghost node), and the reconcile after the load restores both.
            rels += graph.upsert_edges(rel, src_label, dst_label, rows, require_endpoints=False)
    return nodes, rels


# -- Chroma -------------------------------------------------------------------------------------
def export_chroma(chroma, directory: Path) -> dict[str, int]:
    counts = {}
    for name in CHROMA_COLLECTIONS:
        collection = chroma.api.get_collection(name, embedding_function=None)

        def rows(collection=collection) -> Iterator[dict]:
            offset = 0
            while True:
                page = collection.get(include=["embeddings", "documents", "metadatas"], limit=BATCH, offset=offset)
                for i, key in enumerate(page["ids"]):
                    yield {"id": key, "embedding": [float(x) for x in page["embeddings"][i]],
                           "document": page["documents"][i], "metadata": page["metadatas"][i]}
                if len(page["ids"]) < BATCH:
                    return
                offset += BATCH

        counts[name] = _write_lines(directory / f"chroma.{name}.jsonl", rows())
    return counts


def import_chroma(chroma, directory: Path) -> dict[str, int]:
    counts = {}
    for name in CHROMA_COLLECTIONS:
        chroma.reset(name)
        counts[name] = 0
        for batch in _batches(read_lines(directory / f"chroma.{name}.jsonl")):
            chroma.upsert(name, ids=[r["id"] for r in batch], embeddings=[r["embedding"] for r in batch],
                          documents=[r["document"] for r in batch], metadatas=[r["metadata"] or {} for r in batch])
            counts[name] += len(batch)
    return counts


# -- Qdrant -------------------------------------------------------------------------------------
def export_qdrant(qdrant, directory: Path) -> dict[str, int]:
    counts = {}
    for spec in QDRANT_COLLECTIONS:
        counts[spec.name] = _write_lines(directory / f"qdrant.{spec.name}.jsonl", (
            {"id": point_id, "vector": vector, "payload": payload} for point_id, vector, payload in qdrant.points(spec.name)))
    return counts


def import_qdrant(qdrant, directory: Path) -> dict[str, int]:
    counts = {}
    for spec in QDRANT_COLLECTIONS:
        qdrant.reset(spec.name)
        counts[spec.name] = 0
        for batch in _batches(read_lines(directory / f"qdrant.{spec.name}.jsonl")):
            qdrant.upsert(spec.name, [(r["id"], r["vector"], r["payload"]) for r in batch])
            counts[spec.name] += len(batch)
        qdrant.flush()
    return counts
