"""Bad input over HTTP: a 4xx that names the field, one error shape, never a 500."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(scope="module")
def writer(make_key):
    return make_key("read", "write")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "t", "type": "chat", "priority": 11}, "priority"),
        ({"name": "t", "type": "chat", "priority": "high"}, "priority"),
        ({"type": "chat"}, "name"),
        ({"name": "t", "type": "telepathy"}, "type"),
        ({"name": "t", "type": "chat", "depends_on": ["not-a-uuid"]}, "depends_on.0"),
        ({"name": "t", "type": "chat", "surprise": 1}, "surprise"),
    ],
)
def test_task_bodies_are_checked_field_by_field(api, writer, body: dict, field: str) -> None:
    response = api.post("/api/v1/tasks", headers=writer, json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["field"] == field


def test_an_unknown_agent_id_is_a_clear_4xx(api, writer) -> None:
    response = api.put(f"/api/v1/memory/{uuid.uuid4()}/core/k", headers=writer, json={"value": "v"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "agent_id"
    missing = api.get(f"/api/v1/agents/{uuid.uuid4()}", headers=writer)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_malformed_json_and_invalid_utf8_are_400(api, writer) -> None:
    broken = api.post("/api/v1/tasks", headers={**writer, "Content-Type": "application/json"}, content=b'{"name": ')
    assert broken.status_code == 400 and broken.json()["error"]["field"] == "body"
    latin = api.post(
        "/api/v1/tasks",
        headers={**writer, "Content-Type": "application/json"},
        content=b'{"name": "caf\xe9", "type": "chat"}',
    )
    assert 400 <= latin.status_code < 500 and "error" in latin.json()


def test_an_oversized_body_is_413(api, writer) -> None:
    response = api.post("/api/v1/knowledge", headers=writer, json={"topic": "big", "content": "x" * 2_000_000})
    assert response.status_code == 413 and response.json()["error"]["field"] == "body"


def test_sql_and_cypher_in_strings_come_back_literally(api, writer, name) -> None:
    nasty = "Robert'); DROP TABLE agents;-- MATCH (n) DETACH DELETE n // ${x} \\u0000?"
    created = api.post("/api/v1/agents", headers=writer, json={"name": f"{name} {nasty}", "type": "letta"})
    assert created.status_code == 201, created.text
    fetched = api.get(f"/api/v1/agents/{created.json()['id']}", headers=writer).json()
    assert fetched["name"] == f"{name} {nasty}"
    assert api.get("/api/v1/agents", headers=writer).status_code == 200  # the table is still there


def test_a_worker_finishes_a_task_over_http_and_a_stale_lease_is_409(api, writer, name) -> None:
    api.post("/api/v1/tasks", headers=writer, json={"name": f"{name}-http", "type": "chat", "priority": 10})
    delivered = None
    while True:  # earlier tests may have left tasks queued; drain up to ours
        got = api.post("/api/v1/tasks/dequeue", headers=writer, json={"worker": "http-worker"}).json()
        assert got is not None
        if got["task"]["name"] == f"{name}-http":
            delivered = got
            break
        api.post(f"/api/v1/tasks/{got['task']['id']}/complete", headers=writer, json={"lease": got["lease"]})
    task_id = delivered["task"]["id"]
    done = api.post(
        f"/api/v1/tasks/{task_id}/complete",
        headers=writer,
        json={"lease": delivered["lease"], "output": {"answer": 42}, "execution_time_ms": 5},
    )
    assert done.status_code == 200 and done.json()["status"] == "completed"
    again = api.post(f"/api/v1/tasks/{task_id}/complete", headers=writer, json={"lease": delivered["lease"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "lease_lost"


def test_lists_are_filtered_and_paginated(api, writer, name) -> None:
    for n in range(3):
        api.post(
            "/api/v1/events",
            headers=writer,
            json={"event_type": "task_complete", "source": name, "message": f"done {n}", "severity": "info"},
        )
    page = api.get("/api/v1/events", headers=writer, params={"source": name, "limit": 2}).json()
    rest = api.get("/api/v1/events", headers=writer, params={"source": name, "limit": 2, "offset": 2}).json()
    assert [e["message"] for e in page + rest] == ["done 2", "done 1", "done 0"]
    assert api.get("/api/v1/events", headers=writer, params={"limit": 0}).json()["error"]["field"] == "limit"


def test_knowledge_can_be_added_without_waiting_for_its_projection(api, writer, api_jarvis) -> None:
    response = api.post(
        "/api/v1/knowledge?wait=false",
        headers=writer,
        json={"topic": "api-no-wait", "content": "Parcels to Iceland take nine days."},
    )
    assert response.status_code == 201 and response.json()["projected"] is False
    api_jarvis.flush(timeout=30)
    assert api.delete(f"/api/v1/knowledge/{response.json()['id']}", headers=writer).status_code in (200, 204)
