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
- Neo4j Community has one database: nodes load under the label ``JarvisRestoreStaging`` (their
  label kept as data); the swap deletes the old graph and relabels the staged one in one
  transaction, labels written into Cypher only from the schema's own set. It swaps last, as
  it cannot be undone once committed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import psycopg
import redis
from psycopg import sql

from jarvis.connections import Stores
from jarvis.backup_files import BackupError
from jarvis.stores import chroma_backup, neo4j_backup, qdrant_backup, redis_backup
from jarvis.stores.backup_rows import batches
from jarvis.stores.chroma import COLLECTIONS as CHROMA
from jarvis.stores.neo4j import NODE_KEYS, RESTORE_STAGING_LABEL
from jarvis.stores.qdrant import COLLECTIONS as QDRANT

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
                conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(self.scratch), sql.Identifier(role)))
        self.run_tool("pg_restore", self.stores.settings.postgres_conninfo_for(self.scratch),
                      ["--single-transaction", "--exit-on-error", str(self.directory / "postgres.dump")])
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
                        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
                            sql.Identifier(closing)))
                        raise BackupError(f"postgres: sessions on {closing} did not end within "
                                          f"{SWAP_WAIT_SECONDS:.0f} s") from None
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
        self.raw = stores.redis.raw
        pool = self.raw.connection_pool
        self.live_db = int(pool.connection_kwargs.get("db", 0) or 0)
        self.staging_db = 15 if self.live_db != 15 else 14
        self.staging = redis.Redis(connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class, **{**pool.connection_kwargs, "db": self.staging_db}))

    def load(self) -> int:
        created = datetime.fromisoformat(self.manifest["created_at"])
        elapsed_ms = int((datetime.now(timezone.utc) - created).total_seconds() * 1000)
        self.staging.flushdb()
        self.rows = redis_backup.import_redis(self.staging, self.directory, elapsed_ms=max(elapsed_ms, 0))
        return self.rows

    def verify(self) -> None:
        expected = self.manifest["stores"]["redis"]["items"].get("keys")
        if self.rows != expected or self.staging.dbsize() > expected:
            raise BackupError(f"redis: staged {self.rows} keys, the manifest says {expected}")

    def swap(self) -> None:
        self.raw.swapdb(self.live_db, self.staging_db)

    undo = swap

    def discard(self) -> bool:
        flushed = _quietly(self.staging.flushdb)
        _quietly(self.staging.close)
        return flushed

    def finish(self) -> None:
        self.staging.flushdb()
        self.staging.close()


# -- Chroma and Qdrant: staging collections, swapped by renames -----------------------------------
class CollectionStage:
    """Chroma or Qdrant: one staging collection per collection, swapped by renames."""

    def __init__(self, stores: Stores, directory: Path, manifest: dict, *, store: str) -> None:
        self.store, self.directory, self.manifest = store, directory, manifest
        self.client = stores.get(store)
        self.names = list(CHROMA) if store == "chroma" else [spec.name for spec in QDRANT]
        self.swapped: list[str] = []

    def _rows(self, name: str):
        if self.store == "chroma":
            return chroma_backup.chroma_rows(self.directory, name)
        return qdrant_backup.qdrant_rows(self.directory, name)

    def _upsert(self, name: str, batch: list[dict]) -> None:
        if self.store == "chroma":
            self.client.upsert(name, ids=[r["id"] for r in batch], embeddings=[r["embedding"] for r in batch],
                               documents=[r["document"] for r in batch], metadatas=[r["metadata"] for r in batch])
        else:
            self.client.upsert(name, [(r["id"], r["vector"], r["payload"]) for r in batch])

    def load(self) -> dict[str, int]:
        self.counts: dict[str, int] = {}
        self.distinct: dict[str, int] = {}
        for name in self.names:
            staging = name + STAGING
            self.client.drop(staging)
            self.client.drop(name + PREVIOUS)
            self.client.create_collection(staging, like=name)
            self.counts[name], ids = 0, set()
            for batch in batches(self._rows(name)):
                self._upsert(staging, batch)
                self.counts[name] += len(batch)
                ids.update(row["id"] for row in batch)
            # An export paged by offset while writes ran may list an item twice: upserts dedup it.
            self.distinct[name] = len(ids)
        if self.store == "qdrant":
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
STAGED_LABEL = RESTORE_STAGING_LABEL
STAGING_INDEX = (f"CREATE INDEX jarvis_restore_staging IF NOT EXISTS FOR (n:{STAGED_LABEL}) "
                 "ON (n._label, n._key)")
STAGE_NODES = (f"UNWIND $rows AS row MERGE (n:{STAGED_LABEL} {{_label: row.label, _key: row.key}}) "
               "SET n += row.props")
DROP_STAGED_BATCH = f"MATCH (n:{STAGED_LABEL}) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS deleted"
COUNT_STAGED = (f"MATCH (n:{STAGED_LABEL}) WITH count(n) AS nodes "
                f"OPTIONAL MATCH (:{STAGED_LABEL})-[r]->(:{STAGED_LABEL}) RETURN nodes, count(r) AS relationships")
DELETE_LIVE_GRAPH = f"MATCH (n) WHERE NOT n:{STAGED_LABEL} DETACH DELETE n"


def _stage_edges(rel: str) -> str:
    """*rel* comes from the schema's set (checked by :mod:`jarvis.stores.neo4j_backup`); endpoints
    match on staged data, so no label from the backup is ever part of the query text."""
    return (f"UNWIND $rows AS row MERGE (a:{STAGED_LABEL} {{_label: row.src_label, _key: row.src}}) "
            f"MERGE (b:{STAGED_LABEL} {{_label: row.dst_label, _key: row.dst}}) "
            f"MERGE (a)-[r:{rel}]->(b) SET r += row.props")


def _unstage(label: str) -> str:
    """Give staged nodes of *label* (a key of NODE_KEYS, never input) their real label."""
    return (f"MATCH (n:{STAGED_LABEL} {{_label: $label}}) SET n:{label}, n.{NODE_KEYS[label]} = n._key "
            f"REMOVE n:{STAGED_LABEL}, n._label, n._key")


class Neo4jStage:
    store = "neo4j"

    def __init__(self, stores: Stores, directory: Path, manifest: dict) -> None:
        self.directory, self.manifest = directory, manifest
        self.driver = stores.get("neo4j").driver

    def _drop_staged(self) -> None:
        while self.driver.execute_query(DROP_STAGED_BATCH).records[0]["deleted"]:
            pass

    def load(self) -> dict[str, int]:
        self.driver.execute_query(STAGING_INDEX)
        self._drop_staged()
        # Neo4j reads committed data statement by statement, so a backup taken during writes can
        # hold a relationship to a node created after the nodes were read: it is staged bare
        # (as the projection would create it) and the reconcile after the swap completes it.
        seen: set[tuple[str, Any]] = set()
        self.node_rows = rels = 0
        for batch in batches(neo4j_backup.neo4j_nodes(self.directory)):
            self.driver.execute_query(STAGE_NODES, rows=[
                {"label": r["label"], "key": r["key"], "props": r["props"]} for r in batch])
            seen.update((r["label"], r["key"]) for r in batch)
            self.node_rows += len(batch)
        for batch in batches(neo4j_backup.neo4j_relationships(self.directory)):
            grouped: dict[str, list[dict]] = defaultdict(list)
            for row in batch:
                grouped[row["rel"]].append(row)
                seen.update(((row["src_label"], row["src"]), (row["dst_label"], row["dst"])))
            for rel, rows in grouped.items():
                self.driver.execute_query(_stage_edges(rel), rows=rows)
            rels += len(batch)
        self.expected = {"nodes": len(seen), "relationships": rels}
        return {"nodes": self.node_rows, "staged_nodes": len(seen), "relationships": rels}

    def verify(self) -> None:
        record = self.driver.execute_query(COUNT_STAGED).records[0]
        items = self.manifest["stores"]["neo4j"]["items"]
        staged = {"nodes": record["nodes"], "relationships": record["relationships"]}
        if (self.node_rows, self.expected["relationships"]) != (items.get("nodes"), items.get("relationships")) \
                or staged != self.expected:
            raise BackupError(f"neo4j: staged {staged} (expected {self.expected}), the manifest says {items}")

    def swap(self) -> None:
        """One transaction: the old graph goes and the staged one takes its labels, or neither."""
        with self.driver.session() as session, session.begin_transaction() as tx:
            tx.run(DELETE_LIVE_GRAPH).consume()
            for label in NODE_KEYS:
                tx.run(_unstage(label), label=label).consume()
            left = tx.run(f"MATCH (n:{STAGED_LABEL}) RETURN count(n) AS left").single()["left"]
            if left:  # leaving the block uncommitted rolls the whole swap back
                raise BackupError(f"neo4j: {left} staged nodes have no label of the schema")
            tx.commit()

    def undo(self) -> None:
        raise BackupError("neo4j: a committed graph swap cannot be undone")  # it swaps last

    def discard(self) -> bool:
        return _quietly(self._drop_staged)

    def finish(self) -> None:
        pass
