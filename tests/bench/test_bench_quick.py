"""`jarvis bench --quick` works end to end (its speed is measured by the benchmark, not here)."""

from __future__ import annotations

import json
import math

import pytest

from jarvis import bench
from jarvis.errors import InvalidInput
from jarvis.bench import report


@pytest.mark.timeout(1800)  # every section end to end: over the suite's 600 s when the shared machine is loaded
def test_the_quick_benchmark_measures_every_figure_and_reports_it(jarvis, settings, tmp_path) -> None:
    figures, curve = bench.run(jarvis, settings, quick=True, ns=[])
    names = [f.figure for f in figures]
    for expected in (
        "ingest, write-through to all stores, batches of 64",
        "single add p50 (returns at commit)",
        "single add p50 (wait=true",
        "search recall@10 vs exact",
        "queue: enqueue -> dequeue -> ack, 4 workers",
        "lock acquire/release pairs, 4 workers",
        "API cached memory read, 16 concurrent",
        "API search, 8 concurrent",
        "rebuild qdrant from postgres (no re-embedding)",
        "projection lag p99 (commit -> searchable everywhere)",
        "peer: ingest items/s",
        "API process RSS under search load",
        "hybrid search p50",
        # issue 15: the embedder per backend and the end-to-end figures, the backend named
        f"search p50, mode=vector, embedder {jarvis.embedder.backend}",
        "search p99, mode=vector",
        "embedder torch (fp32): one text p50",
        "embedder onnx (fp32): one text p50",
        "embedder onnx-int8 (int8): top-10 neighbours",
        "embedder onnx (fp32): cosine to torch, min",
        "embedder onnx (fp32): batches of 64 on the lanes",
        "jarvis serve RSS idle",
        f"conversation import, append_messages ({jarvis.embedder.backend})",
    ):
        assert any(name.startswith(expected) for name in names), expected
    measured = [f for f in figures if f.unit != "-"]
    assert all(math.isfinite(f.value) and f.value > 0 for f in measured)
    assert all(f.ratio is None or f.ratio > 0 for f in measured)
    rows = json.loads(report.as_json(figures))
    assert set(rows[0]) == {"figure", "n", "value", "unit", "reference", "ratio", "target", "met"}
    doc = report.write_docs(figures, curve, "test", directory=tmp_path)
    assert (
        "| search recall@10 vs exact |" in doc.read_text() and (tmp_path / "img" / "search_latency_vs_n.png").exists()
    )
    with jarvis.stores.postgres.pool.connection() as conn:  # the benchmark cleans up after itself
        assert conn.execute("SELECT count(*) FROM knowledge WHERE category LIKE 'bench-%%'").fetchone()[0] == 0


def test_only_the_sections_asked_for_are_measured(jarvis, settings) -> None:
    figures, _ = bench.run(jarvis, settings, quick=True, ns=[], only=["add"])
    assert figures and all(f.figure.startswith(("single add", "projection lag")) for f in figures)
    with pytest.raises(InvalidInput) as caught:
        bench.run(jarvis, settings, quick=True, ns=[], only=["add", "everything"])
    assert caught.value.field == "--only"


def test_the_cpu_accounting_names_every_store_and_leaves_nothing_behind(jarvis) -> None:
    from jarvis.bench.cpu import account

    phases = account(jarvis, 128)
    assert set(phases) == {"embedder alone", "ingest"}
    ingest = phases["ingest"]
    assert ingest["seconds"] > 0 and {"this process", "postgres", "chroma", "neo4j"} <= set(ingest["processes"])
    assert all(spent >= 0 for spent in ingest["processes"].values())
    assert any(name.startswith("jarvis-embed-lane") for name in phases["embedder alone"]["threads"])
    with jarvis.stores.postgres.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM knowledge WHERE category LIKE 'bench-%%'").fetchone()[0] == 0
