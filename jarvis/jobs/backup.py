"""``jarvis backup`` and ``jarvis restore``: all five stores, checked by a manifest.

A backup is a directory ``jarvis-backup-<UTC timestamp>`` with ``postgres.dump`` (pg_dump,
custom format), the portable exports of the other stores (:mod:`jarvis.jobs.exports`) and
``manifest.json``: per store its files (bytes, sha256), item counts, server version and
duration. Restore checks every file against the manifest before it touches any store, then
loads each store and reconciles the projections with PostgreSQL (the system of record), so a
backup taken while writes were running restores to a consistent state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from jarvis import __version__
from jarvis.connections import Stores
from jarvis.errors import JarvisError
from jarvis.jobs import exports
from jarvis.jobs.projections import reconcile, verify
from jarvis.jobs.requeue import requeue
from jarvis.outbox import Projector

PREFIX = "jarvis-backup-"
STAMP = "%Y%m%dT%H%M%S%fZ"
ENSURE_API_ROLE = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jarvis_api') THEN
        CREATE ROLE jarvis_api NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jarvis_service') THEN
        CREATE ROLE jarvis_service NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END $$
"""


RECREATE_SCHEMA = "DROP SCHEMA public CASCADE; CREATE SCHEMA public"


class BackupError(JarvisError):
    """A backup could not be written or a restore was refused."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pg_tool(tool: str) -> str:
    from jarvis.local.postgres import bin_dir

    local = bin_dir() / tool
    return str(local) if local.exists() else (shutil.which(tool) or tool)


def _pg_env(conninfo: str) -> tuple[list[str], dict[str, str]]:
    """libpq arguments without the password (it travels in PGPASSWORD, never on a command line)."""
    params = conninfo_to_dict(conninfo)
    env = {**os.environ, "PGPASSWORD": params.pop("password", "") or "", "PGCONNECT_TIMEOUT": "10"}
    args = [f"--host={params.get('host', '127.0.0.1')}", f"--port={params.get('port', 5432)}",
            f"--username={params.get('user', 'postgres')}", f"--dbname={params.get('dbname', 'postgres')}"]
    return args, env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {result.stderr.strip()[-2000:]}")


def backup(stores: Stores, out: Path, *, progress: Callable[[str], None] | None = None) -> Path:
    """Write one backup of all five stores under *out*; return its directory."""
    say = progress or (lambda message: None)
    started = datetime.now(timezone.utc)
    target = out / f"{PREFIX}{started.strftime(STAMP)}"
    try:
        target.mkdir(parents=True)
    except OSError as exc:
        raise BackupError(f"cannot create {target}: {exc.strerror}") from None
    manifest: dict[str, Any] = {"format": 1, "jarvis_version": __version__, "created_at": started.isoformat(),
                                "stores": {}}
    versions = {health.store: health.version for health in stores.health()}

    def step(store: str, files: list[str], work: Callable[[], Any]) -> None:
        say(f"backing up {store} ...")
        began = time.perf_counter()
        items = work()
        manifest["stores"][store] = {
            "files": {name: {"bytes": (target / name).stat().st_size, "sha256": _sha256(target / name)} for name in files},
            "items": items, "server_version": versions.get(store), "seconds": round(time.perf_counter() - began, 3),
        }
        say(f"backed up {store}: {items}")

    args, env = _pg_env(stores.settings.postgres_conninfo)
    step("postgres", ["postgres.dump"], lambda: _run(
        [_pg_tool("pg_dump"), *args, "--format=custom", f"--file={target / 'postgres.dump'}"], env, "pg_dump") or
        {"tables": _count_tables(stores)})
    step("redis", ["redis.jsonl"], lambda: {"keys": exports.export_redis(stores.redis.raw, target / "redis.jsonl")})
    step("neo4j", ["neo4j.nodes.jsonl", "neo4j.relationships.jsonl"], lambda: dict(zip(
        ("nodes", "relationships"),
        exports.export_neo4j(stores.get("neo4j"), target / "neo4j.nodes.jsonl", target / "neo4j.relationships.jsonl"))))
    from jarvis.stores.chroma import COLLECTIONS as CHROMA
    from jarvis.stores.qdrant import COLLECTIONS as QDRANT

    step("chroma", [f"chroma.{n}.jsonl" for n in CHROMA], lambda: exports.export_chroma(stores.get("chroma"), target))
    step("qdrant", [f"qdrant.{s.name}.jsonl" for s in QDRANT], lambda: exports.export_qdrant(stores.get("qdrant"), target))
    manifest["seconds"] = round((datetime.now(timezone.utc) - started).total_seconds(), 3)
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return target


def _count_tables(stores: Stores) -> int:
    with stores.postgres.pool.connection() as conn:
        return conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]


def check(directory: Path) -> dict[str, Any]:
    """The manifest, once every file it lists is present with its recorded sha256.

    Raises:
        BackupError: naming the first file that is missing or differs.
    """
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{directory}: no readable manifest.json ({exc})") from None
    for store, entry in manifest["stores"].items():
        for name, facts in entry["files"].items():
            path = directory / name
            if not path.exists():
                raise BackupError(f"refusing to restore: {name} ({store}) is missing")
            if path.stat().st_size != facts["bytes"] or _sha256(path) != facts["sha256"]:
                raise BackupError(f"refusing to restore: {name} ({store}) does not match its checksum in manifest.json")
    return manifest


def restore(stores: Stores, directory: Path, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Load a backup into the stores (their current content is replaced), then reconcile."""
    say = progress or (lambda message: None)
    manifest = check(directory)
    elapsed_ms = int((datetime.now(timezone.utc) - datetime.fromisoformat(manifest["created_at"])).total_seconds() * 1000)
    say("restoring postgres ...")
    with stores.postgres.pool.connection() as conn:
        conn.execute(ENSURE_API_ROLE)
        # pg_restore --clean cannot drop partitioned tables' inherited constraints: start empty.
        conn.execute(RECREATE_SCHEMA)
    args, env = _pg_env(stores.settings.postgres_conninfo)
    _run([_pg_tool("pg_restore"), *args, "--single-transaction", "--exit-on-error",
          str(directory / "postgres.dump")], env, "pg_restore")
    stores.postgres.reset()  # new type OIDs (pgvector) after the schema was recreated
    if stores.user_postgres is not None:
        stores.user_postgres.reset()
    from jarvis.migrate import grant_api_login

    grant_api_login(stores.settings)
    say("restoring redis ...")
    stores.redis.raw.flushdb()
    restored = {"redis": exports.import_redis(stores.redis.raw, directory / "redis.jsonl", elapsed_ms=elapsed_ms)}
    say("restoring neo4j ...")
    graph = stores.get("neo4j")
    graph.delete_everything()
    restored["neo4j"] = exports.import_neo4j(graph, directory / "neo4j.nodes.jsonl",
                                             directory / "neo4j.relationships.jsonl")
    say("restoring chroma ...")
    restored["chroma"] = exports.import_chroma(stores.get("chroma"), directory)
    say("restoring qdrant ...")
    restored["qdrant"] = exports.import_qdrant(stores.get("qdrant"), directory)
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


def prune(out: Path, *, keep_days: float, now: datetime | None = None) -> list[Path]:
    """Delete backups under *out* older than *keep_days*; return what was deleted."""
    now = now or datetime.now(timezone.utc)
    removed = []
    for path in sorted(out.glob(f"{PREFIX}*")):
        try:
            taken = datetime.strptime(path.name[len(PREFIX):], STAMP).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        if now - taken > timedelta(days=keep_days) and (path / "manifest.json").exists():
            shutil.rmtree(path)
            removed.append(path)
    return removed


def terminal_progress(message: str) -> None:
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)
