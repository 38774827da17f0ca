"""A restore in two phases: every store loads into staging, then all swap, or none does.

Each store gets a :class:`Stage` that loads the backup beside the live data (``load``),
checks what it loaded against the manifest (``verify``), and only then replaces the live data
(``swap``, undone by ``undo`` while the others have not swapped yet). A restore that fails
while loading — a dump that breaks half way, a store that goes down — discards every staging
copy and leaves the live data as it was. What each store offers for this:

- PostgreSQL: ``pg_restore`` into a scratch database ``<db>_restore``; the swap renames the
  databases (after refusing new connections and ending the open ones); the old database is
  kept as ``<db>_previous`` until every store swapped, then dropped.
- Redis: the keys load into another logical database (15, or 14 when 15 is the live one),
  which ``SWAPDB`` exchanges atomically with the live one.
- Chroma: staging collections ``<name>__restore``, swapped by renaming collections.
- Qdrant Edge: a staging shard directory, swapped by renaming directories while closed
  (a Qdrant server has no rename: its swap copies the staged points, see ``QdrantServerStore.rename``).
  Both reach the store through :class:`~jarvis.stores.base.CollectionStore` alone.
- Neo4j Community has one database: nodes load under the label ``JarvisRestoreStaging`` (their
  label kept as data); the swap deletes the old graph and relabels the staged one in bounded
  batches (one transaction over a large graph runs out of transaction memory), labels written
  into Cypher only from the schema's own set. A marker node records the swap until it is done,
  so a swap interrupted half way is never mistaken for a graph (see
  :func:`jarvis.stores.neo4j_backup.swap_staged`). It swaps last, as it cannot be undone.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql

from jarvis.connections import Stores
from jarvis.backup_files import BackupError
from jarvis.stores.backup_rows import batches
from jarvis.stores.base import CollectionStore, StoreName

STAGING = "__restore"
PREVIOUS = "__previous"


class Stage(Protocol):
    store: str

    def load(self) -> Any:
        """Load the backup beside the live data; return what was loaded (counts)."""

    def verify(self) -> None:
        """Raise BackupError unless the staged content is what the manifest says."""

    def swap(self) -> None:
        """Replace the live data by the staged data (the previous data is kept)."""

    def undo(self) -> None:
        """Reverse :meth:`swap` (before every store swapped)."""

    def discard(self) -> bool:
        """Drop the staged copy (a failed restore); never raises. False if it could not (the
        store is down): the next restore drops it, and nothing reads it meanwhile."""

    def finish(self) -> None:
        """Drop the previous data (after every store swapped)."""


def _quietly(action) -> bool:
    try:
        action()
    except Exception:  # noqa: BLE001 - cleanup after a failure must not hide the failure
        return False
    return True


# -- PostgreSQL -----------------------------------------------------------------------------------
LIVE_SESSIONS = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
END_SESSIONS = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
COUNT_TABLES = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
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
SWAP_WAIT_SECONDS = 10.0


class PostgresStage:
    store = "postgres"

    def __init__(self, stores: Stores, directory: Path, manifest: dict, *, run_tool) -> None:
        self.stores, self.directory, self.manifest, self.run_tool = stores, directory, manifest, run_tool
        self.live = str(psycopg.conninfo.conninfo_to_dict(stores.settings.postgres_conninfo).get("dbname", "postgres"))
        self.scratch, self.previous = f"{self.live}_restore", f"{self.live}_previous"

    def _admin(self) -> psycopg.Connection:
        """The maintenance database: databases are created and renamed from outside them."""
        return psycopg.connect(self.stores.settings.postgres_conninfo_for("postgres"), autocommit=True)

    def load(self) -> dict:
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.scratch)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.scratch)))
            conn.execute(ENSURE_API_ROLE)
            # Database-level grants are not in a dump (the migrations made them on the live one).
            for role in (self.stores.settings.api_db_user, self.stores.settings.service_db_user):
                conn.execute(
                    sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                        sql.Identifier(self.scratch), sql.Identifier(role)
                    )
                )
        self.run_tool(
            "pg_restore",
            self.stores.settings.postgres_conninfo_for(self.scratch),
            ["--single-transaction", "--exit-on-error", str(self.directory / "postgres.dump")],
        )
        with psycopg.connect(self.stores.settings.postgres_conninfo_for(self.scratch)) as conn:
            self.tables = conn.execute(COUNT_TABLES).fetchone()[0]
        return {"tables": self.tables}

    def verify(self) -> None:
        expected = self.manifest["stores"]["postgres"]["items"].get("tables")
        if self.tables != expected:
            raise BackupError(f"postgres: the restored database has {self.tables} tables, the manifest says {expected}")

    def _rename(self, first: tuple[str, str], second: tuple[str, str], *, closing: str) -> None:
        """Two renames in one transaction, once nobody is connected to *closing* (retried
        briefly: a pool may reconnect between our terminating a session and the rename)."""
        rename = "ALTER DATABASE {} RENAME TO {}"
        with self._admin() as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(closing)))
            deadline = time.monotonic() + SWAP_WAIT_SECONDS
            while True:
                conn.execute(END_SESSIONS, (closing,))
                try:
                    with conn.transaction():
                        for old, new in (first, second):
                            conn.execute(sql.SQL(rename).format(sql.Identifier(old), sql.Identifier(new)))
                    break
                except psycopg.errors.ObjectInUse:
                    if time.monotonic() > deadline:
                        conn.execute(
                            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(closing))
                        )
                        raise BackupError(
                            f"postgres: sessions on {closing} did not end within {SWAP_WAIT_SECONDS:.0f} s"
                        ) from None
                    time.sleep(0.1)
        self.stores.postgres.reset()
        if self.stores.user_postgres is not None:  # the API's row-level-security pool
            self.stores.user_postgres.reset()

    def swap(self) -> None:
        self._rename((self.live, self.previous), (self.scratch, self.live), closing=self.live)

    def undo(self) -> None:
        self._rename((self.live, self.scratch), (self.previous, self.live), closing=self.live)
        with self._admin() as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(self.live)))

    def discard(self) -> bool:
        def drop() -> None:
            with self._admin() as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.scratch)))

        return _quietly(drop)

    def finish(self) -> None:
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.previous)))


# -- Redis ----------------------------------------------------------------------------------------
class RedisStage:
    store = "redis"

    def __init__(self, stores: Stores, directory: Path, manifest: dict) -> None:
        self.directory, self.manifest = directory, manifest
        self.staging = stores.redis.staging_database()

    def load(self) -> int:
        created = datetime.fromisoformat(self.manifest["created_at"])
        elapsed_ms = int((datetime.now(timezone.utc) - created).total_seconds() * 1000)
        self.rows = self.staging.load(self.directory, elapsed_ms=max(elapsed_ms, 0))
        return self.rows

    def verify(self) -> None:
        expected = self.manifest["stores"]["redis"]["items"].get("keys")
        if self.rows != expected or self.staging.size() > expected:
            raise BackupError(f"redis: staged {self.rows} keys, the manifest says {expected}")

    def swap(self) -> None:
        self.staging.swap()

    undo = swap

    def discard(self) -> bool:
        flushed = _quietly(self.staging.empty)
        _quietly(self.staging.close)
        return flushed

    def finish(self) -> None:
        self.staging.empty()
        self.staging.close()


# -- Chroma and Qdrant: staging collections, swapped by renames -----------------------------------
class CollectionStage:
    """Chroma or Qdrant: one staging collection per collection, swapped by renames."""

    def __init__(self, stores: Stores, directory: Path, manifest: dict, *, store: StoreName) -> None:
        self.store, self.directory, self.manifest = store, directory, manifest
        self.client: CollectionStore = (
            stores.get(StoreName.CHROMA) if store is StoreName.CHROMA else stores.get(StoreName.QDRANT)
        )
        self.names = self.client.collections()
        self.swapped: list[str] = []

    def load(self) -> dict[str, int]:
        self.counts: dict[str, int] = {}
        self.distinct: dict[str, int] = {}
        for name in self.names:
            staging = name + STAGING
            self.client.drop(staging)
            self.client.drop(name + PREVIOUS)
            self.client.create_collection(staging, like=name)
            self.counts[name], ids = 0, set()
            for batch in batches(self.client.backup_rows(self.directory, name)):
                self.client.load_rows(staging, batch)
                self.counts[name] += len(batch)
                ids.update(row["id"] for row in batch)
            # An export paged by offset while writes ran may list an item twice: upserts dedup it.
            self.distinct[name] = len(ids)
        self.client.flush()
        return self.counts

    def verify(self) -> None:
        expected = self.manifest["stores"][self.store]["items"]
        for name in self.names:
            staged = self.client.count(name + STAGING)
            if staged != self.distinct[name] or self.counts[name] != expected.get(name):
                raise BackupError(f"{self.store}: staged {staged} of {name}, the manifest says {expected.get(name)}")

    def swap(self) -> None:
        for name in self.names:
            self.client.rename(name, name + PREVIOUS)
            self.swapped.append(name)
            self.client.rename(name + STAGING, name)

    def undo(self) -> None:
        for name in reversed(self.swapped):
            self.client.rename(name, name + STAGING)
            self.client.rename(name + PREVIOUS, name)
        self.swapped = []

    def discard(self) -> bool:
        # A list, not a generator: every collection is tried even after one failed.
        return all([_quietly(lambda name=name: self.client.drop(name + STAGING)) for name in self.names])  # noqa: C419

    def finish(self) -> None:
        for name in self.names:
            self.client.drop(name + PREVIOUS)


# -- Neo4j ----------------------------------------------------------------------------------------
class Neo4jStage:
    store = "neo4j"

    def __init__(self, stores: Stores, directory: Path, manifest: dict) -> None:
        self.directory, self.manifest = directory, manifest
        self.graph = stores.get(StoreName.NEO4J)

    def load(self) -> dict[str, int]:
        self.loaded = self.graph.stage(self.directory)
        return self.loaded

    def verify(self) -> None:
        staged = self.graph.staged_counts()
        items = self.manifest["stores"]["neo4j"]["items"]
        expected = {"nodes": self.loaded["staged_nodes"], "relationships": self.loaded["relationships"]}
        if (self.loaded["nodes"], self.loaded["relationships"]) != (
            items.get("nodes"),
            items.get("relationships"),
        ) or staged != expected:
            raise BackupError(f"neo4j: staged {staged} (expected {expected}), the manifest says {items}")

    def swap(self) -> None:
        """The old graph goes and the staged one takes its labels, batch by batch. A refusal
        (a staged node without a schema label) changes nothing; a failure after the first delete
        raises :class:`~jarvis.stores.neo4j_backup.SwapInterrupted` and leaves the graph marked."""
        self.graph.swap_staged()

    def undo(self) -> None:
        raise BackupError("neo4j: a graph swap cannot be undone")  # it swaps last

    def discard(self) -> bool:
        """Drop the staged graph; an interrupted swap keeps it (with its marker) to be completed."""
        return _quietly(self.graph.drop_staged)

    def finish(self) -> None:
        pass
