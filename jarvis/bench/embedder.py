"""The embedder per backend, every figure a ratio to torch fp32 measured in the same run.

For each backend (torch, ONNX fp32, ONNX int8): one text's p50/p99 (every core, as a query
or a single add uses it), batch throughput on the lanes (as ingest uses them), and how close
its vectors are to torch's (cosine mean/min, top-10 neighbour agreement on a fixed corpus
and questions). Rounds interleave the backends in a shuffled order, so all three see the
same machine. Also: ``jarvis serve``'s idle size in a process of its own.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from typing import Any

import numpy as np

from jarvis.bench.workload import questions, sentences
from jarvis.embedder_quality import compare, workload
from jarvis.embeddings import Embedder
from jarvis.paths import PROJECT_ROOT

BACKENDS = ("torch", "onnx", "onnx-int8")


def _backends(settings) -> dict[str, Embedder]:
    out = {}
    for name in BACKENDS:
        embedder = Embedder(backend=name, cache_dir=settings.cache_dir)
        out[name] = embedder
    return out


def compare_backends(bench, *, singles: int, batch_texts: int, rounds: int = 3) -> dict[str, dict[str, float]]:
    """Add the per-backend figures to *bench*; returns ``{backend: {"single_p50", "batch"}}``."""
    embedders = _backends(bench.settings)
    asks = questions(singles, seed=5)
    texts = sentences(batch_texts, seed=6)
    single: dict[str, list[float]] = {name: [] for name in embedders}
    batch: dict[str, list[float]] = {name: [] for name in embedders}
    for embedder in embedders.values():  # lanes made and every session warmed before the clock
        list(embedder.embed_batches([texts[:64]]))
        embedder.embed(asks[0])
    order = random.Random(bench.run)
    for _ in range(rounds):
        names = list(embedders)
        order.shuffle(names)
        for name in names:
            embedder = embedders[name]
            for q in asks:
                embedder.clear_cache()
                started = time.perf_counter()
                embedder.embed(q)
                single[name].append((time.perf_counter() - started) * 1000)
            embedder.clear_cache()
            started = time.perf_counter()
            list(embedder.embed_batches(texts[i : i + 64] for i in range(0, len(texts), 64)))
            batch[name].append(len(texts) / (time.perf_counter() - started))
            embedder.clear_cache()
    corpus, queries = workload()
    reference = {"corpus": embedders["torch"].embed_many(corpus), "queries": embedders["torch"].embed_many(queries)}
    summary: dict[str, dict[str, float]] = {}
    torch_p50 = float(np.percentile(single["torch"], 50))
    torch_batch = float(np.median(batch["torch"]))
    for name, embedder in embedders.items():
        p50, p99 = float(np.percentile(single[name], 50)), float(np.percentile(single[name], 99))
        rate = float(np.median(batch[name]))
        label = f"{name} ({embedder.family})"
        bench.add(
            f"embedder {label}: one text p50 (vs torch)",
            len(single[name]),
            p50,
            "ms",
            torch_p50,
            target="onnx: <= 0.33 x torch" if name == "onnx" else "report",
            met=(p50 <= 0.33 * torch_p50) if name == "onnx" else None,
        )
        bench.add(
            f"embedder {label}: one text p99 (vs torch)",
            len(single[name]),
            p99,
            "ms",
            float(np.percentile(single["torch"], 99)),
            target="report",
            met=None,
        )
        bench.add(
            f"embedder {label}: batches of 64 on the lanes (vs torch)",
            len(texts),
            rate,
            "texts/s",
            torch_batch,
            target="report",
            met=None,
        )
        quality = compare(
            reference["corpus"],
            embedder.embed_many(corpus),
            reference_queries=reference["queries"],
            candidate_queries=embedder.embed_many(queries),
        )
        bench.add(
            f"embedder {label}: cosine to torch, mean",
            len(corpus) + len(queries),
            quality["cosine_mean"],
            "cosine",
            1.0,
            target=">= 0.9999" if embedder.family == "fp32" else "report",
            met=quality["cosine_min"] >= 0.9999 if embedder.family == "fp32" else None,
        )
        bench.add(
            f"embedder {label}: cosine to torch, min",
            len(corpus) + len(queries),
            quality["cosine_min"],
            "cosine",
            1.0,
            target="report",
            met=None,
        )
        bench.add(
            f"embedder {label}: top-10 neighbours as torch's",
            len(queries),
            quality["top10_agreement"],
            "fraction",
            1.0,
            target="report",
            met=None,
        )
        summary[name] = {"single_p50": p50, "batch": rate}
    faster = max(("torch", "onnx"), key=lambda name: summary[name]["batch"])
    bench.say(
        f"faster for batches in this run: {faster}; the serving embedder's batches: "
        f"{bench.jarvis.embedder.batch_backend}"
    )
    return summary


def serve_rss(settings) -> dict[str, Any]:
    """``jarvis serve``'s resident size once it serves, model loaded, in a process of its own."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        "JARVIS_EMBEDDER": settings.embedder,
    }
    done = subprocess.run(
        [sys.executable, "-m", "jarvis.bench.serve_rss"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the serve-size probe failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def conversation_import(bench, n: int) -> None:
    """*n* turns through ``append_messages`` (returning at commit, then every projection
    flushed) against the serving embedder alone on the same texts (its lanes); the turns are
    removed afterwards through the outbox."""
    from jarvis.outbox import Event, record

    jarvis = bench.jarvis
    texts = [
        f"{'Ada' if i % 2 == 0 else 'Assistant'}: {text}"
        for i, text in enumerate(sentences(n, seed=hash(bench.run) % 10_000 + 3))
    ]
    embedder = jarvis.embedder
    embedder.clear_cache()
    started = time.perf_counter()
    list(embedder.embed_batches(texts[i : i + 64] for i in range(0, n, 64)))
    reference = time.perf_counter() - started
    embedder.clear_cache()
    session = f"{bench.category}-import"
    turns = [
        {
            "session_id": session,
            "user_id": f"{bench.category}-user",
            "role": "user" if i % 2 == 0 else "assistant",
            "content": text,
        }
        for i, text in enumerate(texts)
    ]
    started = time.perf_counter()
    for i in range(0, n, 1000):  # the REST endpoint's batch size
        jarvis.append_messages(turns[i : i + 1000], wait=False)
    jarvis.flush()
    seconds = time.perf_counter() - started
    bench.add(
        f"conversation import, append_messages ({embedder.backend})",
        n,
        n / seconds,
        "turns/s",
        n / reference,
        target=">= 0.85 x embedder",
        met=reference / seconds >= 0.85,
    )
    with jarvis.stores.postgres.pool.connection() as conn:
        with conn.transaction():
            ids = [
                r[0]
                for r in conn.execute("DELETE FROM conversations WHERE session_id = %s RETURNING id::text", (session,))
            ]
            event_ids = record(conn, [Event("conversation", i, "delete") for i in ids])
    for i in range(0, len(event_ids), 1000):
        jarvis.projector.apply(event_ids[i : i + 1000])


def locomo_recall(bench) -> None:
    """Evidence recall@10 on LoCoMo per backend (exact cosine), int8 judged against fp32:
    int8 may only ever be the default if it is within 0.01 (skipped without the data set)."""
    from jarvis.bench.locomo import DATASET, conversations, evidence_recall

    if not DATASET.is_dir():
        bench.say(f"LoCoMo evidence recall skipped: no data set at {DATASET}")
        return
    data = conversations()
    recall = {
        name: evidence_recall(Embedder(backend=name, cache_dir=bench.settings.cache_dir), data)
        for name in ("onnx", "onnx-int8")
    }
    for name, figures in recall.items():
        gap = recall["onnx"]["R@10"] - figures["R@10"]
        bench.add(
            f"LoCoMo-dev evidence recall@10, {name} (vs onnx fp32)",
            int(figures["questions"]),
            figures["R@10"],
            "fraction",
            recall["onnx"]["R@10"],
            target="int8: within 0.01 of fp32" if name == "onnx-int8" else "report",
            met=(gap <= 0.01) if name == "onnx-int8" else None,
        )
