"""The MCP tools: what an agent can do with its memory, in the words an agent would use.

Each tool is a thin call into the facade (:mod:`jarvis.facade`) under the caller's key (see
:mod:`jarvis.mcp_server.access`); its parameters reuse the constrained types of
:mod:`jarvis.schemas`, so the JSON schema an MCP client sees carries the same limits the REST
API enforces, and the facade validates again before anything is written. Reads need the
``read`` scope, everything else ``write`` — the same split as the REST routes.
"""

# No `from __future__ import annotations`: the SDK reads these signatures to build each tool's schema.

from datetime import datetime
from typing import Annotated
from uuid import UUID

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

from jarvis.api.routes.health import report_of
from jarvis.api.routes.tasks import LeaseIn
from jarvis.domain.tasks import Lease
from jarvis.mcp_server.access import Access, user_for
from jarvis.schemas import Identifier, JsonObject, Name, Priority, Text, Unit
from jarvis.shapes import (
    BestAgents,
    HealthReport,
    KnowledgeWritten,
    MemoryDeleted,
    MemoryWritten,
    MessageWritten,
    Queued,
    Received,
    Recalled,
    Relationship,
    SearchResults,
    TaskCreated,
    TaskWritten,
    Traversed,
    WorkOrNone,
)
from jarvis.stores.redis_queue import Delivery
from jarvis.vocabulary import DEFAULT_SCOPES, MemoryType, MessageRole, MessageType, SearchScope, TaskType

AgentId = Annotated[UUID, Field(description="The agent's id (a UUID)")]
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
DELETES = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)


def _lease(lease: LeaseIn) -> Lease:
    delivery = Delivery(task_id=str(lease.task_id), queue=lease.queue, token=lease.token)
    return Lease(
        task={},
        delivery=delivery,
        agent_id=str(lease.agent_id) if lease.agent_id else None,
        lock_holder=lease.lock_holder,
    )


def register(server: MCPServer, access: Access) -> None:
    """Add every tool to *server*; each call is authorized and run through *access*."""
    jarvis = access.jarvis

    @server.tool(annotations=WRITES)
    async def remember(
        ctx: Context,
        agent_id: AgentId,
        key: Name,
        value: Text,
        memory_type: Annotated[
            MemoryType,
            Field(
                description=(
                    "core: always-relevant facts; recall: things to find by meaning later; archival: "
                    "long-term records; working: scratch that expires after an hour"
                )
            ),
        ] = MemoryType.recall,
        importance: Unit = 0.5,
        expires_at: datetime | None = None,
    ) -> MemoryWritten:
        """Store (or replace) one memory of an agent under a key. It is embedded once, so `recall` finds
        it later by meaning, not only by its words."""
        caller = access.caller(ctx, "write")
        return await access.run(
            caller,
            jarvis.put_memory,
            agent_id=agent_id,
            memory_type=memory_type,
            key=key,
            value=value,
            importance=importance,
            expires_at=expires_at,
        )

    @server.tool(annotations=WRITES)
    async def remember_message(
        ctx: Context,
        session_id: Identifier,
        role: MessageRole,
        content: Text,
        user_id: Identifier | None = None,
        agent_id: UUID | None = None,
        task_id: UUID | None = None,
        message_type: MessageType = MessageType.text,
        metadata: JsonObject | None = None,
    ) -> MessageWritten:
        """Append one message to a conversation (a session's history). A key bound to a user writes only
        as that user; `search` with the conversations scope finds the message by meaning."""
        caller = access.caller(ctx, "write")
        return await access.run(
            caller,
            jarvis.append_message,
            session_id=session_id,
            role=role,
            content=content,
            user_id=user_for(caller, user_id),
            agent_id=agent_id,
            task_id=task_id,
            message_type=message_type,
            metadata=metadata or {},
        )

    @server.tool(annotations=READ_ONLY)
    async def recall(
        ctx: Context,
        agent_id: AgentId,
        query: Text,
        limit: Annotated[int, Field(ge=1, le=100)] = 5,
        memory_type: MemoryType | None = None,
    ) -> Recalled:
        """An agent's memories closest in meaning to `query` (best first, each with its score)."""
        caller = access.caller(ctx, "read")
        found = await access.run(caller, jarvis.recall, agent_id, query, limit=limit, memory_type=memory_type)
        return {"memories": found}

    @server.tool(annotations=READ_ONLY)
    async def search(
        ctx: Context,
        query: Text,
        scopes: Annotated[
            list[SearchScope], Field(min_length=1, description=("where to look; the memory scope needs agent_id"))
        ] = list(DEFAULT_SCOPES),
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        agent_id: UUID | None = None,
        user_id: Annotated[
            Identifier | None, Field(description=("only this user's conversations and preferences"))
        ] = None,
    ) -> SearchResults:
        """Semantic search across scopes (knowledge, conversations, code snippets, agent capabilities, task
        patterns, user preferences, an agent's memory): hits merged best first, each with its scope,
        score and row; `degraded` lists stores that were down (answered from PostgreSQL instead)."""
        caller = access.caller(ctx, "read")
        return await access.run(
            caller,
            jarvis.search,
            query=query,
            scopes=scopes,
            limit=limit,
            agent_id=agent_id,
            user_id=user_for(caller, user_id),
        )

    @server.tool(annotations=DELETES)
    async def forget(ctx: Context, agent_id: AgentId, memory_type: MemoryType, key: Name) -> MemoryDeleted:
        """Delete one memory of an agent (from every store that holds it)."""
        caller = access.caller(ctx, "write")
        return await access.run(caller, jarvis.delete_memory, agent_id, memory_type, key)

    @server.tool(annotations=WRITES)
    async def add_knowledge(
        ctx: Context,
        topic: Name,
        content: Text,
        source: Name | None = None,
        category: Name | None = None,
        confidence: Unit = 1.0,
        agent_id: UUID | None = None,
    ) -> KnowledgeWritten:
        """Add one piece of knowledge about a topic to the knowledge base and the knowledge graph."""
        caller = access.caller(ctx, "write")
        return await access.run(
            caller,
            jarvis.add_knowledge,
            topic=topic,
            content=content,
            source=source,
            category=category,
            confidence=confidence,
            agent_id=agent_id,
        )

    @server.tool(annotations=WRITES)
    async def relate_knowledge(ctx: Context, knowledge_id: UUID, related_id: UUID) -> Relationship:
        """Link two pieces of knowledge (RELATED_TO in the graph), so traversals go from one to the other."""
        caller = access.caller(ctx, "write")
        return await access.run(caller, jarvis.relate_knowledge, knowledge_id, related_id)

    @server.tool(annotations=READ_ONLY)
    async def traverse_knowledge(
        ctx: Context,
        topic: Name,
        max_hops: Annotated[int, Field(ge=1, le=3)] = 3,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
    ) -> Traversed:
        """Knowledge reachable from a topic through related knowledge, up to `max_hops` links away."""
        caller = access.caller(ctx, "read")
        found = await access.run(caller, jarvis.traverse_knowledge, topic, max_hops=max_hops, limit=limit)
        return {"knowledge": found}

    @server.tool(annotations=READ_ONLY)
    async def best_agent(
        ctx: Context,
        task_description: Text,
        capability: Name | None = None,
        limit: Annotated[int, Field(ge=1, le=50)] = 3,
    ) -> BestAgents:
        """The active agents best suited to a task described in any words, ranked by their capabilities'
        meaning, success rate and performance."""
        caller = access.caller(ctx, "read")
        return await access.run(caller, jarvis.best_agent, task_description, capability=capability, limit=limit)

    @server.tool(annotations=WRITES)
    async def create_task(
        ctx: Context,
        name: Name,
        type: TaskType,
        description: Text | None = None,
        priority: Priority = 5,
        input_data: JsonObject | None = None,
        parent_task_id: UUID | None = None,
        depends_on: Annotated[list[UUID], Field(max_length=100)] | None = None,
        requested_by: Identifier | None = None,
        agent_id: UUID | None = None,
        max_attempts: Annotated[int, Field(ge=1, le=20)] = 3,
    ) -> TaskCreated:
        """Create a task and queue it by priority (10 highest) for a worker to `dequeue_task`."""
        caller = access.caller(ctx, "write")
        return await access.run(
            caller,
            jarvis.create_task,
            name=name,
            type=type,
            description=description,
            priority=priority,
            input_data=input_data,
            parent_task_id=parent_task_id,
            depends_on=depends_on or [],
            requested_by=user_for(caller, requested_by, "requested_by"),
            agent_id=agent_id,
            max_attempts=max_attempts,
        )

    @server.tool(annotations=WRITES)
    async def dequeue_task(
        ctx: Context,
        worker: Name,
        visibility_timeout: Annotated[float, Field(ge=0.1, le=3600)] = 30.0,
        agent_id: UUID | None = None,
    ) -> WorkOrNone:
        """Take the next task by priority, with a lease: finish it with `complete_task` or `fail_task`
        (passing the lease) before `visibility_timeout` seconds, or it is delivered again.
        `task` is null when every queue is empty."""
        caller = access.caller(ctx, "write")
        lease = await access.run(
            caller, jarvis.dequeue_task, worker=worker, visibility_timeout=visibility_timeout, agent_id=agent_id
        )
        return {"task": None, "lease": None} if lease is None else lease.out()

    @server.tool(annotations=WRITES)
    async def complete_task(
        ctx: Context,
        lease: LeaseIn,
        output: JsonObject | None = None,
        execution_time_ms: Annotated[int, Field(ge=0, le=2_000_000_000)] | None = None,
    ) -> TaskWritten:
        """Finish a dequeued task with its output. Only the current lease can: a lease that expired
        meanwhile gets a `lease_lost` error."""
        caller = access.caller(ctx, "write")
        return await access.run(
            caller, jarvis.complete_task, _lease(lease), output=output or {}, execution_time_ms=execution_time_ms
        )

    @server.tool(annotations=WRITES)
    async def fail_task(
        ctx: Context, lease: LeaseIn, error: JsonObject, retry_delay: Annotated[float, Field(ge=0, le=86400)] = 5.0
    ) -> TaskWritten:
        """Report a dequeued task as failed; it is retried after a growing delay until its attempts run out."""
        caller = access.caller(ctx, "write")
        return await access.run(caller, jarvis.fail_task, _lease(lease), error=error, retry_delay=retry_delay)

    @server.tool(annotations=WRITES)
    async def send_agent_message(ctx: Context, from_agent: UUID, to_agent: UUID, message: JsonObject) -> Queued:
        """Send a message from one agent to another (kept 300 s; also published live)."""
        caller = access.caller(ctx, "write")
        await access.run(caller, jarvis.send_message, from_agent, to_agent, message)
        return {"queued": True}

    @server.tool(annotations=WRITES)
    async def receive_agent_messages(
        ctx: Context, from_agent: UUID, to_agent: UUID, limit: Annotated[int, Field(ge=1, le=1000)] = 100
    ) -> Received:
        """The messages one agent sent another, oldest first; received messages are removed."""
        caller = access.caller(ctx, "write")
        return {"messages": await access.run(caller, jarvis.receive_messages, from_agent, to_agent, limit=limit)}

    @server.tool(annotations=READ_ONLY)
    async def store_health(ctx: Context) -> HealthReport:
        """Each store's health (up, version, round trip): PostgreSQL down means writes fail; any other
        store down means searches answer from PostgreSQL and writes catch up later."""
        caller = access.caller(ctx, "read")
        return report_of(await access.run(caller, jarvis.health))
