"""How each PostgreSQL entity appears in Neo4j, Chroma and Qdrant.

Projection is state-based: an outbox event only says "entity X changed"; applying it reads
X's current row and makes every projection match it (upsert if the row exists, delete if it
does not). So applying an event twice, late, or out of order changes nothing, and a rebuild
is the same code run over every row. Vectors are read from Postgres, never recomputed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from jarvis.search_filters import OPEN_END, epoch, metadata_fields
from jarvis.stores.base import Row, StoreName


#: Every projected row's version (migration 015): written into each store beside the row, so a
#: writer never replaces a newer version with an older one.
VERSION = "row_version"

_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")

#: The word a difference found by ``verify`` uses for an entity's items in each store.
ITEMS: dict[StoreName, str] = {StoreName.NEO4J: "nodes", StoreName.CHROMA: "documents", StoreName.QDRANT: "points"}


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _num(value: Any) -> Any:
    return float(value) if value is not None else None


@dataclass(frozen=True)
class Entity:
    """One Postgres entity and its projections; ``columns`` are what the projections read."""

    name: str
    table: str
    key: str
    columns: str
    label: str | None = None  # Neo4j node label
    node: Callable[[Row], dict[str, Any]] | None = None  # row -> node properties
    chroma: str | None = None  # Chroma collection
    document: Callable[[Row], tuple[str, dict[str, Any]]] | None = None  # row -> (document, metadata)
    qdrant: str | None = None  # Qdrant collection
    payload: Callable[[Row], dict[str, Any]] | None = None  # row -> payload
    key_type: str = "uuid"  # the key column's type: "uuid" or "text"
    stores: tuple[StoreName, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stores", tuple(store for store in ITEMS if self.where(store)))

    def where(self, store: StoreName) -> str | None:
        """The entity's home in *store*: its node label (Neo4j) or collection (Chroma, Qdrant)."""
        return {StoreName.NEO4J: self.label, StoreName.CHROMA: self.chroma, StoreName.QDRANT: self.qdrant}.get(store)

    def described(self, store: StoreName) -> str:
        """How ``verify`` names the entity's items in *store*, e.g. "Agent nodes"."""
        return f"{self.where(store)} {ITEMS[store]}"

    # Table, key and columns are the fixed names above, never input.
    @property
    def select(self) -> str:
        """The rows whose keys are in ``%(keys)s`` (:meth:`typed_keys`), found by the key's index:
        the key column is compared as itself (comparing ``key::text`` scanned the whole table on
        every projection round: 85 ms at 100,000 rows)."""
        return f"SELECT {self.columns}, {VERSION} FROM {self.table} WHERE {self.key} = ANY(%(keys)s::{self.key_type}[])"

    def typed_keys(self, keys: Iterable[str]) -> list[str]:
        """*keys* that can name a row of this entity: a key that is not a UUID has no row in a
        UUID-keyed table (a ghost in a store may have any id), and would fail the cast."""
        if self.key_type != "uuid":
            return list(keys)
        return [key for key in keys if _UUID.fullmatch(key)]

    @property
    def select_all(self) -> str:
        return f"SELECT {self.columns}, {VERSION} FROM {self.table} ORDER BY {self.key}"

    @property
    def all_keys(self) -> str:
        return f"SELECT {self.key}::text FROM {self.table}"


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "agent",
            "agents",
            "id",
            "id::text, name, type, status, capabilities, performance_score, created_at",
            label="Agent",
            node=lambda r: {
                "id": r["id"],
                "name": r["name"],
                "type": r["type"],
                "status": r["status"],
                "capabilities": list(r["capabilities"]),
                "performance_score": r["performance_score"],
                "created_at": r["created_at"],
            },
        ),
        Entity(
            "task",
            "tasks",
            "id",
            "id::text, name, type, status, priority, created_at",
            label="Task",
            node=lambda r: {
                "id": r["id"],
                "name": r["name"],
                "type": r["type"],
                "status": r["status"],
                "priority": r["priority"],
                "created_at": r["created_at"],
            },
        ),
        Entity(
            "user",
            "users",
            "id",
            "id, name, preferences",
            key_type="text",
            label="User",
            node=lambda r: {"id": r["id"], "name": r["name"], "preferences": json.dumps(r["preferences"])},
        ),
        Entity(
            "model",
            "models",
            "id",
            "id::text, name, type, provider",
            label="Model",
            node=lambda r: {"id": r["id"], "name": r["name"], "type": r["type"], "provider": r["provider"]},
        ),
        Entity(
            "capability",
            "capabilities",
            "name",
            "name, category, description",
            key_type="text",
            label="Capability",
            node=lambda r: {"name": r["name"], "category": r["category"], "description": r["description"]},
        ),
        Entity(
            "knowledge",
            "knowledge",
            "id",
            "id::text, topic, content, source, category, confidence, agent_id::text, embedding, created_at, "
            "valid_from, valid_to",
            label="Knowledge",
            node=lambda r: {
                "id": r["id"],
                "topic": r["topic"],
                "content": r["content"],
                "source": r["source"],
                "created_at": r["created_at"],
                "valid_from": r["valid_from"],
                "valid_to": r["valid_to"],
            },
            chroma="knowledge_base",
            document=lambda r: (
                r["content"],
                {
                    "topic": r["topic"],
                    "source": r["source"],
                    "agent_id": r["agent_id"],
                    "category": r["category"],
                    "confidence": _num(r["confidence"]),
                    "created_at": _iso(r["created_at"]),
                    "created_ts": epoch(r["created_at"]),
                    "valid_from_ts": epoch(r["valid_from"]),
                    "valid_to_ts": epoch(r["valid_to"], default=OPEN_END),
                },
            ),
        ),
        Entity(
            "conversation",
            "conversations",
            "id",
            "id::text, session_id, user_id, agent_id::text, role, message_type, content, embedding, metadata, created_at",
            chroma="conversations",
            document=lambda r: (
                r["content"],
                {
                    "session_id": r["session_id"],
                    "user_id": r["user_id"],
                    "agent_id": r["agent_id"],
                    "role": r["role"],
                    "message_type": r["message_type"],
                    "timestamp": _iso(r["created_at"]),
                    "sentiment": r["metadata"].get("sentiment"),
                    "created_ts": epoch(r["created_at"]),
                    **metadata_fields(r["metadata"]),
                },
            ),
        ),
        Entity(
            "code_snippet",
            "code_snippets",
            "id",
            "id::text, content, language, purpose, agent_id::text, performance_score, tested, embedding, created_at",
            chroma="code_snippets",
            document=lambda r: (
                r["content"],
                {
                    "language": r["language"],
                    "purpose": r["purpose"],
                    "agent_id": r["agent_id"],
                    "performance_score": _num(r["performance_score"]),
                    "tested": r["tested"],
                    "created_ts": epoch(r["created_at"]),
                },
            ),
        ),
        Entity(
            "agent_capability",
            "agent_capabilities",
            "id",
            "id::text, agent_id::text, capability, description, success_rate, avg_execution_time, embedding, created_at",
            qdrant="agent_capabilities",
            payload=lambda r: {
                "agent_id": r["agent_id"],
                "capability": r["capability"],
                "description": r["description"],
                "success_rate": _num(r["success_rate"]),
                "avg_execution_time": r["avg_execution_time"],
                "created_ts": epoch(r["created_at"]),
            },
        ),
        Entity(
            "task_pattern",
            "task_patterns",
            "id",
            "id::text, pattern_type, description, task_sequence, success_rate, optimal_agents, embedding, created_at",
            qdrant="task_patterns",
            payload=lambda r: {
                "pattern_type": r["pattern_type"],
                "description": r["description"],
                "task_sequence": r["task_sequence"],
                "success_rate": _num(r["success_rate"]),
                "optimal_agents": r["optimal_agents"],
                "created_ts": epoch(r["created_at"]),
            },
        ),
        Entity(
            "user_preference",
            "user_preferences",
            "id",
            "id::text, user_id, preference_type, description, value, confidence, embedding, created_at",
            qdrant="user_preferences",
            payload=lambda r: {
                "user_id": r["user_id"],
                "preference_type": r["preference_type"],
                "description": r["description"],
                "value": r["value"],
                "confidence": _num(r["confidence"]),
                "created_ts": epoch(r["created_at"]),
            },
        ),
    )
}

#: Every node label (graph_edges' labels are these: its CHECK constraints).
NODE_LABELS: tuple[str, ...] = tuple(e.label for e in ENTITIES.values() if e.label)

#: Graph edges are their own entity: key "REL|SrcLabel|src|DstLabel|dst".
EDGE_ENTITY = "edge"
EDGE_COLUMNS = f"rel_type, src_label, src_id, dst_label, dst_id, properties, {VERSION}"
#: The edges of the keys' parts (:func:`edge_parts`), found by the edges' unique index.
SELECT_EDGES = (
    f"SELECT {EDGE_COLUMNS} FROM graph_edges "
    "WHERE (rel_type, src_label, src_id, dst_label, dst_id) IN ("
    "SELECT * FROM unnest(%(rel)s::text[], %(src_label)s::text[], %(src)s::text[], %(dst_label)s::text[], %(dst)s::text[]))"
)
SELECT_ALL_EDGES = f"SELECT {EDGE_COLUMNS} FROM graph_edges ORDER BY id"


def edge_key(rel: str, src_label: str, src: str, dst_label: str, dst: str) -> str:
    return "|".join((rel, src_label, str(src), dst_label, str(dst)))


def edge_parts(keys: Iterable[str]) -> dict[str, list[str]]:
    """:data:`SELECT_EDGES`'s parameters for edge *keys*: each key split back into its five
    parts. An id may hold '|', so every split whose destination label is a node label is
    given; each one joins back to the key, so only the key's own edge can match."""
    parts: dict[str, list[str]] = {"rel": [], "src_label": [], "src": [], "dst_label": [], "dst": []}
    for key in keys:
        rel, src_label, rest = (key.split("|", 2) + ["", ""])[:3]
        for label in NODE_LABELS:
            marker, start = f"|{label}|", 0
            while (at := rest.find(marker, start)) >= 0:
                for name, value in zip(parts, (rel, src_label, rest[:at], label, rest[at + len(marker) :])):
                    parts[name].append(value)
                start = at + 1
    return parts


def rows_of(entity: str, keys: Iterable[str]) -> tuple[str, dict[str, Any]]:
    """The statement and parameters that read the current rows of *entity* (or its edges)
    for *keys*, by index."""
    if entity == EDGE_ENTITY:
        return SELECT_EDGES, edge_parts(keys)
    spec = ENTITIES[entity]
    return spec.select, {"keys": spec.typed_keys(keys)}


#: Agent memories project nowhere but Redis' read cache: key "agent_id|memory_type|key".
MEMORY_ENTITY = "memory"


def stores_for(entity: str) -> tuple[StoreName, ...]:
    """The stores an event about *entity* is pending for when recorded."""
    if entity == EDGE_ENTITY:
        return (StoreName.NEO4J,)
    if entity == MEMORY_ENTITY:
        return (StoreName.REDIS,)
    return ENTITIES[entity].stores
