"""Neo4j's backup: every node and relationship with its properties (Neo4j Community has no
online backup). Reading it back checks labels and relationship types against the schema's own
sets, since they go into Cypher text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import neo4j.time
from neo4j import Driver

from jarvis.backup_files import BackupError
from jarvis.stores.backup_rows import batches, plain_dict, read_lines, require, write_lines
from jarvis.stores.neo4j import (
    NODE_KEYS,
    REPAIR_SWAP,
    RESTORE_STAGING_LABEL,
    SWAP_MARKER,
    UNKNOWN_NAMES,
    Neo4jStore,
    swap_phase,
)
from jarvis.stores.neo4j import RELATIONSHIPS as RELATIONSHIP_TYPES

STAGED = RESTORE_STAGING_LABEL

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


def export_neo4j(graph: Neo4jStore, nodes_path: Path, relationships_path: Path) -> tuple[int, int]:
    """Every node and relationship with its properties, read in one transaction (consistent)."""
    # the queries name the staging label, unknown to a graph that never held a restore: no warning
    quiet = graph.driver.session(notifications_disabled_classifications=UNKNOWN_NAMES)
    with quiet as session, session.begin_transaction() as tx:
        nodes = write_lines(
            nodes_path,
            ({"label": r["label"], "props": {k: _encode(v) for k, v in r["props"].items()}} for r in tx.run(NODES)),
        )
        rels = write_lines(
            relationships_path,
            (
                {
                    **{k: r[k] for k in ("rel", "src_label", "src", "dst_label", "dst")},
                    "props": {k: _encode(v) for k, v in r["props"].items()},
                }
                for r in tx.run(RELATIONSHIPS)
            ),
        )
    return nodes, rels


def _label(value: Any, field: str) -> str:
    """A node label of the schema: the label goes into Cypher text, so only these may."""
    require(
        isinstance(value, str) and value in NODE_KEYS,
        f"{field} {str(value)[:60]!r} is not a node label of the schema ({', '.join(NODE_KEYS)})",
    )
    return str(value)


def _node_key(value: Any, field: str) -> str | int:
    require(isinstance(value, (str, int)) and not isinstance(value, bool), f"{field} must be a string or integer")
    return value if isinstance(value, int) else str(value)


def _properties(value: Any) -> dict[str, Any]:
    props = plain_dict(value, "props")
    require(not RESERVED_PROPERTIES & set(props), f"props may not use {', '.join(sorted(RESERVED_PROPERTIES))}")
    return {k: _decode(v) for k, v in props.items()}


def _node_row(row: Any) -> dict[str, Any]:
    row = plain_dict(row, "row")
    label = _label(row["label"], "label")
    props = _properties(row["props"])
    return {"label": label, "key": _node_key(props.get(NODE_KEYS[label]), NODE_KEYS[label]), "props": props}


def _relationship_row(row: Any) -> dict[str, Any]:
    row = plain_dict(row, "row")
    rel = row["rel"]
    require(
        isinstance(rel, str) and rel in RELATIONSHIP_TYPES,
        f"relationship type {str(rel)[:60]!r} is not one of the schema's",
    )
    return {
        "rel": rel,
        "src_label": _label(row["src_label"], "src_label"),
        "src": _node_key(row["src"], "src"),
        "dst_label": _label(row["dst_label"], "dst_label"),
        "dst": _node_key(row["dst"], "dst"),
        "props": _properties(row["props"]),
    }


def neo4j_nodes(directory: Path) -> Iterator[dict[str, Any]]:
    """Checked node rows: label (one of the schema's), key, properties."""
    return read_lines(directory, NEO4J_NODES_FILE, _node_row)


def neo4j_relationships(directory: Path) -> Iterator[dict[str, Any]]:
    """Checked relationship rows: type and endpoint labels all from the schema's sets."""
    return read_lines(directory, NEO4J_RELATIONSHIPS_FILE, _relationship_row)


# -- staging, for a restore (jarvis.jobs.staging) ---------------------------------------------------
STAGED_LABEL = STAGED
# The swap's marker node (SWAP_MARKER) and swap_phase live in jarvis.stores.neo4j: status and
# verify read them too.

#: Nodes or relationships per transaction while swapping: a transaction's memory stays bounded
#: however large the graph (one transaction for 100,000 nodes hit Neo4j's transaction memory limit).
SWAP_BATCH = 10_000
DELETE_PHASE, RELABEL_PHASE = "delete", "relabel"

STAGING_INDEX = f"CREATE INDEX jarvis_restore_staging IF NOT EXISTS FOR (n:{STAGED_LABEL}) ON (n._label, n._key)"
STAGE_NODES = f"UNWIND $rows AS row MERGE (n:{STAGED_LABEL} {{_label: row.label, _key: row.key}}) SET n += row.props"
DROP_STAGED_BATCH = (
    f"MATCH (n:{STAGED_LABEL}) WHERE NOT n:{SWAP_MARKER} WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS deleted"
)
COUNT_STAGED = (
    f"MATCH (n:{STAGED_LABEL}) WHERE NOT n:{SWAP_MARKER} WITH count(n) AS nodes "
    f"OPTIONAL MATCH (:{STAGED_LABEL})-[r]->(:{STAGED_LABEL}) RETURN nodes, count(r) AS relationships"
)
UNLABELLED_STAGED = (
    f"MATCH (n:{STAGED_LABEL}) WHERE NOT n:{SWAP_MARKER} "
    "AND NOT coalesce(n._label, '') IN $labels RETURN count(n) AS unlabelled"
)
SET_SWAP_PHASE = f"MERGE (m:{STAGED_LABEL}:{SWAP_MARKER}) SET m.phase = $phase"
END_SWAP = f"MATCH (m:{SWAP_MARKER}) DELETE m"
# Relationships first, then nodes: a node with many relationships cannot blow up one batch.
# The nodes are still DETACH DELETEd, for an edge a projector wrote between two batches.
DELETE_LIVE_RELATIONSHIPS = (
    f"MATCH (a)-[r]->() WHERE NOT a:{STAGED_LABEL} WITH r LIMIT $limit DELETE r RETURN count(*) AS done"
)
DELETE_LIVE_NODES = f"MATCH (n) WHERE NOT n:{STAGED_LABEL} WITH n LIMIT $limit DETACH DELETE n RETURN count(*) AS done"


def _stage_edges(rel: str) -> str:
    """*rel* comes from the schema's set (checked by :mod:`jarvis.stores.neo4j_backup`); endpoints
    match on staged data, so no label from the backup is ever part of the query text."""
    return (
        f"UNWIND $rows AS row MERGE (a:{STAGED_LABEL} {{_label: row.src_label, _key: row.src}}) "
        f"MERGE (b:{STAGED_LABEL} {{_label: row.dst_label, _key: row.dst}}) "
        f"MERGE (a)-[r:{rel}]->(b) SET r += row.props"
    )


def _unstage(label: str) -> str:
    """Give up to ``$limit`` staged nodes of *label* (a key of NODE_KEYS, never input) their real
    label. A live node with the same key (a projector's write since the old graph went) gives way:
    it would break the uniqueness constraint, and the reconcile after the restore writes it again."""
    key = NODE_KEYS[label]
    return (
        f"MATCH (n:{STAGED_LABEL} {{_label: $label}}) WITH n LIMIT $limit "
        f"OPTIONAL MATCH (live:{label} {{{key}: n._key}}) DETACH DELETE live "
        f"WITH DISTINCT n SET n:{label}, n.{key} = n._key REMOVE n:{STAGED_LABEL}, n._label, n._key "
        "RETURN count(n) AS done"
    )


class SwapInterrupted(BackupError):
    """The swap stopped after the old graph began to go: the graph is part old, part new, and the
    marker node (:data:`SWAP_MARKER`) says so until the swap is completed or the graph rebuilt."""


def drop_staged(driver: Driver) -> None:
    """Drop the staged graph, unless a swap of it was interrupted: its remainder is then what
    :func:`swap_staged` completes the swap with, so it stays (invisible to reads)."""
    if swap_phase(driver) is not None:
        return
    while driver.execute_query(DROP_STAGED_BATCH).records[0]["deleted"]:
        pass


def stage(driver: Driver, directory: Path) -> dict[str, int]:
    """Load the backup's nodes and relationships under the staging label beside the live graph;
    return the rows read, the distinct nodes staged and the relationships.

    A new staging starts a new swap: the marker of an interrupted one goes, and the next swap
    deletes everything not staged, whatever the interrupted one had done."""
    driver.execute_query(STAGING_INDEX)
    driver.execute_query(END_SWAP)
    drop_staged(driver)
    # Neo4j reads committed data statement by statement, so a backup taken during writes can
    # hold a relationship to a node created after the nodes were read: it is staged bare
    # (as the projection would create it) and the reconcile after the swap completes it.
    seen: set[tuple[str, Any]] = set()
    node_rows = rels = 0
    for batch in batches(neo4j_nodes(directory)):
        driver.execute_query(
            STAGE_NODES, rows=[{"label": r["label"], "key": r["key"], "props": r["props"]} for r in batch]
        )
        seen.update((r["label"], r["key"]) for r in batch)
        node_rows += len(batch)
    for batch in batches(neo4j_relationships(directory)):
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in batch:
            grouped[row["rel"]].append(row)
            seen.update(((row["src_label"], row["src"]), (row["dst_label"], row["dst"])))
        for rel, rows in grouped.items():
            driver.execute_query(_stage_edges(rel), rows=rows)
        rels += len(batch)
    return {"nodes": node_rows, "staged_nodes": len(seen), "relationships": rels}


def staged_counts(driver: Driver) -> dict[str, int]:
    record = driver.execute_query(COUNT_STAGED).records[0]
    return {"nodes": int(record["nodes"]), "relationships": int(record["relationships"])}


def _in_batches(driver: Driver, query: str, progress: Callable[[str, int], None], **params: Any) -> None:
    """Run *query* (``$limit`` rows per run, returning ``done``) until it finds nothing left."""
    while done := int(driver.execute_query(query, limit=SWAP_BATCH, **params).records[0]["done"]):
        progress(query, done)


def swap_staged(driver: Driver, *, progress: Callable[[str, int], None] | None = None) -> None:
    """Replace the live graph by the staged one, :data:`SWAP_BATCH` nodes or relationships per
    transaction (one transaction over a large graph runs out of Neo4j's transaction memory).

    Before anything changes, every staged node must carry a label of the schema. Then a marker
    node (:data:`SWAP_MARKER`) is written, the old graph deleted, the staged one relabelled and
    the marker removed, each phase recorded in the marker. A crash in between leaves the marker
    and the staged remainder (:func:`drop_staged` keeps them): calling this again carries on from
    the recorded phase, a new :func:`stage` starts the swap over, and ``jarvis rebuild --store
    neo4j`` (which empties the whole graph, the marker too) projects PostgreSQL again. *progress*
    hears each batch (the query and how many it changed).

    Raises:
        BackupError: a staged node has no label of the schema (nothing is changed).
        SwapInterrupted: the swap failed after its marker was written; the marker stays.
    """
    report = progress or (lambda query, done: None)
    phase = swap_phase(driver)
    if phase is None:
        record = driver.execute_query(UNLABELLED_STAGED, labels=list(NODE_KEYS)).records[0]
        if unlabelled := int(record["unlabelled"]):
            raise BackupError(f"neo4j: {unlabelled} staged nodes have no label of the schema")
        driver.execute_query(SET_SWAP_PHASE, phase=DELETE_PHASE)
        phase = DELETE_PHASE
    try:
        if phase == DELETE_PHASE:
            _in_batches(driver, DELETE_LIVE_RELATIONSHIPS, report)
            _in_batches(driver, DELETE_LIVE_NODES, report)
            driver.execute_query(SET_SWAP_PHASE, phase=RELABEL_PHASE)
        for label in NODE_KEYS:
            _in_batches(driver, _unstage(label), report, label=label)
        driver.execute_query(END_SWAP)
    except Exception as exc:  # noqa: BLE001 - whatever stopped it, the graph is now half swapped
        raise SwapInterrupted(
            f"neo4j: the graph swap stopped after the old graph began to go ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}); the graph is part old, part new, marked by a "
            f":{SWAP_MARKER} node: {REPAIR_SWAP}"
        ) from None
