"""What the MCP server sends besides the REST shapes: the tools' wrappers and the resources' contents.

Each tool answers a shape of :mod:`jarvis.shapes` (its ``outputSchema``; the SDK checks the
answer against it); a tool whose REST twin answers a list wraps it in an object, since MCP's
structured content is an object. Each resource's text is the JSON of :data:`MCP_RESOURCES`;
a change arrives as ``notifications/resources/updated`` with the resource's URI, fed by the
live channels (:mod:`jarvis.shapes.live`).
"""

from __future__ import annotations

from pydantic import with_config
from typing_extensions import TypedDict

from jarvis.shapes.live import AgentMessage
from jarvis.shapes.results import AgentDetail, RecalledMemory, TaskWritten, TraversedKnowledge, LeaseOut
from jarvis.shapes.rows import OPEN, Event, Message, Task, Timestamp, Uuid
from jarvis.vocabulary import MemoryType

__all__ = ["CoreMemory", "MCP_RESOURCES", "Received", "Recalled", "Traversed", "WorkOrNone"]


class Recalled(TypedDict):
    """``recall``: an agent's memories, best first."""

    memories: list[RecalledMemory]


class Traversed(TypedDict):
    """``traverse_knowledge``: the knowledge reachable from a topic, nearest first."""

    knowledge: list[TraversedKnowledge]


class Received(TypedDict):
    """``receive_agent_messages``: oldest first; they are removed once received."""

    messages: list[AgentMessage]


class WorkOrNone(TypedDict):
    """``dequeue_task``: the task and its lease, both null when every queue is empty."""

    task: TaskWritten | None
    lease: LeaseOut | None


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


#: Each MCP resource and the JSON its text holds (notified on the channels named in
#: :mod:`jarvis.mcp_server.resources`).
MCP_RESOURCES: dict[str, object] = {
    "jarvis://agents/{agent_id}": AgentDetail,
    "jarvis://agents/{agent_id}/core-memory": list[CoreMemory],
    "jarvis://sessions/{session_id}/history": list[Message],
    "jarvis://knowledge/{topic}": list[TraversedKnowledge],
    "jarvis://tasks/{task_id}": Task,
    "jarvis://events/{severity}": list[Event],
}
