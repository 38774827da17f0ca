"""PostgreSQL + pgvector: the system of record.

A psycopg 3 connection pool; pgvector's types are registered on every new connection
once the ``vector`` extension exists (the migrations create it).

:meth:`PostgresStore.transaction` translates the server's errors into ours by SQLSTATE and
diagnostic fields, never by reading the English message: a unique or foreign-key violation
names its columns through the constraint (looked up once in ``pg_constraint``), a bad value
names ``diag.column_name``, a lost connection is :class:`~jarvis.errors.StoreUnavailable`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from pgvector.psycopg import register_vector
from psycopg import errors as sqlstate
from psycopg_pool import ConnectionPool, PoolTimeout

from jarvis.config import Settings
from jarvis.errors import Conflict, Forbidden, InvalidInput, JarvisError, StoreTimeout, StoreUnavailable
from jarvis.stores.base import Health, StoreName, measure

logger = logging.getLogger("jarvis.stores.postgres")

STORE = StoreName.POSTGRES
VERSION_QUERY = "SELECT current_setting('server_version')"
#: Every unique, primary-key and foreign-key constraint: its table, its columns in order, and
#: (a foreign key) the table it references. What names the field of a violation.
CONSTRAINTS = """
SELECT c.conrelid::regclass::text, c.conname, CASE WHEN c.contype = 'f' THEN c.confrelid::regclass::text END,
       array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(num, pos)
             JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.pos)
FROM pg_constraint AS c WHERE c.contype IN ('f', 'u', 'p')
"""
#: The column that names a row's owner, for a write row-level security refused (42501).
OWNER_COLUMNS = {
    "conversations": "user_id",
    "users": "id",
    "user_preferences": "user_id",
    "tasks": "requested_by",
    "agents": "owner_user_id",
    "agent_capabilities": "agent_id",
    "agent_memory": "agent_id",
    "system_events": "agent_id",
}
# PostgreSQL reports a row-level-security refusal with no diagnostic field naming the table
# (ExecWithCheckOptions sets none), so this one error is read from its primary message.
_POLICY_TABLE = re.compile(r'row-level security policy (?:"[^"]*" )?for table "([^"]+)"')
#: SQLSTATEs of a value PostgreSQL cannot take (bad text for its type, an unencodable character, a
#: number out of range): the column is in ``diag.column_name`` when PostgreSQL knows it.
_BAD_VALUES = (
    sqlstate.InvalidTextRepresentation,
    sqlstate.CharacterNotInRepertoire,
    sqlstate.UntranslatableCharacter,
    sqlstate.NumericValueOutOfRange,
)


@dataclass(frozen=True, slots=True)
class Constraint:
    columns: tuple[str, ...]
    referenced: str | None  # a foreign key's target table


def _configure(conn: psycopg.Connection) -> None:
    """Register pgvector's adapters when the extension is there (not yet before migrate), and
    prepare no statement on the server: in pipeline mode (:meth:`PostgresStore.transaction`) a
    statement that fails makes the server skip what follows it up to the sync, the ``Parse`` of
    a statement psycopg was preparing included, and psycopg then believes it prepared: the next
    use of that statement on this connection fails with "prepared statement does not exist"
    (seen in the relate-versus-delete race drill). Parsing each time costs tens of microseconds."""
    conn.prepare_threshold = None
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
        self._constraints: dict[tuple[str, str], Constraint] | None = None
        self._catalog_lock = threading.Lock()

    @classmethod
    def connect(
        cls, settings: Settings, *, min_size: int = 1, conninfo: str | None = None, wait: bool = True
    ) -> "PostgresStore":
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

        Raises:
            StoreUnavailable: no connection within the timeout, or the server went away.
            InvalidInput, Conflict, Forbidden: the server refused a statement (see :meth:`translate`).
        """
        try:
            conn: psycopg.Connection | None = self.pool.getconn(timeout=self.timeout)
        except PoolTimeout:
            raise StoreUnavailable(STORE, "no connection available (is PostgreSQL up?)") from None
        assert conn is not None
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
        except sqlstate.QueryCanceled as exc:  # statement_timeout: the server is fine, the connection too
            _give_back(self.pool, conn)
            conn = None
            raise self.translate(exc) from None
        except psycopg.OperationalError as exc:
            # The server went away (or restarted): the other idle connections are as dead as
            # this one. Drop them now, so the request after PostgreSQL returns succeeds.
            _give_back(self.pool, conn)
            conn = None
            self.check_idle()
            raise StoreUnavailable(STORE, type(exc).__name__) from None
        except psycopg.Error as exc:
            _give_back(self.pool, conn)
            conn = None
            raise self.translate(exc) from None
        finally:
            if conn is not None:
                _give_back(self.pool, conn)

    def translate(self, exc: psycopg.Error) -> JarvisError:
        """Our error for a statement PostgreSQL refused, by SQLSTATE and diagnostic fields.

        A foreign-key violation is :class:`InvalidInput` naming the referencing column(s); a
        unique violation :class:`Conflict` naming the key's columns; a row-level-security refusal
        :class:`Forbidden` naming the table's owner column (a trigger's refusal, 42501 with a column:
        that column and its message); a check violation or a value the
        column cannot hold :class:`InvalidInput`. Anything else stays a :class:`JarvisError`
        carrying the SQLSTATE.
        """
        diag = exc.diag
        if isinstance(exc, sqlstate.QueryCanceled):  # statement_timeout (a search's): 503, never 500
            return StoreTimeout(STORE, "the statement ran longer than its timeout")
        if isinstance(exc, sqlstate.InsufficientPrivilege):  # a write row-level security refused
            if diag.column_name:  # a trigger's refusal names its column and says why (migrations 026, 027)
                return Forbidden(diag.column_name, diag.message_primary or "refers to data of another user")
            found = _POLICY_TABLE.search(diag.message_primary or "")
            return Forbidden(
                OWNER_COLUMNS.get(found.group(1), "user_id") if found else "user_id", "refers to data of another user"
            )
        if isinstance(exc, sqlstate.ForeignKeyViolation):
            constraint = self.constraint(diag.table_name, diag.constraint_name)
            field = ", ".join(constraint.columns) if constraint else diag.column_name or "value"
            target = constraint.referenced if constraint and constraint.referenced else "referenced"
            return InvalidInput(field, f"refers to a {target} row that does not exist")
        if isinstance(exc, sqlstate.UniqueViolation):
            constraint = self.constraint(diag.table_name, diag.constraint_name)
            return Conflict(
                ", ".join(constraint.columns) if constraint else diag.column_name or "value", "already exists"
            )
        if isinstance(exc, sqlstate.CheckViolation):
            return InvalidInput(diag.constraint_name or "value", "is out of range")
        if isinstance(exc, _BAD_VALUES):
            return InvalidInput(diag.column_name or "value", _first_line(exc))
        if isinstance(exc, psycopg.DataError):  # e.g. a NUL byte, which PostgreSQL text cannot hold
            return InvalidInput("value", _first_line(exc))
        return JarvisError(f"{STORE}: {exc.sqlstate or type(exc).__name__}: {_first_line(exc)}")

    def constraint(self, table: str | None, name: str | None) -> Constraint | None:
        """The columns (and referenced table) of constraint *name* on *table*, from the catalog
        (read once per pool; None when PostgreSQL named no constraint)."""
        if not table or not name:
            return None
        with self._catalog_lock:
            if self._constraints is None or (table, name) not in self._constraints:
                with self.pool.connection(timeout=self.timeout) as conn:
                    self._constraints = {
                        (t, n): Constraint(tuple(columns), referenced)
                        for t, n, referenced, columns in conn.execute(CONSTRAINTS)
                    }
            return self._constraints.get((table, name))

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
        self.pool = ConnectionPool(
            self.pool.conninfo,
            min_size=self.pool.min_size,
            max_size=self.pool.max_size,
            configure=_configure,
            timeout=self.pool.timeout,
            name=self.pool.name,
            open=True,
            reconnect_timeout=self.pool.reconnect_timeout,
        )

    def health(self) -> Health:
        def query() -> str:
            with self.pool.connection(timeout=self.timeout) as conn:
                return _version(conn)

        return measure(STORE, query)


def _version(conn: psycopg.Connection) -> str:
    row = conn.execute(VERSION_QUERY).fetchone()
    return str(row[0]) if row else "?"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def probe(settings: Settings) -> Health:
    """A one-off connection and a real query, for ``jarvis status`` and ``jarvis up``."""

    def query() -> str:
        with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
            return _version(conn)

    return measure(STORE, query)
