"""The API through real outages: PostgreSQL stopped, Redis stopped, on a real socket with
keep-alive connections, as a client sees it."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from jarvis import local
from jarvis.api.server import running_server
from jarvis.stores import redis_keys as keys


@pytest.fixture
def server(settings, api_jarvis):
    with running_server(settings, jarvis=api_jarvis, run_projector=False) as url:
        yield url


def test_with_postgres_stopped_every_keyed_route_answers_503_fast_and_the_same_connection_works_after(
    settings, server, make_key, jarvis, api_jarvis, name
) -> None:
    writer = make_key("read", "write")
    unused = make_key("read")  # never seen by the server: its check needs PostgreSQL
    with httpx.Client(base_url=server, timeout=30, limits=httpx.Limits(max_connections=1)) as client:
        agent = client.post("/api/v1/agents", headers=writer, json={"name": name, "type": "t"})
        assert agent.status_code == 201
        agent_id = agent.json()["id"]
        requests = [
            ("GET", f"/api/v1/agents/{agent_id}", writer, None),
            ("GET", "/api/v1/agents", writer, None),
            ("POST", "/api/v1/tasks", writer, {"name": f"{name}-t", "type": "chat"}),
            ("PUT", f"/api/v1/memory/{agent_id}/core/k", writer, {"value": "v"}),
            ("GET", f"/api/v1/conversations/{name}", writer, None),
            ("GET", f"/api/v1/agents/{agent_id}", unused, None),
        ]
        local.down(settings, ["postgres"])
        try:
            for method, path, headers, body in requests:
                started = time.monotonic()
                response = client.request(method, path, headers=headers, json=body)
                elapsed = time.monotonic() - started
                assert response.status_code == 503, (path, response.text)
                assert response.headers["Retry-After"].isdigit()
                assert response.json()["error"]["code"] == "store_unavailable"
                assert elapsed <= settings.connect_timeout + 1.0, (path, elapsed)
        finally:
            local.up(settings, ["postgres"])
        back = client.get(f"/api/v1/agents/{agent_id}", headers=writer)  # the same keep-alive connection
        assert back.status_code == 200 and back.json()["name"] == name
    for facade in (jarvis, api_jarvis):  # the session's other pools meet the restart too
        facade.stores.check_postgres()


def test_with_redis_stopped_agent_reads_answer_with_the_live_status_marked_missing(
    settings, api, make_key, name
) -> None:
    reader = make_key("read", "write")
    agent = api.post("/api/v1/agents", headers=reader, json={"name": name, "type": "t"}).json()
    local.down(settings, ["redis"])
    try:
        one = api.get(f"/api/v1/agents/{agent['id']}", headers=reader)
        assert one.status_code == 200, one.text
        assert one.json()["name"] == name and one.json()["live_status"] is None
        assert one.json()["degraded"] == ["redis"]
        page = api.get("/api/v1/agents", headers=reader, params={"type": "t", "limit": 1000})
        assert page.status_code == 200 and agent["id"] in {a["id"] for a in page.json()}
    finally:
        local.up(settings, ["redis"])
    live = api.get(f"/api/v1/agents/{agent['id']}", headers=reader).json()
    assert live["degraded"] == [] and live["live_status"]["status"] == "active" or live["live_status"] is None


def test_the_server_queues_a_task_redis_missed_by_itself_within_seconds(settings, api_jarvis, make_key, name) -> None:
    writer = make_key("read", "write")
    with (
        running_server(settings, jarvis=api_jarvis, run_projector=True) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        local.down(settings, ["redis"])
        try:
            created = client.post("/api/v1/tasks", headers=writer, json={"name": name, "type": "chat"})
            assert created.status_code == 201 and "redis" in created.json()["lagging"]
        finally:
            local.up(settings, ["redis"])
        task_id = created.json()["id"]
        redis = api_jarvis.stores.redis.conn
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if any(task_id in redis.lrange(queue, 0, -1) for queue in keys.QUEUES):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the server did not queue the task again within 15 s")
        client.post(f"/api/v1/tasks/{task_id}/cancel", headers=writer)
    assert uuid.UUID(task_id)
