"""The live events: what ``/api/v1/live`` (WebSocket) streams and what feeds the MCP change notices.

The socket first answers :class:`LiveSubscribed`, then one :data:`LiveEvent` per event of the
chosen channels (a user-bound key gets its own user's events only). The MCP server turns the
same events into ``notifications/resources/updated`` for the resources in :data:`MCP_RESOURCES`.
FastAPI does not describe WebSockets, so the app adds these shapes to ``/openapi.json``'s
components by name (:data:`LIVE_SCHEMAS`); ``docs/api.md`` shows them with examples.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, with_config
from typing_extensions import TypedDict

from jarvis.shapes.results import AgentDetail, TraversedKnowledge
from jarvis.shapes.rows import OPEN, Event, Json, Message, Task, Timestamp, Uuid
from jarvis.vocabulary import Channel, MemoryType

__all__ = [
    "AgentMessage", "CoreMemory", "LIVE_SCHEMAS", "LiveEvent", "LiveSubscribed", "MCP_RESOURCES", "StatusUpdate",
    "TaskAssignment",
]


class LiveSubscribed(TypedDict):
    """The socket's first message: the channels it streams."""

    subscribed: list[Channel]


class StatusUpdate(TypedDict):
    """``status_update``: an agent registered or sent a heartbeat."""

    agent_id: Uuid
    status: str


class TaskAssignment(TypedDict):
    """``task_assignment``: a task was assigned to an agent."""

    task_id: Uuid
    agent_id: Uuid


AgentMessage = with_config(OPEN)(TypedDict("AgentMessage", {
    "from": Uuid, "to": Uuid, "sent_at": Timestamp, "message": Json}))
AgentMessage.__doc__ = ("A message between agents (``agent:comm:{from}:{to}``, 300 s), as received and as "
                        "published on ``inter_agent_communication``.")


def _frame(channel: Channel, data: type) -> type:
    return TypedDict(f"{channel.value.title().replace('_', '')}Frame", {  # type: ignore[misc]
        "channel": Literal[channel.value], "data": data})  # type: ignore[valid-type]


#: One event on the socket: its channel and what the channel carries.
LiveEvent = Annotated[Union[
    _frame(Channel.status_update, StatusUpdate),
    _frame(Channel.task_assignment, TaskAssignment),
    _frame(Channel.system_monitoring, Event),  # warning, error and critical events
    _frame(Channel.inter_agent_communication, AgentMessage),
], Field(discriminator="channel")]


@with_config(OPEN)
class CoreMemory(TypedDict):
    """An entry of ``jarvis://agents/{agent_id}/core-memory``."""

    agent_id: Uuid
    memory_type: MemoryType
    key: str
    value: str
    importance: float
    access_count: int
    updated_at: Timestamp


#: Each MCP resource and the JSON its text holds (updated on the channels named in
#: :mod:`jarvis.mcp_server.resources`).
MCP_RESOURCES: dict[str, object] = {
    "jarvis://agents/{agent_id}": AgentDetail,
    "jarvis://agents/{agent_id}/core-memory": list[CoreMemory],
    "jarvis://sessions/{session_id}/history": list[Message],
    "jarvis://knowledge/{topic}": list[TraversedKnowledge],
    "jarvis://tasks/{task_id}": Task,
    "jarvis://events/{severity}": list[Event],
}

#: The shapes ``/openapi.json`` lists for the WebSocket, by component name.
LIVE_SCHEMAS: dict[str, object] = {"LiveSubscribed": LiveSubscribed, "LiveEvent": LiveEvent}
