"""Migrations: a new database gets the whole schema; re-running changes nothing; history is kept honest."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import psycopg.sql
import pytest

from jarvis.config import Settings
from jarvis.errors import MigrationError, StoreUnavailable
from jarvis.migrate import discover, migrate_postgres
from jarvis.paths import MIGRATIONS_DIR

SEED_TABLES = {
    "agents",
    "tasks",
    "conversations",
    "models",
    "agent_collaborations",
    "system_events",
    "performance_metrics",
    "improvement_logs",
    "agent_memory",
}
RECORD_TABLES = {
    "users",
    "capabilities",
    "agent_capabilities",
    "knowledge",
    "code_snippets",
    "task_patterns",
    "user_preferences",
    "graph_edges",
    "outbox",
}
SEED_INDEXES = {
    "idx_agent_status",
    "idx_agent_type",
    "idx_task_status",
    "idx_task_agent",
    "idx_task_priority",
    "idx_conv_session",
    "idx_conv_user",
    "idx_conv_created",
    "idx_conversations_text_search",
    "idx_model_type",
    "idx_model_status",
    "idx_collab_task",
    "idx_collab_coordinator",
    "idx_event_type",
    "idx_event_severity",
    "idx_event_created",
    "idx_metric_type",
    "idx_metric_agent",
    "idx_metric_created",
    "idx_improve_type",
    "idx_improve_applied",
    "idx_memory_agent",
    "idx_memory_type",
    "idx_memory_key",
    "idx_memory_importance",
    "idx_tasks_status_priority",
    "idx_memory_embedding",
}
VECTOR_COLUMNS = {
    ("agent_memory", "embedding"),
    ("conversations", "embedding"),
    ("agent_capabilities", "embedding"),
    ("knowledge", "embedding"),
    ("code_snippets", "embedding"),
    ("task_patterns", "embedding"),
    ("user_preferences", "embedding"),
}


@pytest.fixture
def migrated(fresh_database: str) -> str:
    migrate_postgres(fresh_database)
    return fresh_database


def test_a_new_database_gets_every_migration_and_a_second_run_is_a_no_op(fresh_database: str) -> None:
    applied = migrate_postgres(fresh_database)
    assert applied == [m.name for m in discover()]
    assert applied[:2] == ["001_initial_schema.sql", "002_partitioning.sql"]
    assert migrate_postgres(fresh_database) == []
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute("SELECT version, checksum FROM schema_migrations ORDER BY version").fetchall()
    assert [(v, c) for v, c in rows] == [(m.version, m.checksum) for m in discover()]


def test_a_migration_changed_after_it_was_applied_is_refused(fresh_database: str, tmp_path: Path) -> None:
    for path in MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, tmp_path / path.name)
    migrate_postgres(fresh_database, directory=tmp_path)
    tampered = tmp_path / "001_initial_schema.sql"
    tampered.write_text(tampered.read_text() + "\n-- a quiet edit\n")
    with pytest.raises(MigrationError, match=r"001_initial_schema\.sql was changed after it was applied"):
        migrate_postgres(fresh_database, directory=tmp_path)


def test_a_failing_migration_is_rolled_back_whole_and_not_recorded(fresh_database: str, tmp_path: Path) -> None:
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE first_table (id int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT no_such_function();")
    with pytest.raises(MigrationError, match="002_broken.sql failed and was rolled back"):
        migrate_postgres(fresh_database, directory=tmp_path)
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT to_regclass('first_table') IS NOT NULL").fetchone()[0]
        assert conn.execute("SELECT to_regclass('half_done') IS NULL").fetchone()[0]
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations")] == ["001"]


def test_a_misnamed_migration_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "1_initial.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNN_lowercase_name.sql"):
        discover(tmp_path)


def test_every_table_index_trigger_and_extension_exists(migrated: str) -> None:
    with psycopg.connect(migrated) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")} | {
            r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relkind = 'p'")
        }
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
        triggers = {r[0] for r in conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        extensions = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
        vectors = {
            (r[0], r[1])
            for r in conn.execute(
                "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE format_type(a.atttypid, a.atttypmod) = 'vector(384)' AND c.relkind IN ('r', 'p')"
            )
        }
        unique = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'agent_memory_agent_type_key'"
        ).fetchone()[0]
        hnsw = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_memory_embedding'").fetchone()[0]
    assert SEED_TABLES | RECORD_TABLES <= tables
    assert SEED_INDEXES <= indexes
    assert {"update_agents_updated_at", "update_agent_memory_updated_at"} <= triggers
    assert {"vector", "pg_trgm"} <= extensions
    assert VECTOR_COLUMNS <= vectors
    assert unique == "UNIQUE (agent_id, memory_type, key)"
    assert "hnsw" in hnsw and "vector_cosine_ops" in hnsw


def test_updated_at_moves_when_an_agent_changes(migrated: str) -> None:
    with psycopg.connect(migrated) as conn:
        agent_id, created = conn.execute(
            "INSERT INTO agents (name, type) VALUES ('scribe', 'letta') RETURNING id, updated_at"
        ).fetchone()
        conn.commit()
        updated = conn.execute(
            "UPDATE agents SET status = 'active' WHERE id = %s RETURNING updated_at", (agent_id,)
        ).fetchone()[0]
    assert updated > created


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("INSERT INTO tasks (name, type, priority) VALUES ('t', 'chat', 11)", "tasks_priority_check"),
        ("INSERT INTO tasks (name, type, priority) VALUES ('t', 'chat', 0)", "tasks_priority_check"),
        ("INSERT INTO tasks (name, type, status) VALUES ('t', 'chat', 'sleeping')", "tasks_status_check"),
        ("INSERT INTO tasks (name, type) VALUES ('t', 'telepathy')", "tasks_type_check"),
        ("INSERT INTO agents (name, type, status) VALUES ('a', 'letta', 'asleep')", "agents_status_check"),
        ("INSERT INTO models (name, type, provider) VALUES ('m', 'oracle', 'local')", "models_type_check"),
        (
            "INSERT INTO system_events (source, message, severity, event_type) VALUES ('s', 'm', 'loud', 'x')",
            "system_events_severity_check",
        ),
        (
            "INSERT INTO conversations (session_id, message_type, role, content) VALUES ('s', 'text', 'robot', 'hi')",
            "conversations_role_check",
        ),
    ],
)
def test_check_constraints_reject_values_outside_the_seed_enumerations(
    migrated: str, statement: str, constraint: str
) -> None:
    with psycopg.connect(migrated) as conn, pytest.raises(psycopg.errors.CheckViolation, match=constraint):
        conn.execute(statement)


@pytest.mark.parametrize(
    ("memory_type", "importance", "constraint"),
    [("core", 2, "agent_memory_importance_check"), ("dream", 0.5, "agent_memory_type_check")],
)
def test_agent_memory_rejects_out_of_range_importance_and_unknown_types(
    migrated: str, memory_type: str, importance: float, constraint: str
) -> None:
    with psycopg.connect(migrated) as conn:
        agent_id = conn.execute("INSERT INTO agents (name, type) VALUES ('m', 'letta') RETURNING id").fetchone()[0]
        with pytest.raises(psycopg.errors.CheckViolation, match=constraint):
            conn.execute(
                "INSERT INTO agent_memory (agent_id, key, value, memory_type, importance) "
                "VALUES (%s, 'k', 'v', %s, %s)",
                (agent_id, memory_type, importance),
            )


def _partition_of(conn: psycopg.Connection, table: str, row_id: object) -> str:
    query = psycopg.sql.SQL("SELECT tableoid::regclass::text FROM {} WHERE id = %s").format(
        psycopg.sql.Identifier(table)
    )
    return conn.execute(query, (row_id,)).fetchone()[0]


def test_a_row_lands_in_its_month_and_a_far_future_row_in_the_default_partition(migrated: str) -> None:
    now = datetime.now(timezone.utc)
    far = now.replace(year=now.year + 20)
    with psycopg.connect(migrated) as conn:
        for table, insert in {
            "conversations": "INSERT INTO conversations (session_id, message_type, role, content, created_at) "
            "VALUES ('s1', 'text', 'user', 'hello', %s) RETURNING id",
            "system_events": "INSERT INTO system_events (event_type, source, message, created_at) "
            "VALUES ('agent_start', 'test', 'started', %s) RETURNING id",
            "performance_metrics": "INSERT INTO performance_metrics (metric_type, source, value, created_at) "
            "VALUES ('latency', 'test', 12.5, %s) RETURNING id",
        }.items():
            current = conn.execute(insert, (now,)).fetchone()[0]
            future = conn.execute(insert, (far,)).fetchone()[0]
            assert _partition_of(conn, table, current) == f"{table}_{now:%Y_%m}"
            assert _partition_of(conn, table, future) == f"{table}_default"


def test_creating_a_months_partition_moves_its_rows_out_of_the_default(migrated: str) -> None:
    month = datetime(2031, 5, 14, 9, 30, tzinfo=timezone.utc)
    with psycopg.connect(migrated) as conn:
        row = conn.execute(
            "INSERT INTO system_events (event_type, source, message, created_at) "
            "VALUES ('warning', 'test', 'early', %s) RETURNING id",
            (month,),
        ).fetchone()[0]
        assert _partition_of(conn, "system_events", row) == "system_events_default"
        created = [r[0] for r in conn.execute("SELECT jarvis_create_monthly_partitions(1, %s)", (month,))]
        assert "system_events_2031_05" in created and "conversations_2031_06" in created
        assert _partition_of(conn, "system_events", row) == "system_events_2031_05"
        again = conn.execute("SELECT count(*) FROM jarvis_create_monthly_partitions(1, %s)", (month,)).fetchone()[0]
        assert again == 0
        nxt = month + timedelta(days=31)
        assert conn.execute("SELECT count(*) FROM system_events WHERE created_at >= %s", (nxt,)).fetchone()[0] == 0


def test_migrating_an_unreachable_postgres_says_so(settings: Settings) -> None:
    nowhere = settings.model_copy(update={"postgres_port": 1})
    with pytest.raises(StoreUnavailable, match="postgres: not reachable"):
        migrate_postgres(nowhere.postgres_conninfo)


def test_deleting_an_agent_detaches_every_row_that_names_it_in_every_partition(migrated: str) -> None:
    """019: no reference to agents blocks its delete (partitions too, also a month created later);
    a detached message, fact or snippet gets an outbox event so the projections follow."""
    month = datetime(2032, 3, 3, tzinfo=timezone.utc)
    with psycopg.connect(migrated) as conn:
        conn.execute("SELECT jarvis_create_monthly_partitions(0, %s)", (month,))
        blocking = conn.execute(
            "SELECT conrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid = 'agents'::regclass AND confdeltype NOT IN ('n', 'c')"
        ).fetchall()
        assert blocking == []
        agent = conn.execute("INSERT INTO agents (name, type) VALUES ('gone', 'letta') RETURNING id").fetchone()[0]
        message = conn.execute(
            "INSERT INTO conversations (session_id, user_id, message_type, role, content, agent_id, created_at) "
            "VALUES ('s', 'bob', 'text', 'user', 'hi', %s, %s) RETURNING id::text",
            (agent, month),
        ).fetchone()[0]
        assert _partition_of(conn, "conversations", message) == "conversations_2032_03"
        task = conn.execute(
            "INSERT INTO tasks (name, type, agent_id, requested_by) VALUES ('t', 'chat', %s, 'bob') RETURNING id",
            (agent,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO system_events (event_type, source, message, agent_id, created_at) "
            "VALUES ('agent_start', 'test', 'up', %s, %s)",
            (agent, month),
        )
        conn.execute("DELETE FROM agents WHERE id = %s", (agent,))
        assert conn.execute("SELECT agent_id, content FROM conversations WHERE id = %s", (message,)).fetchone() == (
            None,
            "hi",
        )
        assert conn.execute("SELECT agent_id, requested_by FROM tasks WHERE id = %s", (task,)).fetchone() == (
            None,
            "bob",
        )
        assert conn.execute("SELECT count(*) FROM system_events WHERE agent_id IS NULL").fetchone()[0] == 1
        queued = conn.execute(
            "SELECT entity, entity_id, pending_stores FROM outbox WHERE payload ->> 'detached_from' = %s", (str(agent),)
        ).fetchall()
        assert queued == [("conversation", message, ["chroma"])]


def test_the_keyword_indexes_keep_a_short_pending_list(jarvis) -> None:
    """Every search through a GIN index reads its pending list first: the keyword ranking's
    indexes merge it every 64 kB (020, 021), not every 4 MB, so a search right after a bulk ingest
    is not several times slower."""
    with jarvis.stores.postgres.pool.connection() as conn:
        rows = conn.execute(
            "SELECT c.relname, c.reloptions FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_attribute a ON a.attrelid = t.oid "
            "AND a.attnum = ANY(i.indkey) WHERE a.attname = 'search_tsv' AND c.relkind = 'i'"
        ).fetchall()
    short = {name for name, options in rows if "gin_pending_list_limit=64" in (options or [])}
    assert {"idx_knowledge_search_tsv", "idx_code_search_tsv", "idx_memory_search_tsv"} <= short
    # each conversations partition's, whenever it was created (020, 021: a partitioned index
    # takes no storage parameter)
    partitions = {name for name, _ in rows if name.startswith("conversations_")}
    assert partitions and partitions <= short


#: Each GIN index of a conversations partition: (partition, index, storage parameters).
PARTITION_GIN_INDEXES = (
    "SELECT t.relname, c.relname, c.reloptions FROM pg_inherits p JOIN pg_class t ON t.oid = p.inhrelid "
    "JOIN pg_index i ON i.indrelid = p.inhrelid JOIN pg_class c ON c.oid = i.indexrelid "
    "JOIN pg_am a ON a.oid = c.relam WHERE p.inhparent = 'conversations'::regclass AND a.amname = 'gin' "
    "AND t.relname = ANY(%s)"
)


def _gin_options(conn: psycopg.Connection, partitions: list[str]) -> dict[str, list[str]]:
    """index -> storage parameters, for every GIN index of *partitions*; each partition must have one."""
    rows = conn.execute(PARTITION_GIN_INDEXES, (partitions,)).fetchall()
    assert partitions and {partition for partition, _, _ in rows} == set(partitions), rows  # never vacuous
    return {index: options or [] for _, index, options in rows}


def test_months_created_later_keep_a_short_pending_list_on_their_gin_indexes(migrated: str) -> None:
    """021: the function that creates the months sets gin_pending_list_limit on each new
    conversations partition's GIN indexes (a partitioned index has no storage parameter to
    inherit), and is still SECURITY INVOKER with no search_path of its own."""
    month = datetime(2033, 11, 20, tzinfo=timezone.utc)
    with psycopg.connect(migrated) as conn:
        created = [r[0] for r in conn.execute("SELECT jarvis_create_monthly_partitions(3, %s)", (month,))]
        months = [p for p in created if p.startswith("conversations_")]
        assert months == [
            "conversations_2033_11",
            "conversations_2033_12",
            "conversations_2034_01",
            "conversations_2034_02",
        ]
        options = _gin_options(conn, months)
        assert all("gin_pending_list_limit=64" in o for o in options.values()), options
        definer, config = conn.execute(
            "SELECT prosecdef, proconfig FROM pg_proc WHERE oid = "
            "'jarvis_create_monthly_partitions(integer, timestamptz)'::regprocedure"
        ).fetchone()
    assert (definer, config) == (False, None)


def test_021_gives_partitions_created_after_020_the_short_pending_list(fresh_database: str, tmp_path: Path) -> None:
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name < "021":
            shutil.copy(path, tmp_path / path.name)
    migrate_postgres(fresh_database, directory=tmp_path)
    month = datetime(2035, 2, 1, tzinfo=timezone.utc)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("SELECT jarvis_create_monthly_partitions(1, %s)", (month,))  # 012's function
        later = ["conversations_2035_02", "conversations_2035_03"]
        assert not any("gin_pending_list_limit=64" in o for o in _gin_options(conn, later).values())
        shutil.copy(MIGRATIONS_DIR / "021_partition_gin_pending_lists.sql", tmp_path)
        assert migrate_postgres(fresh_database, directory=tmp_path) == ["021_partition_gin_pending_lists.sql"]
        options = _gin_options(conn, [*later, "conversations_default"])
    assert all("gin_pending_list_limit=64" in o for o in options.values()), options
