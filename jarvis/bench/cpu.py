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


def _store_processes() -> dict[str, list[psutil.Process]]:
    found: dict[str, list[psutil.Process]] = defaultdict(list)
    me = psutil.Process().pid
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        for store, marker in STORE_PROCESSES.items():
            if marker in command and process.pid != me:
                found[store].append(process)
    return found


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass  # a backend that exited
    return total


def _threads() -> dict[str, float]:
    """CPU-seconds per thread of this process, pooled threads grouped by name."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    seconds: dict[str, float] = defaultdict(float)
    for thread in psutil.Process().threads():
        name = names.get(thread.id, "native (torch/OpenMP, libraries)")
        seconds[name.rstrip("0123456789").rstrip("_")] += thread.user_time + thread.system_time
    return seconds


def _snapshot(stores: dict[str, list[psutil.Process]]) -> tuple[float, dict[str, float], dict[str, float]]:
    processes = {"this process": _cpu_seconds([psutil.Process()])}
    processes.update({store: _cpu_seconds(p) for store, p in stores.items()})
    return time.perf_counter(), processes, _threads()


def _phase(before, after) -> dict:
    return {"seconds": after[0] - before[0],
            "processes": {name: after[1][name] - before[1].get(name, 0.0) for name in after[1]},
            "threads": {name: used - before[2].get(name, 0.0) for name, used in after[2].items()
                        if used - before[2].get(name, 0.0) >= 0.01}}


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
        stores = _store_processes()  # after connecting: PostgreSQL's backends are processes
        before = _snapshot(stores)
        list(embedder.embed_batches(texts[i:i + 64] for i in range(0, n, 64)))
        alone = _snapshot(stores)
        embedder.clear_cache()
        jarvis.ingest_knowledge(items, batch_size=64, wait=False)
        jarvis.flush()
        ingested = _snapshot(stores)
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
