"""Portable exports of the four stores besides PostgreSQL, as JSON lines, and their checked reading.

Neo4j Community has no online backup, Chroma's server and Qdrant Edge no snapshot call we can
use here, so each store is read through its client: ids, vectors, documents, payloads,
properties. Redis keys go as ``DUMP`` payloads with their remaining time to live.

Reading a backup back trusts nothing in it: every row is checked for its shape (and a graph's
labels and relationship types against the schema's own sets) before any store sees it, and a
bad row is refused naming its file and line. :mod:`jarvis.jobs.staging` loads what passes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import neo4j.time

from jarvis.jobs.manifest import BackupError, create_private, open_inside
from jarvis.stores.chroma import COLLECTIONS as CHROMA_COLLECTIONS
from jarvis.stores.chroma import DIMENSION
from jarvis.stores.neo4j import NODE_KEYS
from jarvis.stores.neo4j import RELATIONSHIPS as RELATIONSHIP_TYPES
from jarvis.stores.neo4j import RESTORE_STAGING_LABEL as STAGED
from jarvis.stores.qdrant import COLLECTIONS as QDRANT_COLLECTIONS

BATCH = 1000
NODES = f"MATCH (n) WHERE NOT n:{STAGED} RETURN labels(n)[0] AS label, properties(n) AS props"
RELATIONSHIPS = (
    f"MATCH (a)-[r]->(b) WHERE NOT a:{STAGED} RETURN type(r) AS rel, labels(a)[0] AS src_label, "
    "coalesce(a.id, a.name) AS src, "
    "labels(b)[0] AS dst_label, coalesce(b.id, b.name) AS dst, properties(r) AS props"
)
#: Property names the staged graph uses for itself (see :mod:`jarvis.jobs.staging`).
RESERVED_PROPERTIES = frozenset({"_label", "_key"})


def _write_lines(path: Path, rows: Iterator[dict]) -> int:
    count = 0
    with create_private(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
            count += 1
    return count


def read_lines(directory: Path, name: str, check: Callable[[Any], dict]) -> Iterator[dict]:
    """The rows of one file of the backup, each passed through *check*.

    Raises:
        BackupError: naming the file and line of the first row that is not JSON or fails *check*.
    """
    with open_inside(directory, name, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                row = check(json.loads(line.decode("utf-8")))
            except (ValueError, TypeError, KeyError, binascii.Error, RecursionError) as exc:
                reason = str(exc) if isinstance(exc, BadRow) else f"not a valid row ({type(exc).__name__})"
                raise BackupError(f"refusing to restore: {name} line {number}: {reason}") from None
            yield row


class BadRow(ValueError):
    """One row of a backup file breaks its schema; the message says how."""


def batches(rows: Iterator[dict], size: int = BATCH) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BadRow(message)


def _vector(value: Any, field: str) -> list[float]:
    _require(isinstance(value, list) and len(value) == DIMENSION, f"{field} must be {DIMENSION} numbers")
    _require(all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value), f"{field} must be numbers")
    return [float(x) for x in value]


def _plain_dict(value: Any, field: str) -> dict:
    _require(isinstance(value, dict) and all(isinstance(k, str) for k in value), f"{field} must be an object")
    return value


# -- Redis --------------------------------------------------------------------------------------
REDIS_FILE = "redis.jsonl"


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


def _redis_row(row: Any) -> dict:
    row = _plain_dict(row, "row")
    _require(isinstance(row["pttl"], int) and not isinstance(row["pttl"], bool) and row["pttl"] >= -1,
             "pttl must be an integer >= -1")
    return {"key": base64.b64decode(row["key"], validate=True), "dump": base64.b64decode(row["dump"], validate=True),
            "pttl": row["pttl"]}


def redis_rows(directory: Path) -> Iterator[dict]:
    """(key, DUMP payload, pttl) of every key in the backup, decoded."""
    return read_lines(directory, REDIS_FILE, _redis_row)


def import_redis(raw, directory: Path, *, elapsed_ms: int) -> int:
    """Restore keys into *raw*'s database; a key's time to live continues from the backup
    (keys whose time ran out meanwhile are skipped). Returns how many rows were read."""
    count = 0
    for batch in batches(redis_rows(directory)):
        pipe = raw.pipeline(transaction=False)
        for row in batch:
            ttl = row["pttl"]
            if ttl >= 0:
                ttl -= elapsed_ms
                if ttl <= 0:
                    continue
            pipe.restore(row["key"], max(ttl, 0), row["dump"], replace=True)
        pipe.execute()
        count += len(batch)
    return count


# -- Neo4j --------------------------------------------------------------------------------------
NEO4J_NODES_FILE = "neo4j.nodes.jsonl"
NEO4J_RELATIONSHIPS_FILE = "neo4j.relationships.jsonl"


def _encode(value: Any) -> Any:
    if isinstance(value, neo4j.time.DateTime):
        return {"$datetime": value.to_native().isoformat()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        _require(set(value) == {"$datetime"} and isinstance(value["$datetime"], str), "a property is an object")
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


def _label(value: Any, field: str) -> str:
    """A node label of the schema: the label goes into Cypher text, so only these may."""
    _require(isinstance(value, str) and value in NODE_KEYS, f"{field} {str(value)[:60]!r} is not a node label "
             f"of the schema ({', '.join(NODE_KEYS)})")
    return value


def _node_key(value: Any, field: str) -> str | int:
    _require(isinstance(value, (str, int)) and not isinstance(value, bool), f"{field} must be a string or integer")
    return value


def _properties(value: Any) -> dict:
    props = _plain_dict(value, "props")
    _require(not RESERVED_PROPERTIES & set(props), f"props may not use {', '.join(sorted(RESERVED_PROPERTIES))}")
    return {k: _decode(v) for k, v in props.items()}


def _node_row(row: Any) -> dict:
    row = _plain_dict(row, "row")
    label = _label(row["label"], "label")
    props = _properties(row["props"])
    return {"label": label, "key": _node_key(props.get(NODE_KEYS[label]), NODE_KEYS[label]), "props": props}


def _relationship_row(row: Any) -> dict:
    row = _plain_dict(row, "row")
    rel = row["rel"]
    _require(isinstance(rel, str) and rel in RELATIONSHIP_TYPES,
             f"relationship type {str(rel)[:60]!r} is not one of the schema's")
    return {"rel": rel, "src_label": _label(row["src_label"], "src_label"), "src": _node_key(row["src"], "src"),
            "dst_label": _label(row["dst_label"], "dst_label"), "dst": _node_key(row["dst"], "dst"),
            "props": _properties(row["props"])}


def neo4j_nodes(directory: Path) -> Iterator[dict]:
    """Checked node rows: label (one of the schema's), key, properties."""
    return read_lines(directory, NEO4J_NODES_FILE, _node_row)


def neo4j_relationships(directory: Path) -> Iterator[dict]:
    """Checked relationship rows: type and endpoint labels all from the schema's sets."""
    return read_lines(directory, NEO4J_RELATIONSHIPS_FILE, _relationship_row)


# -- Chroma -------------------------------------------------------------------------------------
def chroma_file(name: str) -> str:
    return f"chroma.{name}.jsonl"


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

        counts[name] = _write_lines(directory / chroma_file(name), rows())
    return counts


def _chroma_row(row: Any) -> dict:
    row = _plain_dict(row, "row")
    _require(isinstance(row["id"], str) and row["id"], "id must be a string")
    _require(row["document"] is None or isinstance(row["document"], str), "document must be a string")
    metadata = row["metadata"] or {}
    _plain_dict(metadata, "metadata")
    _require(all(v is None or isinstance(v, (str, int, float, bool)) for v in metadata.values()),
             "metadata values must be scalars")
    return {"id": row["id"], "embedding": _vector(row["embedding"], "embedding"), "document": row["document"],
            "metadata": metadata}


def chroma_rows(directory: Path, name: str) -> Iterator[dict]:
    return read_lines(directory, chroma_file(name), _chroma_row)


# -- Qdrant -------------------------------------------------------------------------------------
def qdrant_file(name: str) -> str:
    return f"qdrant.{name}.jsonl"


def export_qdrant(qdrant, directory: Path) -> dict[str, int]:
    counts = {}
    for spec in QDRANT_COLLECTIONS:
        counts[spec.name] = _write_lines(directory / qdrant_file(spec.name), (
            {"id": point_id, "vector": vector, "payload": payload} for point_id, vector, payload in qdrant.points(spec.name)))
    return counts


def _qdrant_row(row: Any) -> dict:
    row = _plain_dict(row, "row")
    _require(isinstance(row["id"], str) and row["id"], "id must be a string")
    return {"id": row["id"], "vector": _vector(row["vector"], "vector"), "payload": _plain_dict(row["payload"], "payload")}


def qdrant_rows(directory: Path, name: str) -> Iterator[dict]:
    return read_lines(directory, qdrant_file(name), _qdrant_row)


def check_rows(directory: Path) -> dict[str, int]:
    """Read every row of every export once, before any store is written: a bad row is refused
    here, naming its file and line. Returns the rows per file."""
    readers: dict[str, Iterator[dict]] = {
        REDIS_FILE: redis_rows(directory), NEO4J_NODES_FILE: neo4j_nodes(directory),
        NEO4J_RELATIONSHIPS_FILE: neo4j_relationships(directory),
        **{chroma_file(name): chroma_rows(directory, name) for name in CHROMA_COLLECTIONS},
        **{qdrant_file(spec.name): qdrant_rows(directory, spec.name) for spec in QDRANT_COLLECTIONS},
    }
    return {name: sum(1 for _ in rows) for name, rows in readers.items()}

