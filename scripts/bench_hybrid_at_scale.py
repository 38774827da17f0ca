"""Hybrid against vector-only search at N knowledge items, the figures of ``jarvis bench``'s
search rows (:meth:`jarvis.bench.runner.Bench.search`, the same code), on a corpus filled in
minutes rather than hours, for a loaded machine where embedding 100,000 paragraphs is out of
reach.

The texts are the benchmark's own (:func:`jarvis.bench.workload.sentences`, same generator).
Their vectors are not the model's embedding of each paragraph: each is the normalised sum of
the model's embeddings of the paragraph's six phrases (96 phrases embedded in all), so the
corpus is clustered as the real one is. The queries are embedded by the model as in the
benchmark. Rows are written with one COPY (the keyword statistics' trigger runs once), the
table analysed, and projected to Chroma through the projector's own writer. Removed at the end.

    PYTHONPATH=. ~/.cache/jarvis/venv/bin/python scripts/bench_hybrid_at_scale.py 10000,100000 [queries]
"""

from __future__ import annotations

import random
import sys
import time

import numpy as np

from jarvis.bench import report, workload
from jarvis.bench.runner import Bench
from jarvis.config import Settings
from jarvis.facade import Jarvis
from jarvis.projection.entities import ENTITIES
from jarvis.projection.maintenance import _stream
from jarvis.projection.writers import write_rows
from jarvis.stores.base import StoreName

PARTS = (workload.SUBJECTS, workload.VERBS, workload.OBJECTS, workload.REASONS, workload.ACTIONS, workload.LESSONS)


def paragraphs(n: int, *, seed: int) -> list[tuple[str, tuple[int, ...]]]:
    """:func:`workload.sentences`, with the index of each paragraph's phrase in each list."""
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        picks = tuple(rng.randrange(len(p)) for p in PARTS)  # rng.choice draws the same way
        s, v, o, r, a, lesson = (p[i] for p, i in zip(PARTS, picks))
        text = f"{s} {v} {o} {r}. {a}. {lesson}"
        if text not in seen:
            seen.add(text)
            out.append((text, picks))
    return out


def fill(
    jarvis: Jarvis, items: list[tuple[str, tuple[int, ...]]], phrases: list[np.ndarray], category: str, start: int
) -> None:
    with jarvis.stores.postgres.pool.connection() as conn, conn.cursor() as cur:
        with cur.copy("COPY knowledge (topic, content, category, embedding) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["varchar", "text", "varchar", "vector"])
            for i, (text, picks) in enumerate(items, start):
                vector = sum(phrases[k][j] for k, j in enumerate(picks))
                copy.write_row(
                    (f"{category}-{i}", text, category, (vector / np.linalg.norm(vector)).astype(np.float32))
                )
    with jarvis.stores.postgres.pool.connection() as conn:  # as autovacuum would have after a slower ingest
        conn.execute("ANALYZE knowledge")
    spec = ENTITIES["knowledge"]
    for rows in _stream(jarvis.stores, spec.select_all):
        fresh = [r for r in rows if r["category"] == category and int(r["topic"].rsplit("-", 1)[1]) >= start]
        if fresh:
            write_rows(jarvis.stores, StoreName.CHROMA, spec, fresh, None)


def main() -> None:
    ns = sorted(int(n) for n in sys.argv[1].split(","))
    queries = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    settings = Settings.from_env()
    with Jarvis.from_settings(settings) as jarvis:
        bench = Bench(jarvis, settings=settings, progress=lambda m: print(m, file=sys.stderr, flush=True))
        phrases = [next(iter(jarvis.embedder.embed_batches([list(p)]))) for p in PARTS]
        items = paragraphs(ns[-1], seed=hash(bench.run) % 10_000)
        try:
            done = 0
            for n in ns:
                started = time.perf_counter()
                fill(jarvis, items[done:n], phrases, bench.category, done)
                print(f"filled to {n} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
                done = n
                bench.search(n, queries)
        finally:
            with jarvis.stores.postgres.pool.connection() as conn:
                conn.execute("DELETE FROM knowledge WHERE category = %s", (bench.category,))
            jarvis.stores.get("chroma").reset(ENTITIES["knowledge"].chroma)
    print(report.as_json(bench.figures))


if __name__ == "__main__":
    main()
