"""Where an ingest's CPU goes: ``python -m jarvis.bench.cpu [N]`` (default 2,000) on the local
stack, with nothing else running.

Embeds N generated paragraphs alone, then ingests them through the facade, and prints the
CPU-seconds each store's processes and each of our threads spent in both phases. On a
machine where the embedder alone keeps every core busy, the ingest's ratio to the embedder
is bounded by embedder CPU / (embedder CPU + everything else), whatever the overlap; this
is how that bound was measured (see docs/benchmark-notes.md). A thread that has ended (the
ingest's writer) is not listed; its CPU is still in the process total. The items are deleted after.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict

import psutil

from jarvis.bench.workload import sentences

STORE_PROCESSES = {"postgres": "postgres", "chroma": "chroma", "neo4j": "neo4j", "redis": "valkey"}


def _store_cpu() -> dict[tuple[str, int], float]:
    """CPU-seconds so far of every store process, by (store, pid): looked up afresh each time,
    because PostgreSQL starts a backend process per new pooled connection."""
    found: dict[tuple[str, int], float] = {}
    me = psutil.Process().pid
    for process in psutil.process_iter(["cmdline", "cpu_times"]):
        command = " ".join(process.info["cmdline"] or [])
        times = process.info["cpu_times"]
        for store, marker in STORE_PROCESSES.items():
            if marker in command and process.pid != me and times is not None:
                found[(store, process.pid)] = times.user + times.system
    return found


def _threads() -> dict[str, float]:
    """CPU-seconds per thread of this process, pooled threads grouped by name."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    seconds: dict[str, float] = defaultdict(float)
    for thread in psutil.Process().threads():
        name = names.get(thread.id, "native (torch/OpenMP, libraries)")
        seconds[name.rstrip("0123456789").rstrip("_")] += thread.user_time + thread.system_time
    return seconds


def _snapshot() -> tuple[float, dict[tuple[str, int], float], dict[str, float]]:
    me = psutil.Process().cpu_times()
    return time.perf_counter(), {**_store_cpu(), ("this process", 0): me.user + me.system}, _threads()


def _phase(before, after) -> dict:
    processes: dict[str, float] = defaultdict(float)
    for (name, pid), used in after[1].items():
        processes[name] += used - before[1].get((name, pid), 0.0)  # a process new since then: all of it
    return {
        "seconds": after[0] - before[0],
        "processes": dict(processes),
        "threads": {
            name: used - before[2].get(name, 0.0)
            for name, used in after[2].items()
            if used - before[2].get(name, 0.0) >= 0.01
        },
    }


def account(jarvis, n: int) -> dict[str, dict]:
    """``{"embedder alone": phase, "ingest": phase}``, each phase ``{"seconds", "processes",
    "threads"}`` in CPU-seconds; the ingested items are deleted before returning."""
    from jarvis.bench.runner import Bench

    bench = Bench(jarvis, settings=jarvis.settings)
    texts = sentences(n, seed=hash(bench.run) % 10_000)
    items = [{"topic": f"{bench.category}-{i}", "content": t, "category": bench.category} for i, t in enumerate(texts)]
    embedder = jarvis.embedder
    list(embedder.embed_batches([texts[:64]]))  # the lanes exist before the clock starts
    embedder.clear_cache()
    try:
        before = _snapshot()
        list(embedder.embed_batches(texts[i : i + 64] for i in range(0, n, 64)))
        alone = _snapshot()
        embedder.clear_cache()
        jarvis.ingest_knowledge(items, batch_size=64, wait=False)
        jarvis.flush()
        ingested = _snapshot()
    finally:
        bench.cleanup()
    return {"embedder alone": _phase(before, alone), "ingest": _phase(alone, ingested)}


def main(n: int) -> None:
    from jarvis.config import Settings
    from jarvis.facade import Jarvis

    with Jarvis.from_settings(Settings.from_env()) as jarvis:
        phases = account(jarvis, n)
    for label, phase in phases.items():
        print(f"{label}: {phase['seconds']:.2f} s, {n / phase['seconds']:.1f} items/s")
        for name, spent in phase["processes"].items():
            print(f"  {name:<12} {spent:6.2f} CPU-s")
        for name, spent in sorted(phase["threads"].items()):
            print(f"  thread {name:<36} {spent:6.2f} CPU-s")
    print(f"ratio {phases['embedder alone']['seconds'] / phases['ingest']['seconds']:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
