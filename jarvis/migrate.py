"""Schema migrations: numbered plain-SQL files for Postgres, then the graph and vector schemas.

Each SQL file runs in its own transaction and is recorded in ``schema_migrations`` with a
SHA-256 of its text. Re-running is a no-op; a file changed after it was applied is refused
(write a new migration instead). An advisory lock keeps two migrators from racing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
import psycopg.sql

from jarvis.config import Settings
from jarvis.errors import MigrationError
from jarvis.paths import MIGRATIONS_DIR
from jarvis.stores.base import map_unavailable

logger = logging.getLogger("jarvis.migrate")

_FILE_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
#: Any constant works; it only has to be the same for every migrator.
_ADVISORY_LOCK_KEY = 0x4A415256  # "JARV"

CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
)
"""
SELECT_APPLIED = "SELECT version, name, checksum FROM schema_migrations"
INSERT_APPLIED = "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; a misnamed or duplicate file is an error."""
    found: dict[str, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name!r} is not named NNN_lowercase_name.sql")
        version = match.group(1)
        if version in found:
            raise MigrationError(f"two migrations share version {version}: {found[version].name}, {path.name}")
        found[version] = Migration(version=version, name=path.name, path=path)
    return [found[v] for v in sorted(found)]


def migrate_postgres(conninfo: str, *, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations in order; return the names applied (empty when up to date).

    Raises:
        MigrationError: an applied file changed, or a migration failed (it is rolled back
            and the ones after it are not attempted).
    """
    migrations = discover(directory)
    applied_now: list[str] = []
    with map_unavailable("postgres", psycopg.OperationalError):
        conn = psycopg.connect(conninfo, autocommit=True)
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_KEY,))
        try:
            conn.execute(CREATE_LEDGER)
            applied = {row[0]: (row[1], row[2]) for row in conn.execute(SELECT_APPLIED)}
            for migration in migrations:
                if migration.version in applied:
                    _refuse_if_changed(migration, *applied[migration.version])
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.sql)
                        conn.execute(INSERT_APPLIED, (migration.version, migration.name, migration.checksum))
                except psycopg.Error as exc:
                    raise MigrationError(f"{migration.name} failed and was rolled back: {exc}") from None
                logger.info("applied migration %s", migration.name)
                applied_now.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_KEY,))
    return applied_now


def _refuse_if_changed(migration: Migration, name: str, checksum: str) -> None:
    if checksum != migration.checksum:
        raise MigrationError(
            f"migration {name} was changed after it was applied "
            f"(recorded sha256 {checksum[:12]}…, file now {migration.checksum[:12]}…); "
            "restore the file and put the change in a new migration"
        )


SET_API_PASSWORD = "ALTER ROLE {} WITH LOGIN PASSWORD {}"


def grant_api_login(settings: Settings) -> None:
    """Let the API's two roles (user-bound and service) log in with the passwords from the
    settings (idempotent)."""
    logins = [
        (user, password)
        for user, password in (
            (settings.api_db_user, settings.api_db_password),
            (settings.service_db_user, settings.service_db_password),
        )
        if password is not None
    ]
    if not logins:
        return
    with map_unavailable("postgres", psycopg.OperationalError):
        with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
            for user, password in logins:
                conn.execute(
                    psycopg.sql.SQL(SET_API_PASSWORD).format(
                        psycopg.sql.Identifier(user), psycopg.sql.Literal(password.get_secret_value())
                    )
                )


def migrate_all(settings: Settings) -> dict[str, object]:
    """Postgres migrations, then Neo4j constraints, Chroma and Qdrant collections.

    Every step is idempotent. Returns what each store did, for the CLI to print.
    """
    from jarvis.stores.chroma import ChromaStore
    from jarvis.stores.neo4j import Neo4jStore
    from jarvis.stores.qdrant import QdrantStore

    report: dict[str, object] = {"postgres": migrate_postgres(settings.postgres_conninfo)}
    grant_api_login(settings)
    neo4j = Neo4jStore.connect(settings)
    try:
        report["neo4j"] = f"{neo4j.apply_schema()} schema statements"
    finally:
        neo4j.close()
    chroma = ChromaStore.connect(settings)
    try:
        report["chroma"] = chroma.ensure_collections()
    finally:
        chroma.close()
    qdrant = QdrantStore.connect(settings)
    try:
        report["qdrant"] = qdrant.ensure_collections()
    finally:
        qdrant.close()
    return report
