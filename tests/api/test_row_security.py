"""PostgreSQL itself keeps users apart: connected directly as the API's user role, a session
that names no principal — or forges "all users" with set_config — sees no user-owned row, and
the role cannot become the service role. The service role sees every user's rows only when a
transaction says so."""

from __future__ import annotations

import psycopg
import pytest

from jarvis.integrations.langgraph_store import JarvisStore
from jarvis.principal import acting_as

#: Each user-owned table and the query that counts the test's rows in it (the owner's view).
OWNED = {
    "users": "SELECT count(*) FROM users WHERE id = ANY(%(users)s)",
    "conversations": "SELECT count(*) FROM conversations WHERE user_id = ANY(%(users)s)",
    "user_preferences": "SELECT count(*) FROM user_preferences WHERE user_id = ANY(%(users)s)",
    "tasks": "SELECT count(*) FROM tasks WHERE requested_by = ANY(%(users)s)",
    "agents": "SELECT count(*) FROM agents WHERE owner_user_id = ANY(%(users)s)",
    "agent_memory": "SELECT count(*) FROM agent_memory WHERE agent_id = ANY(%(agents)s::uuid[])",
    "agent_capabilities": "SELECT count(*) FROM agent_capabilities WHERE agent_id = ANY(%(agents)s::uuid[])",
    "system_events": "SELECT count(*) FROM system_events WHERE agent_id = ANY(%(agents)s::uuid[])",
    "langgraph_items": "SELECT count(*) FROM langgraph_items WHERE owner = ANY(%(users)s)",
    "erasure_receipts": "SELECT count(*) FROM erasure_receipts WHERE owner_user_id = ANY(%(users)s)",
}


@pytest.fixture(scope="module")
def owned_rows(jarvis):
    """Two users with a row in every user-owned table, written in-process for each user."""
    import uuid

    tag = f"rls{uuid.uuid4().hex[:8]}"
    users, agents = [f"{tag}-ada", f"{tag}-bob"], []
    for user in users:
        with acting_as(user):
            jarvis.upsert_user(id=user, name=user)
            jarvis.add_user_preference(user_id=user, preference_type="agent", description=f"{user} likes brevity")
            dropped = jarvis.add_user_preference(user_id=user, preference_type="agent", description="to erase")
            jarvis.delete_preference(dropped["id"], user_id=user)  # a receipt of the user's
            jarvis.append_message(session_id=f"{user}-s", role="user", content=f"{user} says hello", user_id=user)
            agent = jarvis.register_agent(
                name=f"{user}-agent",
                type="letta",
                owner_user_id=user,
                capabilities=[{"name": f"{tag}-summarise", "description": "Summaries"}],
            )
            jarvis.put_memory(agent_id=agent["id"], memory_type="core", key="k", value=f"{user}'s secret")
            jarvis.create_task(name=f"{user}-task", type="chat", requested_by=user)
            jarvis.log_event(event_type="note", source=tag, message="about the agent", agent_id=agent["id"])
            JarvisStore(jarvis, index=False).put((tag, "notes"), "k", {"text": f"{user}'s note"})
            agents.append(agent["id"])
    return {"users": users, "agents": agents}


def _counts(conn: psycopg.Connection, rows: dict) -> dict[str, int]:
    return {table: conn.execute(query, rows).fetchone()[0] for table, query in OWNED.items()}


def test_the_owner_sees_the_rows_the_api_roles_must_not(jarvis, owned_rows) -> None:
    with jarvis.stores.postgres.pool.connection() as conn:
        counts = _counts(conn, owned_rows)
    assert all(n >= 2 for n in counts.values()), counts  # the rows exist: the tests below cannot pass empty


def test_the_user_role_without_a_principal_sees_no_users_row(settings, owned_rows) -> None:
    with psycopg.connect(settings.api_postgres_conninfo) as conn:
        assert set(_counts(conn, owned_rows).values()) == {0}


@pytest.mark.parametrize(
    "forgery",
    [
        "SELECT set_config('app.all_users', 'on', false)",
        "SELECT set_config('app.all_users', 'on', true)",
        "SET app.all_users = 'on'",
        "SELECT set_config('app.current_user', '', false), set_config('app.all_users', 'on', false)",
    ],
)
def test_the_user_role_cannot_forge_every_user(settings, owned_rows, forgery) -> None:
    with psycopg.connect(settings.api_postgres_conninfo) as conn:
        conn.execute(forgery)
        assert set(_counts(conn, owned_rows).values()) == {0}


def test_the_user_role_sees_exactly_its_users_rows(settings, owned_rows) -> None:
    ada, bob = owned_rows["users"]
    with psycopg.connect(settings.api_postgres_conninfo) as conn:
        conn.execute("SELECT set_config('app.current_user', %s, true), set_config('app.all_users', 'on', true)", (ada,))
        counts = _counts(conn, owned_rows)
        assert all(n == 1 for n in counts.values()), counts  # Ada's one row per table, never Bob's
        assert conn.execute("SELECT count(*) FROM conversations WHERE user_id = %s", (bob,)).fetchone()[0] == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # nor can she write one as Bob
            conn.execute("INSERT INTO users (id) VALUES (%s)", (f"{bob}-twin",))


def test_the_user_role_cannot_become_the_service_role_or_read_keys(settings) -> None:
    with psycopg.connect(settings.api_postgres_conninfo, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET ROLE jarvis_service")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM api_keys")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE conversations DISABLE ROW LEVEL SECURITY")


def test_the_service_role_sees_every_user_only_when_it_says_so(settings, owned_rows) -> None:
    with psycopg.connect(settings.service_postgres_conninfo) as conn:
        assert set(_counts(conn, owned_rows).values()) == {0}  # fail closed: no principal named
        conn.rollback()
        conn.execute("SELECT set_config('app.all_users', 'on', true)")
        assert all(n >= 2 for n in _counts(conn, owned_rows).values())
