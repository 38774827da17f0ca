"""Per-process throughput, for the sizing arithmetic of ``docs/scaling.md``.

Run against a running stack (every ``JARVIS_*`` store variable pointing at it)::

    python -m jarvis.bench.throughput [--writes 400] [--searches 200] [--events 3000] [--json]

It measures, in one run, with references taken in the same run (the machine may be loaded):

- **API writes/s per worker**: ``POST /api/v1/conversations/messages`` (embed + one transaction +
  write-through to Chroma) through one uvicorn worker, 8 concurrent connections from another
  process; reference: the embedder alone, one text at a time, in this process.
- **API searches/s per worker**: ``POST /api/v1/search`` (conversations scope), same set-up.
- **Outbox drain rate** with 1 and then 2 projector processes (``Projector.drain``, claims
  ``FOR UPDATE SKIP LOCKED``), each round over its own backlog of distinct rows made in SQL
  (copies of the written messages with their vectors -> Chroma; bare agents -> Neo4j): events/s
  from a common start signal (the processes have imported and connected) until the last one
  finds nothing pending.

The rows it writes carry a run-specific session/agent name; ``--keep`` leaves them, otherwise
they are erased at the end (``forget_user``, ``delete_agent``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from typing import Any

SEED_EVENTS = """
INSERT INTO outbox (entity, entity_id, operation, pending_stores, next_attempt_at)
SELECT %(entity)s, key, 'upsert', %(stores)s, CURRENT_TIMESTAMP FROM unnest(%(keys)s::text[]) AS key
"""
PENDING = "SELECT count(*) FROM outbox WHERE cardinality(pending_stores) > 0"

TOPICS = ("invoice", "travel", "deployment", "birthday", "refund", "database", "garden", "contract")


def _texts(n: int, run: str) -> list[str]:
    return [
        f"{run}: message {i} about the {TOPICS[i % len(TOPICS)]} and what to do next ({i * 7919 % 1000})"
        for i in range(n)
    ]


def measure(*, writes: int, searches: int, events: int, keep: bool = False) -> dict[str, Any]:
    from jarvis.config import Settings
    from jarvis.facade import Jarvis

    settings = Settings.from_env()
    run = f"tp{uuid.uuid4().hex[:8]}"
    figures: dict[str, Any] = {"run": run}
    with Jarvis.from_settings(settings) as jarvis:
        try:
            figures.update(_api(jarvis, settings, run, writes, searches))
            figures.update(_drain(jarvis, run, events))
        finally:
            if not keep:
                jarvis.forget_user(f"{run}-user")
                for row in jarvis.list_agents(limit=1000, type=run):
                    jarvis.delete_agent(row["id"])
    return figures


def _api(jarvis, settings, run: str, writes: int, searches: int) -> dict[str, Any]:
    from jarvis import apikeys
    from jarvis.api.server import running_server
    from jarvis.bench.api_phase import closed_loop_load
    from jarvis.facade import Jarvis

    texts = _texts(writes, run)
    started = time.perf_counter()
    for text in texts[: max(50, writes // 4)]:
        jarvis.embedder.embed(f"{text} (reference)", field="content")
    embed_per_s = max(50, writes // 4) / (time.perf_counter() - started)

    key, record = apikeys.create_key(jarvis.stores.postgres, name="throughput", scopes=["read", "write"])
    api_jarvis = Jarvis.from_settings(settings, embedder=jarvis.embedder, as_api=True)
    unlimited = settings.model_copy(update={"api_rate_limit": 10**9})
    try:
        with running_server(unlimited, jarvis=api_jarvis, run_projector=False) as url:
            bodies = [
                {"session_id": f"{run}-s{i % 20}", "user_id": f"{run}-user", "role": "user", "content": t}
                for i, t in enumerate(texts)
            ]
            wrote = closed_loop_load(
                url, "/api/v1/conversations/messages", {"X-API-Key": key}, writes, concurrency=8, bodies=bodies
            )
            asks = [
                {"query": f"what about the {TOPICS[i % len(TOPICS)]} ({i})", "scopes": ["conversations"]}
                for i in range(searches)
            ]
            searched = closed_loop_load(url, "/api/v1/search", {"X-API-Key": key}, searches, concurrency=8, bodies=asks)
    finally:
        api_jarvis.close()
        apikeys.revoke_key(jarvis.stores.postgres, record["prefix"])
    return {
        "embedder_alone_per_s": embed_per_s,
        "api_writes_per_s": wrote["rps"],
        "api_write_p50_ms": wrote["p50"],
        "api_write_p99_ms": wrote["p99"],
        "api_searches_per_s": searched["rps"],
        "api_search_p50_ms": searched["p50"],
        "api_search_p99_ms": searched["p99"],
    }


#: Distinct rows to project, made in SQL (no embedding: the drain is what is measured). A copy
#: carries its original's vector; the projection reads it from PostgreSQL as always.
COPY_MESSAGES = """
INSERT INTO conversations (session_id, user_id, role, message_type, content, embedding)
SELECT c.session_id, c.user_id, c.role, c.message_type, c.content || ' #' || g, c.embedding
FROM (SELECT * FROM conversations WHERE user_id = %(user)s ORDER BY id LIMIT 100) AS c, generate_series(1, %(copies)s) AS g
"""
MESSAGES_OF = "SELECT id::text FROM conversations WHERE user_id = %s ORDER BY id"
INSERT_AGENTS = (
    "INSERT INTO agents (name, type) SELECT %(run)s || '-a' || g, %(run)s FROM generate_series(1, %(n)s) AS g"
)
AGENTS_OF = "SELECT id::text FROM agents WHERE type = %s ORDER BY id"


def _drain(jarvis, run: str, events: int) -> dict[str, Any]:
    """Events/s with 1 and with 2 projector processes, each over its own backlog of distinct
    entities (conversations -> Chroma, agents -> Neo4j), timed from a common start signal (the
    processes have imported and connected before it) until the last one finds nothing pending."""
    agents_per_round = max(1, events // 20)
    messages_per_round = events - agents_per_round
    user = f"{run}-user"
    with jarvis.stores.postgres.pool.connection() as conn:
        conn.execute(COPY_MESSAGES, {"user": user, "copies": 2 * messages_per_round // 100 + 1})
        conn.execute(INSERT_AGENTS, {"run": run, "n": 2 * agents_per_round})
        messages = [r[0] for r in conn.execute(MESSAGES_OF, (user,)).fetchall()]
        agents = [r[0] for r in conn.execute(AGENTS_OF, (run,)).fetchall()]
    jarvis.sync()
    figures: dict[str, Any] = {"drain_backlog": {}}
    for round_, processes in enumerate((1, 2)):
        conversation_keys = messages[round_ * messages_per_round : (round_ + 1) * messages_per_round]
        agent_keys = agents[round_ * agents_per_round : (round_ + 1) * agents_per_round]
        with jarvis.stores.postgres.pool.connection() as conn:
            before = conn.execute(PENDING).fetchone()[0]
            conn.execute(SEED_EVENTS, {"entity": "conversation", "stores": ["chroma"], "keys": conversation_keys})
            conn.execute(SEED_EVENTS, {"entity": "agent", "stores": ["neo4j"], "keys": agent_keys})
        seeded = len(conversation_keys) + len(agent_keys)
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "jarvis.bench.throughput", "--drain-worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        started = time.time()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        finished = max(float(worker.stdout.readline()) for worker in workers)
        for worker in workers:
            worker.wait(timeout=60)
        seconds = finished - started
        with jarvis.stores.postgres.pool.connection() as conn:
            left = conn.execute(PENDING).fetchone()[0]
        figures[f"drain_{processes}_process_events_per_s"] = seeded / seconds
        figures["drain_backlog"][processes] = {
            "events": seeded,
            "seconds": seconds,
            "pending_before": before,
            "pending_after": left,
        }
    return figures


def _drain_worker() -> None:
    """One projector process: connect, say ready, wait for go, drain until nothing is pending
    (its claims skip what the other process holds), print the wall-clock time it finished."""
    from jarvis.config import Settings
    from jarvis.connections import Stores
    from jarvis.projection.projector import Projector
    from jarvis.stores.base import StoreName

    stores = Stores(Settings.from_env())
    projector = Projector(stores)
    try:
        stores.get(StoreName.CHROMA), stores.get(StoreName.NEO4J)
        print("ready", flush=True)
        sys.stdin.readline()
        projector.drain(batch=500)
        print(time.time(), flush=True)
    finally:
        projector.close()
        stores.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=400)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--drain-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain_worker:
        _drain_worker()
        return
    figures = measure(writes=args.writes, searches=args.searches, events=args.events, keep=args.keep)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for name, value in figures.items():
        print(f"{name:<32} {value:,.1f}" if isinstance(value, float) else f"{name:<32} {value}")


if __name__ == "__main__":
    main()
