"""``jarvis backup`` and ``jarvis restore``: all five stores, checked by a signed manifest.

A backup is a directory ``jarvis-backup-<UTC timestamp>`` (mode 0700, every file 0600) with
``postgres.dump`` (pg_dump, custom format), the portable exports of the other stores
(each store's ``jarvis/stores/<store>_backup.py``) and ``manifest.json``: per store its files (bytes, sha256), item
counts, server version and duration, signed with an HMAC keyed by ``JARVIS_BACKUP_KEY``
(:mod:`jarvis.jobs.manifest`).

Restore trusts nothing it has not checked: the manifest's MAC, that it names every store and
only plain file names, every file's checksum, then every row's shape (graph labels and
relationship types against the schema) — all before any store is touched. Then every store
loads into staging and is verified, and only then do they swap (:mod:`jarvis.jobs.staging`):
a restore that fails half way leaves the previous data in place. Last, the projections are
reconciled with PostgreSQL (the system of record), so a backup taken while writes were
running restores to a consistent state.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from jarvis import __version__
from jarvis.connections import Stores
from jarvis.backup_files import BackupError, create_private, file_facts, make_private_dir
from jarvis.jobs import manifest as manifests
from jarvis.jobs import staging
from jarvis.jobs.manifest import expected_files
from jarvis.stores import chroma_backup, neo4j_backup, qdrant_backup, redis_backup
from jarvis.stores.base import PROJECTION_STORES, StoreName
from jarvis.stores.chroma import COLLECTIONS as CHROMA_COLLECTIONS
from jarvis.stores.qdrant import COLLECTIONS as QDRANT_COLLECTIONS
from jarvis.projection.maintenance import reconcile, verify
from jarvis.jobs.requeue import requeue
from jarvis.projection.projector import Projector

__all__ = ["BackupError", "backup", "check", "prune", "restore"]

PREFIX = "jarvis-backup-"
STAMP = "%Y%m%dT%H%M%S%fZ"


def _pg_tool(tool: str) -> str:
    from jarvis.local.postgres import bin_dir

    local = bin_dir() / tool
    return str(local) if local.exists() else (shutil.which(tool) or tool)


def _pg_env(conninfo: str) -> tuple[list[str], dict[str, str]]:
    """libpq arguments without the password (it travels in PGPASSWORD, never on a command line)."""
    params = conninfo_to_dict(conninfo)
    env = {**os.environ, "PGPASSWORD": params.pop("password", "") or "", "PGCONNECT_TIMEOUT": "10"}
    args = [
        f"--host={params.get('host', '127.0.0.1')}",
        f"--port={params.get('port', 5432)}",
        f"--username={params.get('user', 'postgres')}",
        f"--dbname={params.get('dbname', 'postgres')}",
    ]
    return args, env


def run_pg_tool(tool: str, conninfo: str, extra: list[str], *, stdout=None) -> None:
    """Run ``pg_dump``/``pg_restore`` against *conninfo*.

    Raises:
        BackupError: the tool failed (its stderr's tail, which carries no password).
    """
    args, env = _pg_env(conninfo)
    result = subprocess.run(
        [_pg_tool(tool), *args, *extra],
        env=env,
        stdout=stdout or subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"{tool} failed: {result.stderr.decode(errors='replace').strip()[-2000:]}")


def backup(stores: Stores, out: Path, *, progress: Callable[[str], None] | None = None) -> Path:
    """Write one backup of all five stores under *out*; return its directory."""
    say = progress or (lambda message: None)
    started = datetime.now(timezone.utc)
    target = out / f"{PREFIX}{started.strftime(STAMP)}"
    make_private_dir(target)
    manifest: dict[str, Any] = {"jarvis_version": __version__, "created_at": started.isoformat(), "stores": {}}
    versions = {health.store: health.version for health in stores.health()}
    files = expected_files()

    def step(store: str, work: Callable[[], Any]) -> None:
        say(f"backing up {store} ...")
        began = time.perf_counter()
        items = work()
        manifest["stores"][store] = {
            "files": {name: file_facts(target, name) for name in files[store]},
            "items": items,
            "server_version": versions.get(store),
            "seconds": round(time.perf_counter() - began, 3),
        }
        say(f"backed up {store}: {items}")

    def dump_postgres() -> dict[str, int]:
        with create_private(target / "postgres.dump", "wb") as fh:  # 0600 before pg_dump writes a byte
            run_pg_tool("pg_dump", stores.settings.postgres_conninfo, ["--format=custom"], stdout=fh)
        return {"tables": _count_tables(stores)}

    step("postgres", dump_postgres)
    step(StoreName.REDIS, lambda: stores.redis.export(target))
    for name in PROJECTION_STORES:  # each store exports itself (jarvis/stores/<store>_backup.py)
        step(name, lambda name=name: stores.get(name).export(target))
    manifest["seconds"] = round((datetime.now(timezone.utc) - started).total_seconds(), 3)
    manifests.write(target, manifest, key=stores.settings.backup_key)
    return target


def _count_tables(stores: Stores) -> int:
    with stores.postgres.pool.connection() as conn:
        return conn.execute(staging.COUNT_TABLES).fetchone()[0]


def check(directory: Path, *, key) -> dict[str, Any]:
    """The manifest, once it is authentic and complete and every file and row passes its checks.

    Raises:
        BackupError: naming what is wrong (a bad manifest, a file, a file's line).
    """
    manifest = manifests.check(directory, key=key)
    rows = check_rows(directory)
    items = manifest["stores"]
    expected = {
        redis_backup.REDIS_FILE: items["redis"]["items"].get("keys"),
        neo4j_backup.NEO4J_NODES_FILE: items["neo4j"]["items"].get("nodes"),
        neo4j_backup.NEO4J_RELATIONSHIPS_FILE: items["neo4j"]["items"].get("relationships"),
        **{chroma_backup.chroma_file(n): c for n, c in items["chroma"]["items"].items()},
        **{qdrant_backup.qdrant_file(n): c for n, c in items["qdrant"]["items"].items()},
    }
    for name, count in rows.items():
        if expected.get(name) != count:
            raise BackupError(f"refusing to restore: {name} holds {count} rows, the manifest says {expected.get(name)}")
    return manifest


def check_rows(directory: Path) -> dict[str, int]:
    """Read every row of every export once, before any store is written: a bad row is refused
    here, naming its file and line. Returns the rows per file."""
    readers: dict[str, Iterator[dict]] = {
        redis_backup.REDIS_FILE: redis_backup.redis_rows(directory),
        neo4j_backup.NEO4J_NODES_FILE: neo4j_backup.neo4j_nodes(directory),
        neo4j_backup.NEO4J_RELATIONSHIPS_FILE: neo4j_backup.neo4j_relationships(directory),
        **{chroma_backup.chroma_file(name): chroma_backup.chroma_rows(directory, name) for name in CHROMA_COLLECTIONS},
        **{
            qdrant_backup.qdrant_file(spec.name): qdrant_backup.qdrant_rows(directory, spec.name)
            for spec in QDRANT_COLLECTIONS
        },
    }
    return {name: sum(1 for _ in rows) for name, rows in readers.items()}


def restore(stores: Stores, directory: Path, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Replace every store's content by the backup in *directory*, all or nothing, then reconcile.

    Raises:
        BackupError: the backup was refused before any store was touched, or a store failed
            while loading into staging or swapping; either way the previous data is in place.
    """
    say = progress or (lambda message: None)
    directory = Path(directory)
    manifest = check(directory, key=stores.settings.backup_key)
    stages: list[staging.Stage] = [
        staging.PostgresStage(
            stores, directory, manifest, run_tool=lambda tool, conninfo, extra: run_pg_tool(tool, conninfo, extra)
        ),
        staging.RedisStage(stores, directory, manifest),
    ]
    restored: dict[str, Any] = {}
    try:
        stages += [
            staging.CollectionStage(stores, directory, manifest, store=StoreName.CHROMA),
            staging.CollectionStage(stores, directory, manifest, store=StoreName.QDRANT),
            staging.Neo4jStage(stores, directory, manifest),
        ]  # last: its swap cannot be undone
        for stage in stages:
            say(f"loading {stage.store} into staging ...")
            restored[stage.store] = stage.load()
            stage.verify()
    except Exception as exc:  # noqa: BLE001 - any failure, a driver's too, must discard the staging copies
        raise _failed("loading", exc, _discard(stages)) from None
    swapped: list[staging.Stage] = []
    try:
        for stage in stages:
            say(f"swapping {stage.store} in ...")
            stage.swap()
            swapped.append(stage)
    except Exception as exc:  # noqa: BLE001 - any failure must swap back what swapped
        try:
            for stage in reversed(swapped):
                stage.undo()
        except Exception as undo_exc:  # noqa: BLE001 - reported, with what is where
            raise BackupError(
                f"restore failed while swapping ({type(exc).__name__}: {str(exc)[:300]}) and the "
                f"swap of {stage.store} could not be undone ({type(undo_exc).__name__}); the previous "
                "data is kept under the *_previous names"
            ) from None
        raise _failed("swapping", exc, _discard(stages)) from None
    for stage in stages:
        stage.finish()
    from jarvis.migrate import grant_api_login

    grant_api_login(stores.settings)
    say("reconciling projections with postgres ...")
    restored["reconciled"] = reconcile(stores)
    projector = Projector(stores)
    try:
        projector.drain()
    finally:
        projector.close()
    restored["requeued"] = requeue(stores)
    restored["differences"] = len(verify(stores))
    return restored


def _discard(stages: list[staging.Stage]) -> list[str]:
    """Drop every staging copy; the stores whose copy could not be dropped (they are down)."""
    return [stage.store for stage in stages if not stage.discard()]


def _failed(phase: str, exc: Exception, left: list[str]) -> BackupError:
    detail = str(exc) if isinstance(exc, BackupError) else f"{type(exc).__name__}: {str(exc)[:500]}"
    detail = " ".join(detail.split())  # one line: cron logs one line per run
    leftovers = (
        f" (staging copies left in {', '.join(left)}: invisible to reads, removed by the next restore)" if left else ""
    )
    if isinstance(exc, neo4j_backup.SwapInterrupted):  # the one swap that cannot go back
        return BackupError(
            f"restore failed while {phase}: PostgreSQL, Redis, Chroma and Qdrant hold the previous data "
            f"again, but {detail}{leftovers}"
        )
    return BackupError(f"restore failed while {phase}, nothing was replaced: {detail}{leftovers}")


def prune(out: Path, *, keep_days: float, now: datetime | None = None) -> list[Path]:
    """Delete backups under *out* older than *keep_days*; return what was deleted."""
    now = now or datetime.now(timezone.utc)
    removed = []
    for path in sorted(out.glob(f"{PREFIX}*")):
        try:
            taken = datetime.strptime(path.name[len(PREFIX) :], STAMP).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        if now - taken > timedelta(days=keep_days) and (path / "manifest.json").exists():
            shutil.rmtree(path)
            removed.append(path)
    return removed


def terminal_progress(message: str) -> None:
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)
