"""The Python client over a real socket, the live WebSocket, /metrics, and the demo end to end."""

from __future__ import annotations

import asyncio
import json

import pytest

from jarvis.client import AsyncJarvisClient, JarvisClient
from jarvis.errors import InvalidInput, LeaseLost, NotFound, Unauthorized


def test_the_sync_client_covers_an_agents_day(server, make_key, name) -> None:
    key = make_key("read", "write")["X-API-Key"]
    with JarvisClient(server, api_key=key) as api:
        agent = api.register_agent(
            name=f"{name}-client",
            type="letta",
            capabilities=[{"name": f"{name}-poetry", "description": "Write short poems"}],
        )
        api.put_memory(agent["id"], "core", "style", "Prefers haiku about the sea")
        assert api.get_memory(agent["id"], "core", "style")["value"] == "Prefers haiku about the sea"
        assert api.recall(agent["id"], "what kind of verse is liked")[0]["key"] == "style"
        api.create_task(name=f"{name}-poem", type="chat", priority=10)
        got = api.dequeue_task(worker=f"{name}-worker")
        while got["task"]["name"] != f"{name}-poem":
            api.complete_task(got["lease"])
            got = api.dequeue_task(worker=f"{name}-worker")
        assert api.complete_task(got["lease"], output={"poem": "waves"})["status"] == "completed"
        with pytest.raises(LeaseLost):
            api.complete_task(got["lease"])
        with pytest.raises(InvalidInput) as bad:
            api.create_task(name="x", type="chat", priority=11)
        assert bad.value.field == "priority"
        with pytest.raises(NotFound):
            api.get_agent("00000000-0000-0000-0000-000000000000")
    with JarvisClient(server, api_key="jm_bad_key") as stranger, pytest.raises(Unauthorized):
        stranger.list_agents()


def test_the_async_client_searches_and_ranks(server, make_key, name) -> None:
    key = make_key("read", "write")["X-API-Key"]

    async def scenario() -> tuple[dict, dict]:
        async with AsyncJarvisClient(server, api_key=key) as api:
            item = await api.add_knowledge(
                topic=f"{name}-async", content="Bees communicate the location of flowers by dancing."
            )
            try:
                return await asyncio.gather(
                    api.search(query="how do honey insects tell each other where food is", scopes=["knowledge"]),
                    api.health(),
                )
            finally:
                await api.delete_knowledge(item["id"])

    found, health = asyncio.run(scenario())
    assert found["results"][0]["item"]["topic"] == f"{name}-async"
    assert health["status"] == "ok"


def test_live_updates_stream_published_messages(api, make_key, jarvis) -> None:
    headers = make_key("read")
    with api.websocket_connect("/api/v1/live?channels=status_update", headers=headers) as ws:
        assert ws.receive_json() == {"subscribed": ["status_update"]}
        jarvis.publish("status_update", {"agent_id": "a1", "status": "busy"})
        assert ws.receive_json() == {"channel": "status_update", "data": {"agent_id": "a1", "status": "busy"}}


def test_live_updates_need_a_key(api) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as closed, api.websocket_connect("/api/v1/live") as ws:
        ws.send_text("hello")  # no header, and a first message that is not {"api_key": ...}
        ws.receive_json()
    assert closed.value.code == 4401


def test_metrics_are_prometheus_text(api, make_key) -> None:
    headers = make_key("read")
    api.get("/api/v1/agents", headers=headers)
    text = api.get("/metrics", headers=headers).text
    for metric in (
        "jarvis_http_requests_total",
        "jarvis_http_request_duration_seconds_bucket",
        "jarvis_outbox_pending_events",
        "jarvis_task_queue_length",
        'jarvis_store_up{store="neo4j"} 1.0',
    ):
        assert metric in text


def test_the_demo_runs_end_to_end_and_finds_what_it_should(settings) -> None:
    # In this process: Qdrant Edge belongs to one process, and the test session holds it.
    from jarvis import demo

    report = demo.run(settings)
    assert "Best agent for" in demo.render(report) and json.loads(demo.main_json(report)) == report
    run = report["run_id"]
    assert report["built"]["agents"] == 12
    assert report["best_agent"]["ranking"][0]["name"].startswith("voyager-")  # earlier demo worlds stay
    top = report["search"]["results"][0]["text"]
    assert any(words in top for words in ("checkout page is timing out", "retry storm", "retry immediately"))
    assert [(r["topic"], r["hops"]) for r in report["traversal"]["reached"]] == [
        (f"retry-storms-{run}", 1),
        (f"exponential-backoff-{run}", 2),
        (f"circuit-breakers-{run}", 3),
    ]
    assert report["collaborations"]["history"] == [
        {"with": f"forge-{run}", "count": 2},
        {"with": f"probe-{run}", "count": 1},
    ]
    assert report["health"]["status"] == "ok"


def test_the_demo_command_can_drive_a_running_api(server, make_key, jarvis_cli) -> None:
    key = make_key("read", "write")["X-API-Key"]
    result = jarvis_cli("demo", "--url", server, "--api-key", key, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Best agent for" in result.stdout and "voyager-" in result.stdout
