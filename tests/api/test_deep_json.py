"""JSON nested 300 levels deep is refused in every JSON field, before anything is written.

Without a limit PostgreSQL stores it and every later read of the row answers 500 (the API's
serialiser stops at its own depth): a row that cannot be read back must never be committed.
"""

from __future__ import annotations

import uuid

import pytest

DEPTH = 300


def deep(levels: int = DEPTH) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


@pytest.fixture(scope="module")
def writer(make_key):
    return make_key("read", "write", "admin")


@pytest.fixture(scope="module")
def agent(api, writer) -> str:
    response = api.post("/api/v1/agents", headers=writer, json={"name": f"deep-{uuid.uuid4().hex[:8]}", "type": "t"})
    assert response.status_code == 201
    return response.json()["id"]


LEASE = {"task_id": "00000000-0000-0000-0000-000000000001", "queue": "task:queue:high", "token": "x"}

#: (method, path, body, the field the 422 must name, SQL counting what a write would have left).
CASES = [
    (
        "post",
        "/api/v1/agents",
        lambda n: {"name": n, "type": "t", "configuration": deep()},
        "configuration",
        "SELECT count(*) FROM agents WHERE name = %(n)s",
    ),
    (
        "post",
        "/api/v1/agents",
        lambda n: {"name": n, "type": "t", "resources": deep()},
        "resources",
        "SELECT count(*) FROM agents WHERE name = %(n)s",
    ),
    (
        "patch",
        "/api/v1/agents/{agent}/configuration",
        lambda n: {n: deep()},
        "configuration",
        "SELECT count(*) FROM agents WHERE configuration ? %(n)s",
    ),
    ("post", "/api/v1/agents/{agent}/heartbeat", lambda n: {"resource_usage": {n: deep()}}, "resource_usage", None),
    (
        "post",
        "/api/v1/models",
        lambda n: {"name": n, "type": "llm", "provider": "p", "parameters": deep()},
        "parameters",
        "SELECT count(*) FROM models WHERE name = %(n)s",
    ),
    (
        "post",
        "/api/v1/tasks",
        lambda n: {"name": n, "type": "chat", "input_data": deep()},
        "input_data",
        "SELECT count(*) FROM tasks WHERE name = %(n)s",
    ),
    (
        "post",
        "/api/v1/tasks/" + LEASE["task_id"] + "/complete",
        lambda n: {"lease": LEASE, "output": deep()},
        "output",
        "SELECT count(*) FROM tasks WHERE output_data::text LIKE '%%' || %(n)s || '%%'",
    ),
    ("post", "/api/v1/tasks/" + LEASE["task_id"] + "/fail", lambda n: {"lease": LEASE, "error": deep()}, "error", None),
    (
        "post",
        "/api/v1/conversations/messages",
        lambda n: {"session_id": n, "role": "user", "content": "hi", "metadata": deep()},
        "metadata",
        "SELECT count(*) FROM conversations WHERE session_id = %(n)s",
    ),
    (
        "put",
        "/api/v1/users/{name}",
        lambda n: {"name": n, "preferences": deep()},
        "preferences",
        "SELECT count(*) FROM users WHERE id = %(n)s",
    ),
    (
        "post",
        "/api/v1/users/{name}/preferences",
        lambda n: {"preference_type": "agent", "description": n, "value": deep()},
        "value",
        "SELECT count(*) FROM user_preferences WHERE description = %(n)s",
    ),
    (
        "post",
        "/api/v1/collaborations",
        lambda n: {
            "coordinator_agent_id": LEASE["task_id"],
            "participant_agent_ids": [LEASE["task_id"]],
            "collaboration_type": "parallel",
            "workflow": {n: deep()},
        },
        "workflow",
        "SELECT count(*) FROM agent_collaborations WHERE workflow ? %(n)s",
    ),
    (
        "post",
        "/api/v1/events",
        lambda n: {"event_type": n, "source": "s", "message": "m", "details": deep()},
        "details",
        "SELECT count(*) FROM system_events WHERE event_type = %(n)s",
    ),
    (
        "post",
        "/api/v1/performance-metrics",
        lambda n: {"metric_type": "latency", "source": n, "value": 1.0, "metadata": deep()},
        "metadata",
        "SELECT count(*) FROM performance_metrics WHERE source = %(n)s",
    ),
    (
        "post",
        "/api/v1/improvements",
        lambda n: {"improvement_type": "optimization", "target": n, "before_state": deep()},
        "before_state",
        "SELECT count(*) FROM improvement_logs WHERE target = %(n)s",
    ),
    (
        "post",
        "/api/v1/improvements",
        lambda n: {"improvement_type": "optimization", "target": n, "after_state": deep()},
        "after_state",
        "SELECT count(*) FROM improvement_logs WHERE target = %(n)s",
    ),
    ("post", "/api/v1/messages/{agent}/{agent}", lambda n: {n: deep()}, "message", None),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "count"), CASES, ids=[f"{c[0]} {c[1]} {c[3]}" for c in CASES]
)
def test_json_nested_300_levels_is_refused_naming_the_field_and_nothing_is_written(
    api, jarvis, writer, agent, name, method, path, body, field, count
) -> None:
    response = api.request(method.upper(), path.format(agent=agent, name=name), headers=writer, json=body(name))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["field"].split(".")[-1] == field
    if count:
        with jarvis.stores.postgres.pool.connection() as conn:
            assert conn.execute(count, {"n": name}).fetchone()[0] == 0


def test_json_at_the_limit_is_stored_and_read_back(api, writer, name) -> None:
    from jarvis.json_bounds import MAX_JSON_DEPTH

    created = api.post(
        "/api/v1/agents", headers=writer, json={"name": name, "type": "t", "configuration": deep(MAX_JSON_DEPTH - 1)}
    )
    assert created.status_code == 201, created.text
    again = api.get(f"/api/v1/agents/{created.json()['id']}", headers=writer)
    assert again.status_code == 200 and again.json()["configuration"] == deep(MAX_JSON_DEPTH - 1)


def test_a_json_field_over_the_size_limit_is_refused(api, writer, name) -> None:
    response = api.post(
        "/api/v1/tasks", headers=writer, json={"name": name, "type": "chat", "input_data": {"blob": "x" * 70_000}}
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "input_data"
