"""/api/v1/tasks: create, and the worker protocol (dequeue, extend, complete, fail)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, HTTPException
from pydantic import Field

from jarvis.api.deps import Reader, Writer
from jarvis.domain.tasks import Lease
from jarvis.schemas import Input, JsonObject, TaskIn
from jarvis.shapes import Dequeued, Extended, QueueDepths, Relationship, Task, TaskCreated, TaskWritten
from jarvis.stores.redis_queue import Delivery

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


class LeaseIn(Input):
    """What a worker got from ``dequeue`` and hands back to finish the task."""

    task_id: UUID
    queue: str = Field(pattern=r"^task:queue:(high|medium|low)$")
    token: str = Field(min_length=1, max_length=64)
    agent_id: UUID | None = None
    lock_holder: str | None = Field(default=None, max_length=300)

    def lease(self, task_id: UUID) -> Lease:
        if task_id != self.task_id:
            raise HTTPException(422, "lease.task_id does not match the task in the path")
        delivery = Delivery(task_id=str(self.task_id), queue=self.queue, token=self.token)
        return Lease(
            task={},
            delivery=delivery,
            agent_id=str(self.agent_id) if self.agent_id else None,
            lock_holder=self.lock_holder,
        )


class DequeueIn(Input):
    worker: str = Field(min_length=1, max_length=255)
    visibility_timeout: float = Field(default=30.0, ge=0.1, le=3600)
    agent_id: UUID | None = None


class CompleteIn(Input):
    lease: LeaseIn
    output: JsonObject = Field(default_factory=dict)
    execution_time_ms: int | None = Field(default=None, ge=0, le=2_000_000_000)


class FailIn(Input):
    lease: LeaseIn
    error: JsonObject
    retry_delay: float = Field(default=5.0, ge=0, le=86400)


class ExtendIn(Input):
    lease: LeaseIn
    visibility_timeout: float = Field(default=30.0, ge=0.1, le=3600)


@router.post("", status_code=201, response_model=TaskCreated)
def create_task(body: TaskIn, caller: Writer) -> TaskCreated:
    return caller.run(caller.jarvis.create_task, body)


@router.get("/queues", response_model=QueueDepths)
def queue_depths(caller: Reader) -> QueueDepths:
    return caller.run(caller.jarvis.queue_depths)


@router.post("/dequeue", response_model=Dequeued | None)
def dequeue(body: DequeueIn, caller: Writer) -> Dequeued | None:
    """The next task by priority with its lease, or null when every queue is empty."""
    lease = caller.run(caller.jarvis.dequeue_task, **body.model_dump())
    return None if lease is None else lease.out()


@router.get("/{task_id}", response_model=Task)
def get_task(task_id: UUID, caller: Reader) -> Task:
    return caller.run(caller.jarvis.get_task, task_id)


@router.post("/{task_id}/extend", response_model=Extended)
def extend(task_id: UUID, body: ExtendIn, caller: Writer) -> Extended:
    return {
        "extended": caller.run(
            caller.jarvis.extend_lease, body.lease.lease(task_id), visibility_timeout=body.visibility_timeout
        )
    }


@router.post("/{task_id}/complete", response_model=TaskWritten)
def complete(task_id: UUID, body: CompleteIn, caller: Writer) -> TaskWritten:
    return caller.run(
        caller.jarvis.complete_task,
        body.lease.lease(task_id),
        output=body.output,
        execution_time_ms=body.execution_time_ms,
    )


@router.post("/{task_id}/fail", response_model=TaskWritten)
def fail(task_id: UUID, body: FailIn, caller: Writer) -> TaskWritten:
    return caller.run(
        caller.jarvis.fail_task, body.lease.lease(task_id), error=body.error, retry_delay=body.retry_delay
    )


@router.post("/{task_id}/cancel", response_model=TaskWritten)
def cancel(task_id: UUID, caller: Writer) -> TaskWritten:
    return caller.run(caller.jarvis.cancel_task, task_id)


@router.put("/{task_id}/agent/{agent_id}", response_model=TaskWritten)
def assign(task_id: UUID, agent_id: UUID, caller: Writer) -> TaskWritten:
    return caller.run(caller.jarvis.assign_task, task_id, agent_id)


@router.put("/{task_id}/produced/{knowledge_id}", response_model=Relationship)
def produced(task_id: UUID, knowledge_id: UUID, caller: Writer) -> Relationship:
    return caller.run(caller.jarvis.task_produced, task_id, knowledge_id)
