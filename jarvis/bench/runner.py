"""The figures of ``jarvis bench``: each one the platform's number beside the raw reference
measured in the same run on the same machine, and their ratio."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from jarvis.bench.workload import questions, sentences


@dataclass
class Figure:
    figure: str
    n: int | None
    value: float
    unit: str
    reference: float | None
    ratio: float | None
    target: str
    met: bool | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pct(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q)) if samples else float("nan")


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class Bench:
    """Runs against a facade (which holds the stores) and collects figures."""

    def __init__(self, jarvis, *, settings, progress: Callable[[str], None] = lambda m: None) -> None:
        self.jarvis, self.settings, self.say = jarvis, settings, progress
        self.figures: list[Figure] = []
        self.run = uuid.uuid4().hex[:8]
        self.category = f"bench-{self.run}"

    def add(self, figure: str, n: int | None, value: float, unit: str, reference: float | None, *,
            target: str, met: bool | None, ratio: float | None = None) -> None:
        if ratio is None and reference:
            ratio = value / reference
        self.figures.append(Figure(figure, n, round(value, 3), unit, None if reference is None else round(reference, 3),
                                   None if ratio is None else round(ratio, 3), target, met))
        self.say(f"{figure} (n={n}): {value:.3f} {unit}, reference {reference}, ratio {ratio}")

    # -- ingest and single adds ---------------------------------------------------------------
    def ingest(self, n: int) -> float:
        """Batches of 64 through the facade against the embedder alone; returns the ingest seconds."""
        texts = sentences(n, seed=hash(self.run) % 10_000)
        embedder = self.jarvis.embedder
        embedder.clear_cache()
        reference = timed(lambda: [embedder.embed_many(texts[i:i + 64]) for i in range(0, n, 64)])
        embedder.clear_cache()
        items = [{"topic": f"{self.category}-{i}", "content": t, "category": self.category} for i, t in enumerate(texts)]
        seconds = timed(lambda: [self.jarvis.add_knowledge_many(items[i:i + 64]) for i in range(0, n, 64)])
        self.add("ingest, write-through to all stores, batches of 64", n, n / seconds, "items/s", n / reference,
                 target=">= 0.85 x embedder", met=(reference / seconds) >= 0.85)
        return seconds

    def single_add(self, count: int) -> None:
        texts = sentences(2 * count, seed=hash(self.run) % 10_000 + 1)
        embedder = self.jarvis.embedder
        embedder.clear_cache()
        embed = [timed(lambda t=t: embedder.embed(t)) * 1000 for t in texts[:count]]
        adds, lags = [], []
        for t in texts[count:]:
            started = time.perf_counter()
            written = self.jarvis.add_knowledge(topic=f"{self.category}-single", content=t, category=self.category)
            adds.append((time.perf_counter() - started) * 1000)
            lags.append(written.projection_seconds * 1000)
        self.add("single add p50", count, pct(adds, 50), "ms", pct(embed, 50),
                 target="p50 <= 1.2 x one embedding", met=pct(adds, 50) <= 1.2 * pct(embed, 50))
        self.add("single add p99", count, pct(adds, 99), "ms", pct(embed, 99), target="report", met=None)
        self.add("projection lag p50 (commit -> searchable everywhere)", count, pct(lags, 50), "ms", None,
                 target="report", met=None)
        self.add("projection lag p99 (commit -> searchable everywhere)", count, pct(lags, 99), "ms", None,
                 target="p99 <= 250 ms", met=pct(lags, 99) <= 250)

    # -- search ---------------------------------------------------------------------------------
    def search(self, n: int, queries: int) -> dict[str, float]:
        jarvis, embedder = self.jarvis, self.jarvis.embedder
        asks = questions(2 * queries, seed=n)
        embedder.clear_cache()
        embed_ms = [timed(lambda q=q: embedder.embed(q)) * 1000 for q in asks[:queries]]
        chroma = jarvis.stores.get("chroma")
        vectors = [embedder.embed(q) for q in asks[queries:]]
        raw_ms = [timed(lambda v=v: chroma.query("knowledge_base", v.tolist(), limit=10)) * 1000 for v in vectors]
        embedder.clear_cache()
        platform_ms, found = [], []
        for q in asks[queries:]:
            started = time.perf_counter()
            result = jarvis.search(query=q, scopes=["knowledge"], limit=10)
            platform_ms.append((time.perf_counter() - started) * 1000)
            found.append([r["id"] for r in result["results"]])
        exact = self._exact_top10(vectors)
        recall = statistics.mean(len(set(f) & set(e)) / 10 for f, e in zip(found, exact))
        reference = pct(embed_ms, 50) + pct(raw_ms, 50)
        overhead = pct(platform_ms, 50) - reference
        self.add("search p50 (embed + Chroma top-10 + hydrate)", n, pct(platform_ms, 50), "ms", reference,
                 target="overhead <= 3 ms", met=overhead <= 3.0)
        self.add("search p99", n, pct(platform_ms, 99), "ms", None, target="report", met=None)
        self.add("search recall@10 vs exact", n, recall, "fraction", 1.0, target=">= 0.95", met=recall >= 0.95)
        return {"p50": pct(platform_ms, 50), "p99": pct(platform_ms, 99), "reference": reference}

    def _exact_top10(self, vectors: list[np.ndarray]) -> list[list[str]]:
        with self.jarvis.stores.postgres.pool.connection() as conn:
            rows = conn.execute("SELECT id::text, embedding FROM knowledge").fetchall()
        ids = [r[0] for r in rows]
        matrix = np.stack([np.asarray(r[1].to_list(), dtype=np.float32) for r in rows])
        tops = []
        for v in vectors:
            scores = matrix @ v
            tops.append([ids[i] for i in np.argsort(-scores)[:10]])
        return tops

    # -- queues and locks --------------------------------------------------------------------------
    def queues(self, tasks: int, workers: int = 4) -> None:
        redis = self.jarvis.stores.redis
        queue, raw = redis.queues, redis.conn
        key = f"bench:raw:{self.run}"

        def layer(worker: int) -> None:
            for i in range(tasks // workers):
                queue.enqueue(f"{self.run}-{worker}-{i}", 1)
                delivery = queue.dequeue(visibility_timeout=30)
                if delivery is not None:
                    queue.ack(delivery)

        def bare(worker: int) -> None:
            for i in range(tasks // workers):
                raw.lpush(key, f"{worker}-{i}")
                raw.rpop(key)

        ours, reference = (tasks / self._parallel(fn, workers) for fn in (layer, bare))
        self.add("queue: enqueue -> dequeue -> ack, 4 workers", tasks, ours, "tasks/s", reference,
                 target=">= 0.5 x raw LPUSH/RPOP", met=ours / reference >= 0.5)
        locks = redis.locks

        def lock_layer(worker: int) -> None:
            for i in range(tasks // workers):
                locks.acquire(f"bench-{self.run}-{worker}", "holder", ttl=30)
                locks.release(f"bench-{self.run}-{worker}", "holder")

        def lock_bare(worker: int) -> None:
            for i in range(tasks // workers):
                raw.set(f"bench:lock:{self.run}:{worker}", "holder", nx=True, px=30000)
                raw.delete(f"bench:lock:{self.run}:{worker}")

        ours, reference = (tasks / self._parallel(fn, workers) for fn in (lock_layer, lock_bare))
        self.add("lock acquire/release pairs, 4 workers", tasks, ours, "pairs/s", reference,
                 target=">= 0.5 x raw SET NX PX", met=ours / reference >= 0.5)

    @staticmethod
    def _parallel(fn: Callable[[int], None], workers: int) -> float:
        threads = [threading.Thread(target=fn, args=(w,)) for w in range(workers)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started

    # -- rebuild ---------------------------------------------------------------------------------
    def rebuild(self, n: int, ingest_seconds: float) -> None:
        from jarvis.jobs.projections import rebuild

        for store in ("neo4j", "chroma", "qdrant"):
            seconds = timed(lambda s=store: rebuild(self.jarvis.stores, s))
            self.add(f"rebuild {store} from postgres (no re-embedding)", n, seconds, "s", ingest_seconds,
                     target="<= 0.25 x original ingest", met=seconds <= 0.25 * ingest_seconds)

    # -- API ------------------------------------------------------------------------------------
    def api(self, requests: int) -> None:
        from fastapi import FastAPI

        from jarvis import apikeys
        from jarvis.api.server import running_server
        from jarvis.facade import Jarvis

        agent = self.jarvis.register_agent(name=f"{self.category}-agent", type="letta")["id"]
        self.jarvis.put_memory(agent_id=agent, memory_type="core", key="persona", value="A helpful benchmark agent.")
        key, record = apikeys.create_key(self.jarvis.stores.postgres, name="bench", scopes=["read", "write"])
        bare = FastAPI()
        bare.get("/constant")(lambda: {"value": 42})
        api_jarvis = Jarvis.from_settings(self.settings, embedder=self.jarvis.embedder, as_api=True)
        # The limiter still runs on every request; only its ceiling is out of the way of the load.
        unlimited = self.settings.model_copy(update={"api_rate_limit": 10**9})
        try:
            with running_server(unlimited, jarvis=api_jarvis, run_projector=False) as url:
                memory_path = f"/api/v1/memory/{agent}/core/persona"
                ours = _load(url, memory_path, {"X-API-Key": key}, requests, concurrency=16)
                with _serve_plain(bare) as bare_url:
                    reference = _load(bare_url, "/constant", {}, requests, concurrency=16)
                self.add("API cached memory read, 16 concurrent", requests, ours["rps"], "req/s", reference["rps"],
                         target=">= 0.5 x bare FastAPI; p99 <= 20 ms",
                         met=ours["rps"] / reference["rps"] >= 0.5 and ours["p99"] <= 20)
                self.add("API cached memory read p99", requests, ours["p99"], "ms", reference["p99"], target="<= 20 ms",
                         met=ours["p99"] <= 20)
                asks = questions(requests // 4, seed=99)
                over_http = _load(url, "/api/v1/search", {"X-API-Key": key}, len(asks), concurrency=8,
                                  bodies=[{"query": q, "scopes": ["knowledge"]} for q in asks])
                self.jarvis.embedder.clear_cache()
                asks = questions(requests // 4, seed=98)
                inproc = self._parallel_calls(lambda q: self.jarvis.search(query=q, scopes=["knowledge"]), asks, 8)
                self.add("API search, 8 concurrent", len(asks), over_http["rps"], "req/s", inproc,
                         target=">= 0.8 x in-process facade", met=over_http["rps"] / inproc >= 0.8)
                self.add("API search p99", len(asks), over_http["p99"], "ms", None, target="report", met=None)
                self._rss("API process RSS under search load (this process)")
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

    def _rss(self, label: str) -> None:
        import psutil

        self.add(label, None, psutil.Process().memory_info().rss / 2**20, "MiB", None, target="report", met=None)

    def cleanup(self) -> int:
        """Remove the benchmark's rows, through the outbox, so every projection follows."""
        from jarvis.outbox import Event, record

        with self.jarvis.stores.postgres.pool.connection() as conn:
            with conn.transaction():
                ids = [r[0] for r in conn.execute("DELETE FROM knowledge WHERE category = %s RETURNING id::text",
                                                  (self.category,))]
                event_ids = record(conn, [Event("knowledge", i, "delete") for i in ids])
        for i in range(0, len(event_ids), 1000):
            self.jarvis.projector.apply(event_ids[i:i + 1000])
        return len(ids)


def _load(base_url: str, path: str, headers: dict, requests: int, *, concurrency: int,
          bodies: list[dict] | None = None) -> dict[str, float]:
    """Closed-loop load from *concurrency* connections; requests/s and p99 latency (ms)."""
    import httpx

    latencies: list[float] = []

    async def worker(client: httpx.AsyncClient, jobs: asyncio.Queue) -> None:
        while True:
            try:
                body = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            response = await (client.post(path, json=body) if body is not None else client.get(path))
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()

    async def main() -> float:
        jobs: asyncio.Queue = asyncio.Queue()
        for i in range(requests):
            jobs.put_nowait(bodies[i] if bodies else None)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:
            await client.get("/health" if path != "/constant" else path)
            started = time.perf_counter()
            await asyncio.gather(*(worker(client, jobs) for _ in range(concurrency)))
            return time.perf_counter() - started

    seconds = asyncio.run(main())
    return {"rps": requests / seconds, "p99": pct(latencies, 99)}


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
