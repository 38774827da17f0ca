"""A closed-loop HTTP load generator, run as its own process (``python -m jarvis.bench.load``)
so that it does not share an interpreter, or its GIL, with the server it measures.

Reads one JSON object on stdin — ``{"url", "path", "headers", "requests", "concurrency",
"bodies"}`` — and prints ``{"rps", "p50", "p99"}`` (latencies in ms).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp
import numpy as np


async def _run(
    url: str, path: str, headers: dict, requests: int, concurrency: int, bodies: list[dict] | None
) -> dict[str, float]:
    latencies: list[float] = []
    jobs: asyncio.Queue = asyncio.Queue()
    for i in range(requests):
        jobs.put_nowait(bodies[i % len(bodies)] if bodies else None)

    async def call(session: aiohttp.ClientSession, body: dict | None) -> None:
        request = session.post(url + path, json=body) if body is not None else session.get(url + path)
        async with request as response:
            await response.read()
            response.raise_for_status()

    async def worker(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                body = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            await call(session, body)
            latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        # open every connection and warm the path before the clock starts
        await asyncio.gather(*(call(session, bodies[0] if bodies else None) for _ in range(concurrency)))
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    samples = np.asarray(latencies)
    return {
        "rps": requests / seconds,
        "p50": float(np.percentile(samples, 50)),
        "p99": float(np.percentile(samples, 99)),
    }


def main() -> None:
    spec = json.load(sys.stdin)
    result = asyncio.run(
        _run(
            spec["url"],
            spec["path"],
            spec.get("headers") or {},
            spec["requests"],
            spec["concurrency"],
            spec.get("bodies"),
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
