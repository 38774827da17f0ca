"""The HTTP phase of ``jarvis bench``: the API's cached reads and searches beside a bare
FastAPI endpoint and the in-process facade, under load from another process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from jarvis.bench.figures import Phases
from jarvis.bench.workload import questions


class ApiPhase(Phases):
    """The API over HTTP beside a bare endpoint and the facade called in-process."""

    def api(self, requests: int) -> None:
        from fastapi import FastAPI

        from jarvis import apikeys
        from jarvis.api.server import running_server
        from jarvis.facade import Jarvis

        agent = self.jarvis.register_agent(name=f"{self.category}-agent", type="letta")["id"]
        self.jarvis.put_memory(agent_id=agent, memory_type="core", key="persona", value="A helpful benchmark agent.")
        key, record = apikeys.create_key(self.jarvis.stores.postgres, name="bench", scopes=["read", "write"])
        bare = FastAPI()

        @bare.get("/constant")
        def constant() -> dict:  # a plain def, as the API's routes are: run in the same thread pool
            return {"value": 42}

        @bare.get("/constant-async")
        async def constant_async() -> dict:
            return {"value": 42}

        api_jarvis = Jarvis.from_settings(self.settings, embedder=self.jarvis.embedder, as_api=True)
        # The limiter still runs on every request; only its ceiling is out of the way of the load.
        unlimited = self.settings.model_copy(update={"api_rate_limit": 10**9})
        try:
            with running_server(unlimited, jarvis=api_jarvis, run_projector=False) as url:
                memory_path = f"/api/v1/memory/{agent}/core/persona"
                ours = closed_loop_load(url, memory_path, {"X-API-Key": key}, requests, concurrency=16)
                with _serve_plain(bare) as bare_url:
                    reference = closed_loop_load(bare_url, "/constant", {}, requests, concurrency=16)
                    event_loop_only = closed_loop_load(bare_url, "/constant-async", {}, requests, concurrency=16)
                self.add(
                    "API cached memory read, 16 concurrent (vs bare def endpoint)",
                    requests,
                    ours["rps"],
                    "req/s",
                    reference["rps"],
                    target=">= 0.5 x bare FastAPI; p99 <= 20 ms",
                    met=ours["rps"] / reference["rps"] >= 0.5 and ours["p99"] <= 20,
                )
                self.add(
                    "API cached memory read p99",
                    requests,
                    ours["p99"],
                    "ms",
                    reference["p99"],
                    target="<= 20 ms",
                    met=ours["p99"] <= 20,
                )
                self.add(
                    "API cached memory read vs bare async def endpoint",
                    requests,
                    ours["rps"],
                    "req/s",
                    event_loop_only["rps"],
                    target="report",
                    met=None,
                )
                asks = questions(requests // 4, seed=99)
                over_http = closed_loop_load(
                    url,
                    "/api/v1/search",
                    {"X-API-Key": key},
                    len(asks),
                    concurrency=8,
                    bodies=[{"query": q, "scopes": ["knowledge"]} for q in asks],
                )
                self.jarvis.embedder.clear_cache()
                asks = questions(requests // 4, seed=98)
                inproc = self._parallel_calls(lambda q: self.jarvis.search(query=q, scopes=["knowledge"]), asks, 8)
                self.add(
                    "API search, 8 concurrent",
                    len(asks),
                    over_http["rps"],
                    "req/s",
                    inproc,
                    target=">= 0.8 x in-process facade",
                    met=over_http["rps"] / inproc >= 0.8,
                )
                self.add("API search p99", len(asks), over_http["p99"], "ms", None, target="report", met=None)
                self.rss("API process RSS under search load (an upper bound: also holds the benchmark's data)")
        finally:
            api_jarvis.close()
            apikeys.revoke_key(self.jarvis.stores.postgres, record["prefix"])

    @staticmethod
    def _parallel_calls(fn: Callable[[str], Any], items: list[str], workers: int) -> float:
        from concurrent.futures import ThreadPoolExecutor

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(fn, items))
        return len(items) / (time.perf_counter() - started)


def closed_loop_load(
    base_url: str, path: str, headers: dict, requests: int, *, concurrency: int, bodies: list[dict] | None = None
) -> dict[str, float]:
    """Closed-loop load from *concurrency* connections, generated by another process
    (:mod:`jarvis.bench.load`); requests/s and p50/p99 latency (ms)."""
    import json
    import subprocess
    import sys

    spec = {
        "url": base_url,
        "path": path,
        "headers": headers,
        "requests": requests,
        "concurrency": concurrency,
        "bodies": bodies,
    }
    done = subprocess.run(
        [sys.executable, "-m", "jarvis.bench.load"], input=json.dumps(spec), text=True, capture_output=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


class _serve_plain:
    """A bare app under the same uvicorn settings as the API, for the reference figure."""

    def __init__(self, app) -> None:
        self.app = app

    def __enter__(self) -> str:
        import uvicorn

        from jarvis.api.server import free_port

        port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
