#!/usr/bin/env python
# Run: PYTHONPATH=. ~/.cache/jarvis/venv/bin/python scripts/bench_response_models.py  (no store needed)
"""Cost of declaring response models: one route answering a 100-hit search body and one answering
a memory row, with and without response_model, in one process (ratios, the machine is loaded)."""

import time, uuid, statistics
from datetime import datetime, timezone
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jarvis.shapes import SearchResults, Memory

now = datetime.now(timezone.utc).isoformat()


def item():
    return {
        "id": str(uuid.uuid4()),
        "topic": "t",
        "content": "x" * 200,
        "source": None,
        "category": None,
        "confidence": 1.0,
        "agent_id": None,
        "created_at": now,
        "updated_at": now,
        "valid_from": now,
        "valid_to": None,
        "supersedes": None,
    }


SEARCH = {
    "query": "q",
    "mode": "hybrid",
    "degraded": [],
    "results": [
        {
            "scope": "knowledge",
            "id": str(uuid.uuid4()),
            "score": 0.5,
            "vector_score": 0.4,
            "keyword_score": 1.2,
            "item": item(),
        }
        for _ in range(100)
    ],
}
MEMORY = {
    "id": str(uuid.uuid4()),
    "agent_id": str(uuid.uuid4()),
    "memory_type": "core",
    "key": "k",
    "value": "v" * 100,
    "importance": 0.5,
    "access_count": 3,
    "created_at": now,
    "updated_at": now,
    "last_accessed": now,
    "expires_at": None,
}
app = FastAPI()


@app.get("/search/untyped")
def s1() -> dict:
    return SEARCH


@app.get("/search/typed", response_model=SearchResults)
def s2():
    return SEARCH


@app.get("/memory/untyped")
def m1() -> dict:
    return MEMORY


@app.get("/memory/typed", response_model=Memory)
def m2():
    return MEMORY


c = TestClient(app)


def run(path, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = c.get(path)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200
    return statistics.median(times) * 1000


for rnd in range(3):
    for kind, n in (("search", 200), ("memory", 1000)):
        u, t = run(f"/{kind}/untyped", n), run(f"/{kind}/typed", n)
        print(f"round {rnd} {kind}: untyped p50 {u:.3f} ms, typed p50 {t:.3f} ms, typed/untyped {t / u:.2f}")
