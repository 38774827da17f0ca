#!/usr/bin/env python
# Run (PostgreSQL of a stack up; the owner creates two scratch databases and drops them):
#   PYTHONPATH=. ~/.cache/jarvis/venv/bin/python scripts/bench_outbox_rls.py [--rounds 9] [--per-round 400]
"""What migration 023 (the outbox's row-level security) costs a single write.

Two scratch databases on one server: one migrated up to 022, one up to 023. Each round runs the
transaction of a single knowledge add as the application sends it (``PostgresStore.transaction``
in pipeline mode: BEGIN, the row-level-security scope, the knowledge row with its vector, the
outbox event, COMMIT, one round trip), as the API's user role scoped to a user and as the
service role acting for every user, alternating the two databases so drift hits both alike.
Then the server's side alone: 20,000 outbox inserts in one statement loop, timed by the server
(seven loops per database, alternated; their median).
Prints medians per write and the difference (023 minus 022).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from jarvis.config import Settings
from jarvis.domain.knowledge import INSERT_KNOWLEDGE
from jarvis.migrate import MIGRATIONS_DIR, migrate_postgres
from jarvis.outbox import INSERT_EVENT
from jarvis.principal import EVERY_USER, Principal, scope_for
from jarvis.stores.postgres import PostgresStore

#: The server's own time for *n* outbox inserts, in the caller's scope (microseconds per insert).
SERVER_LOOP = """
DO $$
DECLARE started timestamptz := clock_timestamp();
BEGIN
    FOR i IN 1..20000 LOOP
        INSERT INTO outbox (entity, entity_id, operation, pending_stores) VALUES ('knowledge', i::text, 'upsert', '{}');
    END LOOP;
    PERFORM set_config('bench.us', (extract(epoch FROM clock_timestamp() - started) * 1e6 / 20000)::text, true);
END $$
"""


def database(settings: Settings, name: str, *, up_to: str) -> str:
    """A new database *name* migrated with the files before *up_to* (e.g. ``"023"``); its conninfo."""
    with psycopg.connect(settings.postgres_conninfo_for("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with tempfile.TemporaryDirectory() as directory:
        for path in MIGRATIONS_DIR.glob("*.sql"):
            if path.name < up_to:
                shutil.copy(path, Path(directory) / path.name)
        migrate_postgres(settings.postgres_conninfo_for(name), directory=Path(directory))
    return settings.postgres_conninfo_for(name)


def as_role(conninfo: str, role_conninfo: str) -> str:
    """*conninfo*'s database, reached with the user and password of *role_conninfo*."""
    params = conninfo_to_dict(role_conninfo)
    params["dbname"] = conninfo_to_dict(conninfo)["dbname"]
    return make_conninfo(**params)


def one_add(store: PostgresStore, who: Principal, vector: np.ndarray) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        key = uuid.uuid4()
        with store.transaction(scope_for(who)) as conn:
            row = conn.execute(
                INSERT_KNOWLEDGE,
                {
                    "id": key,
                    "topic": "bench",
                    "content": "a fact to write",
                    "source": None,
                    "category": "bench-outbox-rls",
                    "confidence": 1.0,
                    "agent_id": None,
                    "embedding": vector,
                    "valid_from": None,
                    "valid_to": None,
                    "supersedes": None,
                },
            )
            event = conn.execute(INSERT_EVENT, ("knowledge", str(key), "upsert", ["neo4j", "chroma"]))
        row.fetchone(), event.fetchone()
        return time.perf_counter() - started

    return run


def server_us(conninfo: str, who: Principal) -> float:
    with psycopg.connect(conninfo) as conn:
        scope_for(who)(conn)
        conn.execute(SERVER_LOOP)
        us = float(conn.execute("SELECT current_setting('bench.us')").fetchone()[0])
        conn.rollback()
    return us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--per-round", type=int, default=400)
    args = parser.parse_args()
    settings = Settings.from_env()
    vector = np.random.default_rng(1).random(384, dtype=np.float32)
    vector /= np.linalg.norm(vector)
    names = {"022": f"bench_outbox_022_{uuid.uuid4().hex[:8]}", "023": f"bench_outbox_023_{uuid.uuid4().hex[:8]}"}
    stores: list[PostgresStore] = []
    try:
        owners = {v: database(settings, name, up_to="023" if v == "022" else "024") for v, name in names.items()}
        roles = {
            "user role, scoped to one user": (settings.api_postgres_conninfo, Principal("bench-user")),
            "service role, every user": (settings.service_postgres_conninfo, EVERY_USER),
        }
        for label, (role, who) in roles.items():
            runs = {}
            for version, conninfo in owners.items():
                store = PostgresStore.connect(settings, conninfo=as_role(conninfo, role))
                stores.append(store)
                runs[version] = one_add(store, who, vector)
            times: dict[str, list[float]] = {v: [] for v in owners}
            for v in owners:  # warm up: connections, catalog caches
                for _ in range(100):
                    runs[v]()
            for round_ in range(args.rounds):
                for v in owners if round_ % 2 == 0 else reversed(owners):
                    times[v] += [runs[v]() for _ in range(args.per_round)]
            medians = {v: statistics.median(t) * 1000 for v, t in times.items()}
            loops: dict[str, list[float]] = {v: [] for v in owners}
            for round_ in range(7):  # alternated too; the median of seven loops each
                for v in owners if round_ % 2 == 0 else reversed(owners):
                    loops[v].append(server_us(as_role(owners[v], role), who))
            server = {v: statistics.median(t) for v, t in loops.items()}
            print(
                f"{label}: single add median {medians['022']:.3f} ms (022) -> {medians['023']:.3f} ms (023), "
                f"difference {medians['023'] - medians['022']:+.3f} ms over {len(times['022'])} writes each; "
                f"server time of one outbox insert {server['022']:.2f} -> {server['023']:.2f} us "
                f"({server['023'] - server['022']:+.2f} us)"
            )
    finally:
        for store in stores:
            store.close()
        with psycopg.connect(settings.postgres_conninfo_for("postgres"), autocommit=True) as conn:
            for name in names.values():
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
