"""The search phase of ``jarvis bench``: vector and hybrid search beside the embedder and the
raw Chroma query, and recall against exact nearest neighbours."""

from __future__ import annotations

import statistics
import time

import numpy as np

from jarvis.bench.figures import Phases, pct, timed
from jarvis.bench.workload import questions
from jarvis.stores.base import StoreName


class SearchPhase(Phases):
    """Search through the facade beside its parts measured alone, and its recall."""

    def search(self, n: int, queries: int) -> dict[str, float]:
        """Per query, in a shuffled order (as :meth:`single_add`): its embedding alone, the raw
        Chroma top-10 with its vector, the platform's whole vector search, and its hybrid
        search (the same, with PostgreSQL's BM25 ranking computed meanwhile and fused)."""
        import random

        jarvis, embedder = self.jarvis, self.jarvis.embedder
        asks = questions(queries, seed=n)
        order = random.Random(n)
        # the raw reference: chromadb's own client and collection handle, no adapter in between
        collection = jarvis.stores.get(StoreName.CHROMA).api.get_collection("knowledge_base", embedding_function=None)
        vectors = [embedder.embed(q) for q in asks]
        embed_ms, raw_ms, platform_ms, hybrid_ms, found = [], [], [], [], []
        for q, v in zip(asks, vectors):
            steps = ["embed", "raw", "ours", "hybrid"]
            order.shuffle(steps)
            for step in steps:
                embedder.clear_cache()
                if step == "embed":
                    embed_ms.append(timed(lambda: embedder.embed(q)) * 1000)
                elif step == "raw":
                    raw_ms.append(
                        timed(
                            lambda: collection.query(query_embeddings=[v.tolist()], n_results=10, include=["distances"])
                        )
                        * 1000
                    )
                elif step == "hybrid":
                    hybrid_ms.append(timed(lambda: jarvis.search(query=q, scopes=["knowledge"], limit=10)) * 1000)
                else:
                    started = time.perf_counter()
                    result = jarvis.search(query=q, scopes=["knowledge"], limit=10, mode="vector")
                    platform_ms.append((time.perf_counter() - started) * 1000)
                    found.append([r["id"] for r in result["results"]])
        exact = self._exact_top10(vectors)
        recall = statistics.mean(len(set(f) & set(e)) / 10 for f, e in zip(found, exact))
        reference = pct(embed_ms, 50) + pct(raw_ms, 50)
        overhead = pct(platform_ms, 50) - reference
        label = f"mode=vector, embedder {embedder.backend}"
        self.add(
            f"search p50, {label} (embed + Chroma top-10 + hydrate)",
            n,
            pct(platform_ms, 50),
            "ms",
            reference,
            target="<= 6 ms; overhead over embed + raw Chroma <= 3 ms",
            met=overhead <= 3.0 and pct(platform_ms, 50) <= 6.0,
        )
        self.add(f"search p99, {label}", n, pct(platform_ms, 99), "ms", None, target="report", met=None)
        self.add(
            "hybrid search p50 (BM25 + vector, fused), ref vector p50",
            n,
            pct(hybrid_ms, 50),
            "ms",
            pct(platform_ms, 50),
            target="<= vector-only p50 + 3 ms",
            met=pct(hybrid_ms, 50) <= pct(platform_ms, 50) + 3.0,
        )
        self.add(
            "hybrid search p95, ref vector-only p95",
            n,
            pct(hybrid_ms, 95),
            "ms",
            pct(platform_ms, 95),
            target="report",
            met=None,
        )
        self.add("search recall@10 vs exact", n, recall, "fraction", 1.0, target=">= 0.95", met=recall >= 0.95)
        return {"p50": pct(platform_ms, 50), "p99": pct(platform_ms, 99), "reference": reference}

    def _exact_top10(self, vectors: list[np.ndarray]) -> list[list[str]]:
        with self.jarvis.stores.postgres.pool.connection() as conn, conn.cursor(binary=True) as cur:
            rows = cur.execute("SELECT id::text, embedding FROM knowledge").fetchall()
        ids = [r[0] for r in rows]
        matrix = np.stack([np.asarray(r[1].to_numpy(), dtype=np.float32) for r in rows])  # pgvector Vector
        tops = []
        for v in vectors:
            scores = matrix @ v
            tops.append([ids[i] for i in np.argsort(-scores)[:10]])
        return tops
