"""An agent uses its memory through MCP: the SDK's client over stdio (`jarvis mcp`) and over
HTTP (`/mcp` in `jarvis serve`), against the real stores."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile

import httpx
import mcp_types as types

from tests.mcp_server.conftest import call, http_session, stdio_parameters, stdio_session

TOOLS = {
    "remember",
    "remember_message",
    "recall",
    "search",
    "forget",
    "add_knowledge",
    "relate_knowledge",
    "traverse_knowledge",
    "best_agent",
    "create_task",
    "dequeue_task",
    "complete_task",
    "fail_task",
    "send_agent_message",
    "receive_agent_messages",
    "store_health",
}


async def an_agents_day(session, agent_id: str, name: str, cleanup: list) -> None:
    """What every transport must carry: tools listed, remember → recall, knowledge, a task, bad input."""
    listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert TOOLS <= set(listed)
    assert all(listed[tool].description and listed[tool].input_schema.get("properties") is not None for tool in TOOLS)
    assert listed["remember"].input_schema["properties"]["agent_id"]["format"] == "uuid"

    stored = await call(
        session,
        "remember",
        agent_id=agent_id,
        key="drink",
        memory_type="core",
        value="Ada drinks green tea with jasmine every morning",
    )
    assert stored.get("key") == "drink" and stored["lagging"] == [], stored
    recalled = await call(session, "recall", agent_id=agent_id, query="which beverage does the customer like")
    assert recalled["memories"][0]["key"] == "drink"
    core = await session.read_resource(f"jarvis://agents/{agent_id}/core-memory")
    assert [m["key"] for m in json.loads(core.contents[0].text)] == ["drink"]

    octopus = await call(
        session,
        "add_knowledge",
        topic=f"{name}-octopus",
        agent_id=agent_id,
        content="An octopus has three hearts and blue blood.",
    )
    hemocyanin = await call(
        session,
        "add_knowledge",
        topic=f"{name}-hemocyanin",
        content="Hemocyanin, a copper protein, carries oxygen in the blood of molluscs.",
    )
    cleanup += [octopus["id"], hemocyanin["id"]]
    await call(session, "relate_knowledge", knowledge_id=octopus["id"], related_id=hemocyanin["id"])
    around = await call(session, "traverse_knowledge", topic=f"{name}-octopus")
    assert f"{name}-hemocyanin" in {k.get("topic") for k in around["knowledge"]}
    found = await call(session, "search", query="which sea animal has more than one heart", scopes=["knowledge"])
    assert f"{name}-octopus" in [hit["item"]["topic"] for hit in found["results"][:3]]

    created = await call(session, "create_task", name=f"{name}-poem", type="chat", priority=10)
    job = await call(session, "dequeue_task", worker=f"{name}-worker")
    while job["task"]["id"] != created["id"]:  # tasks other tests left queued go first
        await call(session, "complete_task", lease=job["lease"])
        job = await call(session, "dequeue_task", worker=f"{name}-worker")
    done = await call(session, "complete_task", lease=job["lease"], output={"poem": "waves"})
    assert done["status"] == "completed"
    again = await call(session, "complete_task", lease=job["lease"])
    assert again["error"]["code"] == "lease_lost"

    bad = await call(session, "remember", agent_id="not-a-uuid", key="k", value="v")
    assert bad["error"]["code"] == "invalid_input" and bad["error"]["field"] == "agent_id"
    assert bad["error"]["message"].startswith("agent_id: ")
    too_high = await call(session, "create_task", name=f"{name}-x", type="chat", priority=11)
    assert too_high["error"]["field"] == "priority"
    no_lease = await call(session, "complete_task", lease={"task_id": created["id"], "queue": "nope", "token": "t"})
    assert no_lease["error"]["field"] == "lease.queue"

    forgotten = await call(session, "forget", agent_id=agent_id, memory_type="core", key="drink")
    assert forgotten["deleted"] is True
    assert (await call(session, "recall", agent_id=agent_id, query="tea"))["memories"] == []


def test_an_agent_remembers_and_recalls_over_http(server, jarvis, make_key, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-http", type="letta")
    key = make_key("read", "write")["X-API-Key"]

    async def scenario() -> None:
        async with http_session(server, key) as session:
            await an_agents_day(session, agent["id"], name, cleanup)
            health = await call(session, "store_health")
            assert health["status"] in ("ok", "degraded") and {s["store"] for s in health["stores"]} >= {"postgres"}

    cleanup: list[str] = []
    try:
        asyncio.run(scenario())
    finally:
        for knowledge_id in cleanup:
            jarvis.delete_knowledge(knowledge_id)


def test_an_agent_remembers_and_recalls_over_stdio(stack, jarvis, make_key, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-stdio", type="letta")
    key = make_key("read", "write")["X-API-Key"]

    async def scenario() -> None:
        with tempfile.TemporaryFile("w+") as errlog:
            async with stdio_session(key, errlog) as session:
                await an_agents_day(session, agent["id"], name, cleanup)

    cleanup: list[str] = []
    try:
        asyncio.run(scenario())
    finally:
        for knowledge_id in cleanup:
            jarvis.delete_knowledge(knowledge_id)


def test_a_user_bound_key_reaches_only_its_users_data_through_mcp(server, make_key, name) -> None:
    ada = make_key("read", "write", user=f"{name}-ada")["X-API-Key"]
    bob = make_key("read", "write", user=f"{name}-bob")["X-API-Key"]
    secret = "Ada's locker code is hidden under the blue ceramic teapot"

    async def scenario() -> None:
        async with http_session(server, ada) as session:
            written = await call(session, "remember_message", session_id=f"{name}-s1", role="user", content=secret)
            assert written["user_id"] == f"{name}-ada"
            mine = await call(session, "search", query="where is the locker code kept", scopes=["conversations"])
            assert secret in [hit["item"]["content"] for hit in mine["results"]]  # her own data IS returned
            history = await session.read_resource(f"jarvis://sessions/{name}-s1/history")
            assert [m["content"] for m in json.loads(history.contents[0].text)] == [secret]
        async with http_session(server, bob) as session:
            theirs = await call(session, "search", query="where is the locker code kept", scopes=["conversations"])
            assert secret not in [hit["item"]["content"] for hit in theirs["results"]]
            spoofed = await call(
                session, "search", query="locker code", scopes=["conversations"], user_id=f"{name}-ada"
            )
            assert spoofed["error"]["code"] == "forbidden" and spoofed["error"]["field"] == "user_id"
            as_ada = await call(
                session, "remember_message", session_id=f"{name}-s1", role="user", content="hi", user_id=f"{name}-ada"
            )
            assert as_ada["error"]["code"] == "forbidden"
            history = await session.read_resource(f"jarvis://sessions/{name}-s1/history")
            assert json.loads(history.contents[0].text) == []

    asyncio.run(scenario())


def test_mcp_without_a_valid_key_is_refused(server, make_key) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "stranger", "version": "0"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    with httpx.Client(base_url=server) as http:
        missing = http.post("/mcp", json=initialize, headers=accept)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
        wrong = http.post("/mcp", json=initialize, headers={**accept, "X-API-Key": "jm_abc_notakey"})
        assert wrong.status_code == 401
        backup_only = http.post("/mcp", json=initialize, headers={**accept, **make_key("backup")})
        assert backup_only.status_code == 403 and "read" in backup_only.json()["error"]["message"]
        allowed = http.post("/mcp", json=initialize, headers={**accept, **make_key("read")})
        assert allowed.status_code == 200  # the same request with a key is served


def test_jarvis_mcp_refuses_to_start_without_a_valid_key(stack) -> None:
    def jarvis_mcp(key: str | None) -> subprocess.CompletedProcess[str]:
        parameters = stdio_parameters(key)
        environment = {**{k: v for k, v in os.environ.items() if k != "JARVIS_API_KEY"}, **parameters.env}
        return subprocess.run(
            [parameters.command, *parameters.args],
            env=environment,
            cwd=parameters.cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    missing = jarvis_mcp(None)
    assert missing.returncode == 2 and "JARVIS_API_KEY" in missing.stderr and missing.stdout == ""
    refused = jarvis_mcp("jm_0123456789ab_not-a-real-key")
    assert refused.returncode == 1 and "not a valid" in refused.stderr and refused.stdout == ""


def test_a_read_only_key_cannot_write_through_mcp(server, jarvis, make_key, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-ro", type="letta")

    async def scenario() -> dict:
        async with http_session(server, make_key("read")["X-API-Key"]) as session:
            return await call(session, "remember", agent_id=agent["id"], key="k", value="v")

    refused = asyncio.run(scenario())
    assert refused["error"]["code"] == "forbidden" and "write" in refused["error"]["message"]


def test_subscribers_hear_when_an_agent_changes(server, jarvis, make_key, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-watched", type="letta")
    uri = f"jarvis://agents/{agent['id']}"

    async def scenario() -> None:
        heard = asyncio.Event()

        async def on_message(message) -> None:
            if (
                isinstance(message, types.ServerNotification)
                and isinstance(message, types.ResourceUpdatedNotification)
                and str(message.params.uri) == uri
            ):
                heard.set()

        async with http_session(server, make_key("read")["X-API-Key"], on_message=on_message) as session:
            await session.subscribe_resource(uri)
            await asyncio.to_thread(jarvis.heartbeat, agent["id"], status="updating")
            await asyncio.wait_for(heard.wait(), timeout=30)
            current = await session.read_resource(uri)
            assert json.loads(current.contents[0].text)["status"] == "updating"

    asyncio.run(scenario())


def test_the_2026_protocol_listens_for_changes_and_calls_tools(server, jarvis, make_key, name) -> None:
    """A client on the newest protocol (no handshake, `subscriptions/listen`) gets the same service."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.subscriptions import ResourceUpdated

    agent = jarvis.register_agent(name=f"{name}-modern", type="letta")
    uri = f"jarvis://agents/{agent['id']}"
    key = make_key("read")["X-API-Key"]

    async def scenario() -> tuple[str, dict, object]:
        async with httpx2.AsyncClient(headers={"X-API-Key": key}, timeout=60) as http:
            async with Client(streamable_http_client(f"{server}/mcp", http_client=http)) as client:
                found = await client.call_tool("recall", {"agent_id": agent["id"], "query": "anything"})
                async with client.listen(resource_subscriptions=[uri]) as subscription:
                    await asyncio.to_thread(jarvis.heartbeat, agent["id"], status="updating")
                    event = await asyncio.wait_for(subscription.__anext__(), timeout=30)
                return client.protocol_version, found.structured_content, event

    version, found, event = asyncio.run(scenario())
    assert version >= "2026-07-28" and found == {"memories": []}
    assert event == ResourceUpdated(uri=uri)
