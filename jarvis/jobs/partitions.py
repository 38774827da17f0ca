"""Monthly partitions ahead of time, and rows that fell into the DEFAULT partitions."""

from __future__ import annotations

from psycopg import sql

from jarvis.connections import Stores

CREATE_AHEAD = "SELECT jarvis_create_monthly_partitions(%s)"
PARTITIONED = ("conversations", "system_events", "performance_metrics")


def ensure_partitions(stores: Stores, *, ahead: int = 3) -> tuple[list[str], dict[str, int]]:
    """Create this month's and *ahead* months' partitions; return (created, rows per default partition)."""
    with stores.postgres.pool.connection() as conn:
        created = [row[0] for row in conn.execute(CREATE_AHEAD, (ahead,))]
        in_default = {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(f"{table}_default"))
            ).fetchone()[0]
            for table in PARTITIONED
        }
    return created, in_default
