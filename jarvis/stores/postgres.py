"""PostgreSQL + pgvector: the system of record.

A psycopg 3 connection pool; pgvector's types are registered on every new connection
once the ``vector`` extension exists (the migrations create it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool, PoolTimeout

from jarvis.config import Settings
from jarvis.errors import StoreUnavailable
from jarvis.stores.base import Health, measure

logger = logging.getLogger("jarvis.stores.postgres")

STORE = "postgres"
VERSION_QUERY = "SELECT current_setting('server_version')"


def _configure(conn: psycopg.Connection) -> None:
    """Register pgvector's adapters when the extension is there (not yet before migrate)."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        register_vector(conn)
    conn.commit()


BEGIN, COMMIT, ROLLBACK = "BEGIN", "COMMIT", "ROLLBACK"


def _roll_back(conn: psycopg.Connection) -> None:
    """End a failed transaction of :meth:`PostgresStore.transaction` (a failed statement leaves
    an explicit transaction block open and aborted); a dead connection is left to the pool."""
    if conn.closed or conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    try:
        conn.execute(ROLLBACK)
    except psycopg.Error:
        pass


def _give_back(pool: ConnectionPool, conn: psycopg.Connection) -> None:
    """Return *conn* as the pool's other users expect it (not autocommit)."""
    try:
        if not conn.closed:
            conn.autocommit = False
    except psycopg.Error:
        pass  # a broken connection: the pool discards it
    pool.putconn(conn)


class PostgresStore:
    """The pool every Postgres operation borrows from. ``close()`` twice is harmless."""

    def __init__(self, pool: ConnectionPool, *, timeout: float = 3.0) -> None:
        self.pool = pool
        self.timeout = timeout

    @classmethod
    def connect(cls, settings: Settings, *, min_size: int = 1, conninfo: str | None = None,
                wait: bool = True) -> "PostgresStore":
        """Open the pool (as the owner, or as *conninfo* says); with *wait*, wait for one working
        connection (a server passes False so it can start, and report 503, while Postgres is down).

        Raises:
            StoreUnavailable: Postgres did not answer within the connect timeout.
        """
        pool = ConnectionPool(
            conninfo or settings.postgres_conninfo,
            min_size=min_size,
            max_size=max(min_size, settings.postgres_pool_max),
            configure=_configure,
            timeout=settings.connect_timeout * 2,
            # A pool retries a lost connection with a doubling backoff until this timeout; kept
            # short, the next request after an outage starts a fresh attempt at once instead of
            # waiting out a backoff grown during the outage (which made it fail after PG returned).
            reconnect_timeout=settings.connect_timeout,
            name="jarvis",
            open=False,
        )
        try:
            pool.open(wait=wait, timeout=settings.connect_timeout * 2)
        except (psycopg.Error, PoolTimeout) as exc:
            pool.close()
            raise StoreUnavailable(STORE, f"cannot connect: {type(exc).__name__}") from None
        return cls(pool, timeout=settings.connect_timeout)

    @contextmanager
    def transaction(self, scope: Callable[[psycopg.Connection], None] | None = None) -> Iterator[psycopg.Connection]:
        """A pooled connection in one transaction, in pipeline mode, committed on success.

        ``BEGIN``, *scope* (the row-level-security settings), the statements and ``COMMIT`` are
        queued and sent with one sync when the block ends: a short write whose results are read
        after the block (``Base._write``), or a read fetched after it (``Base._all``), is one
        round trip. (psycopg's own ``transaction()`` in pipeline mode syncs after ``BEGIN`` and
        again before ``COMMIT``: three round trips, each a wait for the server to be scheduled on
        a busy machine.) So the connection runs in autocommit mode with ``BEGIN``/``COMMIT`` sent
        as statements; a statement that fails aborts the rest, and the transaction is rolled
        back. A statement whose result the block reads syncs there, as before. COPY and
        server-side cursors do not work here (use ``pool.connection()`` for those).
        """
        conn = self.pool.getconn(timeout=self.timeout)
        conn.autocommit = True  # client-side only: psycopg then sends no BEGIN (nor a sync) of its own
        try:
            try:
                with conn.pipeline():
                    conn.execute(BEGIN)
                    if scope is not None:
                        scope(conn)
                    yield conn
                    conn.execute(COMMIT)
            except BaseException:
                _roll_back(conn)
                raise
        except psycopg.OperationalError:
            # The server went away (or restarted): the other idle connections are as dead as
            # this one. Drop them now, so the request after PostgreSQL returns succeeds.
            _give_back(self.pool, conn)
            conn = None
            self.check_idle()
            raise
        finally:
            if conn is not None:
                _give_back(self.pool, conn)

    def check_idle(self) -> None:
        """Replace idle connections that no longer work (after an outage); never raises."""
        try:
            self.pool.check()
        except Exception:  # noqa: BLE001 - a check during an outage may fail; the pool reconnects later
            logger.debug("checking idle connections failed", exc_info=True)

    def close(self) -> None:
        self.pool.close()

    def reset(self) -> None:
        """Replace every pooled connection (after a restore recreated the schema and its types)."""
        self.pool.close()
        self.pool = ConnectionPool(self.pool.conninfo, min_size=self.pool.min_size, max_size=self.pool.max_size,
                                   configure=_configure, timeout=self.pool.timeout, name=self.pool.name, open=True,
                                   reconnect_timeout=self.pool.reconnect_timeout)

    def health(self) -> Health:
        def query() -> str:
            with self.pool.connection(timeout=self.timeout) as conn:
                return str(conn.execute(VERSION_QUERY).fetchone()[0])

        return measure(STORE, query)


def probe(settings: Settings) -> Health:
    """A one-off connection and a real query, for ``jarvis status`` and ``jarvis up``."""

    def query() -> str:
        with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
            return str(conn.execute(VERSION_QUERY).fetchone()[0])

    return measure(STORE, query)
