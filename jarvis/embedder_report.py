"""What the embedder is doing, in words: ``jarvis embedder status`` and the int8 warning.

int8 is an opt-in with a cost in quality, so wherever it is chosen its measured quality is
printed beside its speed (figures from the export's manifest, measured when it was made).
"""

from __future__ import annotations

from typing import Any

from jarvis.config import Settings
from jarvis.embeddings import Embedder


def int8_quality_line(embedder: Embedder) -> str:
    """int8's measured quality against torch fp32, in one line."""
    export = embedder.export
    quality = export.manifest.get("int8", {}) if export is not None else {}
    if not quality:
        return "int8 quality unknown (no export manifest)"
    return (
        f"int8 vectors (opt-in): cosine to torch fp32 mean {quality['cosine_mean']:.4f}, "
        f"min {quality['cosine_min']:.4f}; top-10 neighbours agree {quality['top10_agreement']:.1%} "
        f"(on {quality['corpus']} texts, {quality['queries']} queries); int8 vectors are never mixed with fp32 ones"
    )


def status(settings: Settings) -> dict[str, Any]:
    """The serving backend (and why, if not the one asked for), the export, the store's family."""
    from jarvis import embedding_space
    from jarvis.errors import JarvisError
    from jarvis.stores.postgres import PostgresStore

    embedder = Embedder.shared(backend=settings.embedder, cache_dir=settings.cache_dir)
    report: dict[str, Any] = {"asked": settings.embedder, **embedder.describe()}
    export = embedder.export
    if export is not None:
        manifest = export.manifest
        report.update(
            export=str(export.path),
            probe_min_cosine=manifest.get("probe_min_cosine"),
            batches_per_second_at_export=manifest.get("batch", {}).get("texts_per_second"),
            int8=int8_quality_line(embedder),
        )
    try:
        postgres = PostgresStore.connect(settings)
        try:
            with postgres.transaction() as conn:
                space = embedding_space.read(conn)
            report["store_vectors"] = space["family"] + (
                f" (re-embed to {space['reembed_to']} under way)" if space["reembed_to"] else ""
            )
        finally:
            postgres.close()
    except JarvisError as exc:
        report["store_vectors"] = f"unknown ({exc})"
    return report
