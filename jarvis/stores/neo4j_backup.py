"""Neo4j's backup: every node and relationship with its properties (Neo4j Community has no
online backup). Reading it back checks labels and relationship types against the schema's own
sets, since they go into Cypher text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import neo4j.time

from jarvis.stores.backup_rows import plain_dict, read_lines, require, write_lines
from jarvis.stores.neo4j import NODE_KEYS
from jarvis.stores.neo4j import RELATIONSHIPS as RELATIONSHIP_TYPES
from jarvis.stores.neo4j import RESTORE_STAGING_LABEL as STAGED

NODES = f"MATCH (n) WHERE NOT n:{STAGED} RETURN labels(n)[0] AS label, properties(n) AS props"
RELATIONSHIPS = (
    f"MATCH (a)-[r]->(b) WHERE NOT a:{STAGED} RETURN type(r) AS rel, labels(a)[0] AS src_label, "
    "coalesce(a.id, a.name) AS src, "
    "labels(b)[0] AS dst_label, coalesce(b.id, b.name) AS dst, properties(r) AS props"
)
#: Property names the staged graph uses for itself (see :mod:`jarvis.jobs.staging`).
RESERVED_PROPERTIES = frozenset({"_label", "_key"})


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
        require(set(value) == {"$datetime"} and isinstance(value["$datetime"], str), "a property is an object")
        return datetime.fromisoformat(value["$datetime"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def export_neo4j(graph, nodes_path: Path, relationships_path: Path) -> tuple[int, int]:
    """Every node and relationship with its properties, read in one transaction (consistent)."""
    with graph.driver.session() as session, session.begin_transaction() as tx:
        nodes = write_lines(nodes_path, (
            {"label": r["label"], "props": {k: _encode(v) for k, v in r["props"].items()}} for r in tx.run(NODES)))
        rels = write_lines(relationships_path, (
            {**{k: r[k] for k in ("rel", "src_label", "src", "dst_label", "dst")},
             "props": {k: _encode(v) for k, v in r["props"].items()}} for r in tx.run(RELATIONSHIPS)))
    return nodes, rels


def _label(value: Any, field: str) -> str:
    """A node label of the schema: the label goes into Cypher text, so only these may."""
    require(isinstance(value, str) and value in NODE_KEYS, f"{field} {str(value)[:60]!r} is not a node label "
             f"of the schema ({', '.join(NODE_KEYS)})")
    return value


def _node_key(value: Any, field: str) -> str | int:
    require(isinstance(value, (str, int)) and not isinstance(value, bool), f"{field} must be a string or integer")
    return value


def _properties(value: Any) -> dict:
    props = plain_dict(value, "props")
    require(not RESERVED_PROPERTIES & set(props), f"props may not use {', '.join(sorted(RESERVED_PROPERTIES))}")
    return {k: _decode(v) for k, v in props.items()}


def _node_row(row: Any) -> dict:
    row = plain_dict(row, "row")
    label = _label(row["label"], "label")
    props = _properties(row["props"])
    return {"label": label, "key": _node_key(props.get(NODE_KEYS[label]), NODE_KEYS[label]), "props": props}


def _relationship_row(row: Any) -> dict:
    row = plain_dict(row, "row")
    rel = row["rel"]
    require(isinstance(rel, str) and rel in RELATIONSHIP_TYPES,
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
