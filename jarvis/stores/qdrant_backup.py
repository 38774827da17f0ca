"""Qdrant's backup: every point of every collection with its vector and payload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jarvis.stores.backup_rows import plain_dict, read_lines, require, vector, write_lines
from jarvis.stores.qdrant import COLLECTIONS as QDRANT_COLLECTIONS
from jarvis.stores.qdrant import QdrantStore


def qdrant_file(name: str) -> str:
    return f"qdrant.{name}.jsonl"


def export_qdrant(qdrant: QdrantStore, directory: Path) -> dict[str, int]:
    counts = {}
    for spec in QDRANT_COLLECTIONS:
        counts[spec.name] = write_lines(
            directory / qdrant_file(spec.name),
            (
                {"id": point_id, "vector": vector, "payload": payload}
                for point_id, vector, payload in qdrant.points(spec.name)
            ),
        )
    return counts


def _qdrant_row(row: Any) -> dict[str, Any]:
    row = plain_dict(row, "row")
    require(isinstance(row["id"], str) and bool(row["id"]), "id must be a string")
    return {
        "id": row["id"],
        "vector": vector(row["vector"], "vector"),
        "payload": plain_dict(row["payload"], "payload"),
    }


def qdrant_rows(directory: Path, name: str) -> Iterator[dict[str, Any]]:
    return read_lines(directory, qdrant_file(name), _qdrant_row)
