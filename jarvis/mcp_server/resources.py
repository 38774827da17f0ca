"""MCP resources: read-only context an agent can pull in, and the notice that it changed.

| resource | what it holds | updated (notified) when |
|---|---|---|
| ``jarvis://agents/{agent_id}`` | the agent's row: status, capabilities, current task | ``status_update``, ``task_assignment`` |
| ``jarvis://agents/{agent_id}/core-memory`` | the agent's core memories, most important first | (read again when needed) |
| ``jarvis://sessions/{session_id}/history`` | a session's last 50 messages, oldest first | (read again when needed) |
| ``jarvis://knowledge/{topic}`` | the knowledge around a topic (up to 3 hops) | (read again when needed) |
| ``jarvis://tasks/{task_id}`` | a task's row | ``task_assignment`` |
| ``jarvis://events/{severity}`` | the 50 latest system events of a severity (or ``any``) | ``system_monitoring`` |

Change notices come from the same Redis pub/sub channels as the live WebSocket: a client that
subscribed to a resource (``resources/subscribe``, or ``subscriptions/listen`` on the
2026-07-28 protocol) gets ``notifications/resources/updated`` with its URI. Memory, history
and knowledge writes publish no event, so those resources are not notified: read them again.
Reads run under the caller's key, as every tool does (a user-bound key sees its own
sessions only). What each resource's JSON holds: :data:`jarvis.shapes.mcp.MCP_RESOURCES`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

import mcp_types as types
import redis.asyncio as aioredis
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.subscriptions import ResourceUpdated, SubscriptionBus

from jarvis.config import Settings
from jarvis.domain.base import jsonable
from jarvis.mcp_server.access import Access, ToolFailure
from jarvis.stores.redis_keys import CHANNELS
from jarvis.vocabulary import Channel, MemoryType, Severity

logger = logging.getLogger("jarvis.mcp")

CORE_MEMORY = """
SELECT agent_id, memory_type, key, value, value_encrypted, importance, access_count, updated_at FROM agent_memory
WHERE agent_id = %(agent_id)s AND memory_type = %(memory_type)s AND (expires_at IS NULL OR expires_at > CURRENT_TIMESTAMP)
ORDER BY importance DESC, key LIMIT %(limit)s
"""
#: A session's latest messages (the history resource shows them oldest first); RLS applies.
RECENT_HISTORY = """
SELECT id, session_id, user_id, message_type, role, content, audio_file_path, agent_id, task_id, metadata, created_at
FROM conversations WHERE session_id = %(session_id)s AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
ORDER BY created_at DESC, id DESC LIMIT %(limit)s
"""
JSON = "application/json"
SEVERITIES = tuple(severity.value for severity in Severity)


def _text(value: Any) -> str:
    return json.dumps(value, default=str)


def _uuid(value: str, field: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ToolFailure("invalid_input", f"{field}: is not a valid UUID", field) from None


def register(server: MCPServer, access: Access) -> None:
    """Add the resource templates to *server*; reads go through *access* like tool calls."""
    jarvis = access.jarvis

    async def read(ctx: Context, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        return _text(await access.run(access.caller(ctx, "read"), fn, *args, **kwargs))

    @server.resource("jarvis://agents/{agent_id}", mime_type=JSON)
    async def agent(agent_id: str, ctx: Context) -> str:
        """An agent: its status, type, capabilities and configuration."""
        return await read(ctx, jarvis.get_agent, _uuid(agent_id, "agent_id"))

    @server.resource("jarvis://agents/{agent_id}/core-memory", mime_type=JSON)
    async def core_memory(agent_id: str, ctx: Context) -> str:
        """An agent's core memory: the facts it should always have in mind, most important first."""
        params = {"agent_id": str(_uuid(agent_id, "agent_id")), "memory_type": MemoryType.core, "limit": 200}
        # values encrypted at rest are opened here, as every other memory read opens them
        return await read(
            ctx, lambda: [jsonable(jarvis.memory_cipher.reveal(dict(row))) for row in jarvis._all(CORE_MEMORY, params)]
        )

    @server.resource("jarvis://sessions/{session_id}/history", mime_type=JSON)
    async def session_history(session_id: str, ctx: Context) -> str:
        """A conversation's latest 50 messages, oldest first."""
        caller = access.caller(ctx, "read")
        params = {"session_id": session_id, "user_id": caller.user_id, "limit": 50}
        rows = await access.run(caller, lambda: [jsonable(row) for row in jarvis._all(RECENT_HISTORY, params)])
        return _text(rows[::-1])

    @server.resource("jarvis://knowledge/{topic}", mime_type=JSON)
    async def knowledge_around(topic: str, ctx: Context) -> str:
        """The knowledge around a topic: its items and those related to them, up to three links away."""
        return await read(ctx, jarvis.traverse_knowledge, topic, max_hops=3, limit=50)

    @server.resource("jarvis://tasks/{task_id}", mime_type=JSON)
    async def task(task_id: str, ctx: Context) -> str:
        """A task: its status, priority, agent, attempts and output."""
        return await read(ctx, jarvis.get_task, _uuid(task_id, "task_id"))

    @server.resource("jarvis://events/{severity}", mime_type=JSON)
    async def events(severity: str, ctx: Context) -> str:
        """The 50 latest system events of a severity (debug, info, warning, error, critical; or any), newest first."""
        if severity not in ("any", *SEVERITIES):
            raise ToolFailure("invalid_input", f"severity: must be any or one of {', '.join(SEVERITIES)}", "severity")
        return await read(ctx, jarvis.list_events, severity=None if severity == "any" else severity, limit=50)


def uris_for(channel: str, data: dict) -> list[str]:
    """The resources a live event changes (the same events the live WebSocket streams)."""
    if not isinstance(data, dict):
        return []
    if channel == Channel.status_update and data.get("agent_id"):
        return [f"jarvis://agents/{data['agent_id']}"]
    if channel == Channel.task_assignment:
        return [f"jarvis://tasks/{data['task_id']}"] * bool(data.get("task_id")) + [
            f"jarvis://agents/{data['agent_id']}"
        ] * bool(data.get("agent_id"))
    if channel == Channel.system_monitoring:
        return ["jarvis://events/any"] + [f"jarvis://events/{data['severity']}"] * (data.get("severity") in SEVERITIES)
    return []


class Subscribers:
    """Sessions that asked for a resource with ``resources/subscribe`` (the pre-2026 protocols)."""

    def __init__(self) -> None:
        self._by_uri: dict[str, set[Any]] = {}

    def install(self, server: MCPServer) -> None:
        """Serve ``resources/subscribe`` and ``resources/unsubscribe`` on *server*."""

        async def subscribe(ctx: ServerRequestContext, params: types.SubscribeRequestParams) -> types.EmptyResult:
            self._by_uri.setdefault(str(params.uri), set()).add(ctx.session)
            return types.EmptyResult()

        async def unsubscribe(ctx: ServerRequestContext, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
            self._by_uri.get(str(params.uri), set()).discard(ctx.session)
            return types.EmptyResult()

        lowlevel = server._lowlevel_server  # MCPServer has no decorator for these two methods
        lowlevel.add_request_handler("resources/subscribe", types.SubscribeRequestParams, subscribe)
        lowlevel.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, unsubscribe)

    async def notify(self, uri: str) -> None:
        for session in list(self._by_uri.get(uri, ())):
            try:
                await session.send_resource_updated(uri)
            except Exception:  # the session is gone: forget it
                self._by_uri.get(uri, set()).discard(session)


async def feed(
    settings: Settings, bus: SubscriptionBus, subscribers: Subscribers, *, ready: asyncio.Event | None = None
) -> None:
    """Forward the live Redis events as resource-updated notices, until cancelled.

    Redis down is not fatal: the feed retries every second, and the tools keep working.
    """
    while True:
        client = aioredis.Redis.from_url(
            settings.redis_connection_url, decode_responses=True, socket_connect_timeout=settings.connect_timeout
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(*CHANNELS)
            if ready is not None:
                ready.set()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                try:
                    data = json.loads(message["data"])
                except (TypeError, ValueError):
                    continue
                for uri in uris_for(message["channel"], data):
                    await bus.publish(ResourceUpdated(uri=uri))
                    await subscribers.notify(uri)
        except (aioredis.RedisError, OSError) as exc:
            logger.warning("the MCP change feed lost Redis (%s); retrying in 1 s", type(exc).__name__)
            await asyncio.sleep(1.0)
        finally:
            try:
                await pubsub.aclose()
                await client.aclose()
            except Exception:
                pass
