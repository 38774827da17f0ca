"""The live events: what ``/api/v1/live`` (WebSocket) streams and what feeds the MCP change notices.

The socket first answers :class:`LiveSubscribed`, then one :data:`LiveEvent` per event of the
chosen channels (a user-bound key gets its own user's events only). The MCP server turns the
same events into ``notifications/resources/updated`` for its resources (:mod:`jarvis.shapes.mcp`).
FastAPI does not describe WebSockets, so the app adds these shapes to ``/openapi.json``'s
components by name (:data:`LIVE_SCHEMAS`); ``docs/api.md`` shows them with examples.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, with_config
from typing_extensions import TypedDict

from jarvis.shapes.rows import OPEN, Event, Json, Timestamp, Uuid
from jarvis.vocabulary import AgentStatus, Channel

__all__ = ["AgentMessage", "LIVE_SCHEMAS", "LiveEvent", "LiveSubscribed", "StatusUpdate", "TaskAssignment"]


class LiveSubscribed(TypedDict):
    """The socket's first message: the channels it streams."""

    subscribed: list[Channel]


class StatusUpdate(TypedDict):
    """``status_update``: an agent registered or sent a heartbeat."""

    agent_id: Uuid
    status: AgentStatus


class TaskAssignment(TypedDict):
    """``task_assignment``: a task was assigned to an agent."""

    task_id: Uuid
    agent_id: Uuid


AgentMessage = with_config(OPEN)(
    TypedDict("AgentMessage", {"from": Uuid, "to": Uuid, "sent_at": Timestamp, "message": Json})
)
AgentMessage.__doc__ = (
    "A message between agents (``agent:comm:{from}:{to}``, 300 s), as received and as "
    "published on ``inter_agent_communication``."
)


def _frame(channel: Channel, data: type) -> type:
    return TypedDict(
        f"{channel.value.title().replace('_', '')}Frame",
        {  # type: ignore[misc]
            "channel": Literal[channel.value],
            "data": data,
        },
    )  # type: ignore[valid-type]


#: One event on the socket: its channel and what the channel carries.
LiveEvent = Annotated[
    Union[
        _frame(Channel.status_update, StatusUpdate),
        _frame(Channel.task_assignment, TaskAssignment),
        _frame(Channel.system_monitoring, Event),  # warning, error and critical events
        _frame(Channel.inter_agent_communication, AgentMessage),
    ],
    Field(discriminator="channel"),
]


#: The shapes ``/openapi.json`` lists for the WebSocket, by component name.
LIVE_SCHEMAS: dict[str, object] = {"LiveSubscribed": LiveSubscribed, "LiveEvent": LiveEvent}
