"""Functions that run as the tables' owner look past row-level security; none may be called by
a role it was not granted to (migration 028). Trigger functions are exempt: PostgreSQL runs them
only as triggers."""

from __future__ import annotations

import psycopg
import pytest

CALLABLE_BY_PUBLIC = """
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.prosecdef AND p.prorettype <> 'trigger'::regtype
  AND (p.proacl IS NULL
       OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
ORDER BY 1
"""
DEFINERS = "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.prosecdef AND p.prorettype <> 'trigger'::regtype"


def test_no_definer_function_is_callable_by_public(jarvis) -> None:
    with jarvis.stores.postgres.pool.connection() as conn:
        assert conn.execute(DEFINERS).fetchone()[0] >= 5  # the check below looks at something
        assert conn.execute(CALLABLE_BY_PUBLIC).fetchall() == []


def test_the_api_role_cannot_ask_whether_adas_agent_exists(jarvis, settings, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-private", type="letta", owner_user_id=f"{name}-ada")
    try:
        with psycopg.connect(settings.api_postgres_conninfo) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT jarvis_node_exists('Agent', %s)", (str(agent["id"]),))
    finally:
        jarvis.delete_agent(agent["id"])
