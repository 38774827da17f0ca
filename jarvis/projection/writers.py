"""The writers: make one projection store match the current PostgreSQL rows of one entity."""

from __future__ import annotations

from collections import defaultdict

from jarvis.projection.entities import edge_key


def _vector(value) -> list[float]:
    """pgvector's Vector (or an array) as the plain list the vector stores take."""
    return value.tolist() if hasattr(value, "tolist") else value.to_list() if hasattr(value, "to_list") else [
        float(x) for x in value]


def write_rows(store: str, client, spec, rows: list[dict], keys: list[str] | None) -> None:
    """Make *store* match *rows*; keys in *keys* without a row are deleted from it."""
    present = {str(row[spec.key]) for row in rows}
    missing = [key for key in (keys or []) if key not in present]
    if store == "neo4j":
        if rows:
            client.upsert_nodes(spec.label, [{"key": row[spec.key], "props": spec.node(row)} for row in rows])
        if missing:
            client.delete_nodes(spec.label, missing)
    elif store == "chroma":
        if rows:
            documents = [spec.document(row) for row in rows]
            client.upsert(spec.chroma, ids=[row[spec.key] for row in rows],
                          embeddings=[_vector(row["embedding"]) for row in rows],
                          documents=[d for d, _ in documents], metadatas=[m for _, m in documents])
        if missing:
            client.delete(spec.chroma, missing)
    elif store == "qdrant":
        if rows:
            client.upsert(spec.qdrant, [(row[spec.key], _vector(row["embedding"]), spec.payload(row)) for row in rows])
        if missing:
            client.delete(spec.qdrant, missing)


def write_edges(graph, rows: list[dict], keys: list[str] | None) -> None:
    """Make Neo4j's relationships match *rows*; keys in *keys* without a row are deleted."""
    grouped: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    present = set()
    for row in rows:
        present.add(edge_key(row["rel_type"], row["src_label"], row["src_id"], row["dst_label"], row["dst_id"]))
        props = {k: v for k, v in row["properties"].items() if isinstance(v, (str, int, float, bool))}
        grouped[(row["rel_type"], row["src_label"], row["dst_label"])].append(
            {"src": row["src_id"], "dst": row["dst_id"], "props": props}
        )
    for (rel, src_label, dst_label), batch in grouped.items():
        graph.upsert_edges(rel, src_label, dst_label, batch)
    gone: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for key in keys or []:
        if key not in present:
            rel, src_label, src, dst_label, dst = key.split("|", 4)
            gone[(rel, src_label, dst_label)].append({"src": src, "dst": dst})
    for (rel, src_label, dst_label), batch in gone.items():
        graph.delete_edges(rel, src_label, dst_label, batch)
