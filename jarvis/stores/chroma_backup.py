"""Chroma's backup: every document of every collection with its vector and metadata."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from chromadb.api.models.Collection import Collection

from jarvis.stores.backup_rows import BATCH, plain_dict, read_lines, require, vector, write_lines
from jarvis.stores.chroma import COLLECTIONS as CHROMA_COLLECTIONS
from jarvis.stores.chroma import ChromaStore


def chroma_file(name: str) -> str:
    return f"chroma.{name}.jsonl"


def export_chroma(chroma: ChromaStore, directory: Path) -> dict[str, int]:
    counts = {}
    for name in CHROMA_COLLECTIONS:
        collection = chroma.api.get_collection(name, embedding_function=None)

        def rows(collection: Collection = collection) -> Iterator[dict[str, Any]]:
            offset = 0
            while True:
                page = collection.get(
                    include=cast(Any, ["embeddings", "documents", "metadatas"]), limit=BATCH, offset=offset
                )
                embeddings, documents, metadatas = (
                    cast(Any, page[part]) for part in ("embeddings", "documents", "metadatas")
                )
                for i, key in enumerate(page["ids"]):
                    yield {
                        "id": key,
                        "embedding": [float(x) for x in embeddings[i]],
                        "document": documents[i],
                        "metadata": metadatas[i],
                    }
                if len(page["ids"]) < BATCH:
                    return
                offset += BATCH

        counts[name] = write_lines(directory / chroma_file(name), rows())
    return counts


def _chroma_row(row: Any) -> dict[str, Any]:
    row = plain_dict(row, "row")
    require(isinstance(row["id"], str) and bool(row["id"]), "id must be a string")
    require(row["document"] is None or isinstance(row["document"], str), "document must be a string")
    metadata = row["metadata"] or {}
    plain_dict(metadata, "metadata")
    require(
        all(v is None or isinstance(v, (str, int, float, bool)) for v in metadata.values()),
        "metadata values must be scalars",
    )
    return {
        "id": row["id"],
        "embedding": vector(row["embedding"], "embedding"),
        "document": row["document"],
        "metadata": metadata,
    }


def chroma_rows(directory: Path, name: str) -> Iterator[dict[str, Any]]:
    return read_lines(directory, chroma_file(name), _chroma_row)
