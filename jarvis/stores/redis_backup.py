"""Redis' backup: every key as its ``DUMP`` payload with its remaining time to live (JSON lines)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from jarvis.stores.backup_rows import batches, plain_dict, read_lines, require, write_lines


REDIS_FILE = "redis.jsonl"


def export_redis(raw: redis.Redis, path: Path) -> int:
    """Every key as (key, DUMP payload, remaining ms to live or -1), base64 where binary."""

    def rows() -> Iterator[dict[str, Any]]:
        for key in raw.scan_iter(count=1000):
            pipe = raw.pipeline(transaction=False)
            pipe.dump(key)
            pipe.pttl(key)
            payload, ttl = pipe.execute()
            if payload is not None and ttl != -2:
                yield {"key": base64.b64encode(key).decode(), "dump": base64.b64encode(payload).decode(), "pttl": ttl}

    return write_lines(path, rows())


def _redis_row(row: Any) -> dict[str, Any]:
    row = plain_dict(row, "row")
    require(
        isinstance(row["pttl"], int) and not isinstance(row["pttl"], bool) and row["pttl"] >= -1,
        "pttl must be an integer >= -1",
    )
    return {
        "key": base64.b64decode(row["key"], validate=True),
        "dump": base64.b64decode(row["dump"], validate=True),
        "pttl": row["pttl"],
    }


def redis_rows(directory: Path) -> Iterator[dict[str, Any]]:
    """(key, DUMP payload, pttl) of every key in the backup, decoded."""
    return read_lines(directory, REDIS_FILE, _redis_row)


def import_redis(raw: redis.Redis, directory: Path, *, elapsed_ms: int) -> int:
    """Restore keys into *raw*'s database; a key's time to live continues from the backup
    (keys whose time ran out meanwhile are skipped). Returns how many rows were read."""
    count = 0
    for batch in batches(redis_rows(directory)):
        pipe = raw.pipeline(transaction=False)
        for row in batch:
            ttl = row["pttl"]
            if ttl >= 0:
                ttl -= elapsed_ms
                if ttl <= 0:
                    continue
            pipe.restore(row["key"], max(ttl, 0), row["dump"], replace=True)
        pipe.execute()
        count += len(batch)
    return count


class StagingDatabase:
    """Another logical database of the same server (15, or 14 when 15 is the live one), where a
    restore loads the keys before ``SWAPDB`` exchanges it atomically with the live one."""

    def __init__(self, raw: redis.Redis) -> None:
        self.raw = raw
        pool = raw.connection_pool
        self.live_db = int(pool.connection_kwargs.get("db", 0) or 0)
        self.staging_db = 15 if self.live_db != 15 else 14
        self.client = redis.Redis(
            connection_pool=redis.ConnectionPool(
                connection_class=pool.connection_class, **{**pool.connection_kwargs, "db": self.staging_db}
            )
        )

    def load(self, directory: Path, *, elapsed_ms: int) -> int:
        """Empty the staging database and load the backup's keys into it; rows read."""
        self.client.flushdb()
        return import_redis(self.client, directory, elapsed_ms=elapsed_ms)

    def size(self) -> int:
        return int(self.client.dbsize())

    def swap(self) -> None:
        self.raw.swapdb(self.live_db, self.staging_db)

    def empty(self) -> None:
        self.client.flushdb()

    def close(self) -> None:
        self.client.close()
