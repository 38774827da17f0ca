"""The Mem0 OSS peer, run in its own virtualenv (``mem0ai`` pins libraries the platform's
own stack does not share): ``<venv-mem0>/bin/python -m jarvis.bench.mem0_peer``.

Reads ``{"n", "queries", "seed", "query_seed", "model_path", "path"}`` on stdin and prints
``{"ingest_items_per_s", "add_p50_ms", "search_p50_ms", "search_p99_ms", "version"}``.
Mem0 is configured as the issue asks: ``infer=False`` (no LLM call), its Qdrant on disk, the
same MiniLM model from the local package, telemetry off. Its ``add`` takes one text at a
time (it has no batch add), so its ingest is one ``add`` per item.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("MEM0_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENAI_API_KEY", "unused-infer-is-false")  # Mem0 builds its LLM client even when unused

import numpy as np  # noqa: E402


def main() -> None:
    spec = json.load(sys.stdin)
    from importlib.metadata import version

    from mem0 import Memory

    from jarvis.bench.workload import questions, sentences

    memory = Memory.from_config(
        {
            "embedder": {"provider": "huggingface", "config": {"model": spec["model_path"], "embedding_dims": 384}},
            "vector_store": {
                "provider": "qdrant",
                "config": {
                    "collection_name": "bench",
                    "path": spec["path"],
                    "embedding_model_dims": 384,
                    "on_disk": True,
                },
            },
            "history_db_path": os.path.join(spec["path"], "history.db"),
        }
    )
    texts = sentences(spec["n"], seed=spec["seed"])
    memory.add(texts[0], user_id="bench", infer=False)  # load the model before the clock starts
    adds = []
    started = time.perf_counter()
    for text in texts[1:]:
        t0 = time.perf_counter()
        memory.add(text, user_id="bench", infer=False)
        adds.append((time.perf_counter() - t0) * 1000)
    ingest = (len(texts) - 1) / (time.perf_counter() - started)
    searches = []
    for query in questions(spec["queries"], seed=spec["query_seed"]):
        t0 = time.perf_counter()
        memory.search(query, filters={"user_id": "bench"}, top_k=10)
        searches.append((time.perf_counter() - t0) * 1000)
    print(
        json.dumps(
            {
                "ingest_items_per_s": ingest,
                "add_p50_ms": float(np.percentile(adds, 50)),
                "search_p50_ms": float(np.percentile(searches, 50)),
                "search_p99_ms": float(np.percentile(searches, 99)),
                "version": version("mem0ai"),
            }
        )
    )


if __name__ == "__main__":
    main()
