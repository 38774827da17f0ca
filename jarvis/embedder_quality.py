"""How close one backend's vectors are to another's: cosine and top-10 neighbour agreement.

Used where a backend is made (the export measures int8 against torch) and by ``jarvis
bench``; numpy only, so the serving process can import it.
"""

from __future__ import annotations

import numpy as np


def workload(*, corpus_size: int = 500, queries: int = 100) -> tuple[list[str], list[str]]:
    """A fixed corpus and questions about it (the benchmark's generated English)."""
    from jarvis.bench.workload import questions, sentences

    return sentences(corpus_size), questions(queries)


def compare(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    reference_queries: np.ndarray,
    candidate_queries: np.ndarray,
    k: int = 10,
) -> dict[str, float]:
    """Row-wise cosine of *candidate* to *reference* (mean, min), and the share of each query's
    top-*k* corpus neighbours that both agree on (1.0: the same results)."""
    cosines = np.sum(reference * candidate, axis=1)
    query_cosines = np.sum(reference_queries * candidate_queries, axis=1)
    everything = np.concatenate([cosines, query_cosines])
    agreement = []
    for want, got in zip(_top(reference_queries, reference, k), _top(candidate_queries, candidate, k)):
        agreement.append(len(set(want) & set(got)) / k)
    return {
        "cosine_mean": float(everything.mean()),
        "cosine_min": float(everything.min()),
        "top10_agreement": float(np.mean(agreement)),
    }


def _top(queries: np.ndarray, corpus: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ corpus.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]
