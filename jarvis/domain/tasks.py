"""Tasks: creation with dependencies, priority queues with at-least-once delivery, retries, locks.

Deadlines (leases, retry delays) are the stores' own time plus the clock's ``ahead``
(:mod:`jarvis.clock`: 0 but in tests).

Redis delivers; PostgreSQL decides. A delivery carries a token that is also written to the
task row when the worker claims it, and only that token can complete or fail the task. A
worker that dies loses nothing: its lease expires and the task is delivered again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from jarvis.domain.base import ENSURE_USER, Written, as_uuid, jsonable
from jarvis.domain.ownership import OwnershipMixin
from jarvis.errors import InvalidInput, LeaseLost, NotFound, StoreError
from jarvis.json_bounds import check_json
from jarvis.outbox import Event
from jarvis.schemas import TaskIn, takes
from jarvis.shapes import Dequeued
from jarvis.vocabulary import Channel, RelationshipType
from jarvis.stores.redis_queue import Delivery

INSERT_TASK = """
INSERT INTO tasks (name, description, type, priority, agent_id, parent_task_id, input_data, requested_by, max_attempts)
VALUES (%(name)s, %(description)s, %(type)s, %(priority)s, %(agent_id)s, %(parent_task_id)s, %(input_data)s,
        %(requested_by)s, %(max_attempts)s)
RETURNING *
"""
COUNT_TASKS = "SELECT count(*) AS n FROM tasks WHERE id = ANY(%s)"
SELECT_TASK = "SELECT * FROM tasks WHERE id = %s"
CLAIM = """
UPDATE tasks SET status = 'running', started_at = CURRENT_TIMESTAMP, attempts = attempts + 1,
                 lease_token = %(token)s, lease_owner = %(worker)s, run_after = NULL,
                 lease_expires_at = CURRENT_TIMESTAMP + make_interval(secs => %(visibility)s + %(ahead)s),
                 agent_id = coalesce(%(agent_id)s, agent_id)
WHERE id = %(id)s AND status IN ('pending', 'running') AND attempts < max_attempts
RETURNING *
"""
# A delivery of a task that already used its last attempt (its leases kept expiring: the
# worker died each time) ends it as failed instead of delivering it forever.
EXHAUST = """
UPDATE tasks SET status = 'failed', completed_at = CURRENT_TIMESTAMP, lease_token = NULL, lease_expires_at = NULL,
    error_details = jsonb_build_object('message', 'the lease expired on the last allowed attempt',
                                       'attempts', attempts)
WHERE id = %(id)s AND status IN ('pending', 'running') AND attempts >= max_attempts
RETURNING *
"""
EXTEND = """
UPDATE tasks SET lease_expires_at = CURRENT_TIMESTAMP + make_interval(secs => %(visibility)s + %(ahead)s)
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running'
"""
COMPLETE = """
UPDATE tasks SET status = 'completed', output_data = %(output)s, completed_at = CURRENT_TIMESTAMP,
    execution_time_ms = coalesce(%(ms)s, (extract(epoch FROM CURRENT_TIMESTAMP - started_at) * 1000)::int),
    lease_token = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running'
RETURNING *
"""
FAIL = """
UPDATE tasks SET
    status = CASE WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END,
    error_details = %(error)s,
    run_after = CASE WHEN attempts < max_attempts
        THEN CURRENT_TIMESTAMP + make_interval(secs => %(delay)s * power(2, attempts - 1) + %(ahead)s) END,
    completed_at = CASE WHEN attempts < max_attempts THEN NULL ELSE CURRENT_TIMESTAMP END,
    execution_time_ms = (extract(epoch FROM CURRENT_TIMESTAMP - started_at) * 1000)::int,
    lease_token = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running'
RETURNING *
"""
ASSIGN = "UPDATE tasks SET agent_id = %s WHERE id = %s RETURNING *"
CANCEL = "UPDATE tasks SET status = 'cancelled', lease_token = NULL, lease_expires_at = NULL WHERE id = %s AND status IN ('pending', 'running') RETURNING *"


@dataclass(frozen=True, slots=True)
class Lease:
    """A task delivered to one worker; pass it back to :meth:`complete_task` or :meth:`fail_task`.

    With ``agent_id``, the agent's ``lock:agent:{id}`` is held (by ``lock_holder``) until then.
    """

    task: dict
    delivery: Delivery
    agent_id: str | None = None
    lock_holder: str | None = None

    @property
    def task_id(self) -> str:
        return self.delivery.task_id

    def out(self) -> Dequeued:
        """What a worker is answered (REST and MCP): the task and the lease it hands back."""
        return {
            "task": self.task,
            "lease": {
                "task_id": self.task_id,
                "queue": self.delivery.queue,  # type: ignore[typeddict-item]
                "token": self.delivery.token,
                "agent_id": self.agent_id,
                "lock_holder": self.lock_holder,
            },
        }


class TasksMixin(OwnershipMixin):
    @takes(TaskIn)
    def create_task(self, spec: TaskIn, /) -> Written:
        """Create a pending task (with DEPENDS_ON, REQUESTED_BY, ASSIGNED_TO) and queue it by priority.
        A user-bound caller's task is requested by its user (Forbidden if it names another)."""
        spec = spec.model_copy(update={"requested_by": self._own_user(spec.requested_by, field="requested_by")})
        self._require_seen(agent_id=spec.agent_id, parent_task_id=spec.parent_task_id)
        depends_on = sorted(set(spec.depends_on))

        def work(conn):
            events = []
            if depends_on and conn.execute(COUNT_TASKS, (depends_on,)).fetchone()["n"] != len(depends_on):
                raise InvalidInput("depends_on", "names a task that does not exist")
            if spec.requested_by and conn.execute(ENSURE_USER, (spec.requested_by,)).fetchone():
                events.append(Event("user", spec.requested_by))
            task = conn.execute(
                INSERT_TASK,
                {
                    **spec.model_dump(exclude={"depends_on"}),
                    "input_data": Jsonb(spec.input_data) if spec.input_data is not None else None,
                },
            ).fetchone()
            events.append(Event("task", str(task["id"])))
            for dependency in depends_on:
                events.append(self._edge(conn, RelationshipType.DEPENDS_ON, "Task", task["id"], "Task", dependency))
            if spec.requested_by:
                events.append(
                    self._edge(conn, RelationshipType.REQUESTED_BY, "Task", task["id"], "User", spec.requested_by)
                )
            if spec.agent_id:
                events.append(
                    self._edge(conn, RelationshipType.ASSIGNED_TO, "Task", task["id"], "Agent", spec.agent_id)
                )
            return jsonable(task), events

        written = self._write(work)
        written["queue"] = None  # Redis missed it: the server's repair loop (or `jarvis requeue`) queues it
        self._after_commit(
            written, lambda redis: written.update(queue=redis.queues.enqueue(written["id"], spec.priority))
        )
        self._announce(written)
        return written

    def get_task(self, task_id: Any) -> dict:
        task_id = as_uuid(task_id, "task_id")
        return jsonable(self._one(SELECT_TASK, (task_id,), missing=f"task {task_id} does not exist"))

    def dequeue_task(self, *, worker: str, visibility_timeout: float = 30.0, agent_id: Any = None) -> Lease | None:
        """The next task by priority, claimed for *worker* until the lease ends; None if none is queued.

        With *agent_id*, the task is ASSIGNED_TO that agent and ``lock:agent:{id}`` is held while it
        works; if another task holds the agent's lock, nothing is dequeued (None).
        """
        if not 0.1 <= visibility_timeout <= 3600:
            raise InvalidInput("visibility_timeout", "must be between 0.1 and 3600 seconds")
        agent = str(as_uuid(agent_id, "agent_id")) if agent_id is not None else None
        # The queues hold every user's tasks; a user-bound worker could not claim the others'
        # (row-level security) and would drop them from the queue as stale.
        self._refuse_bound("worker", "taking tasks from the shared queues")
        holder = f"{worker}:{uuid.uuid4().hex}" if agent else None
        if agent and not self.acquire_agent_lock(agent, holder, ttl=visibility_timeout):
            return None
        try:
            lease = self._claim_next(worker, visibility_timeout, agent)
        except BaseException:
            if agent:
                self.release_agent_lock(agent, holder)
            raise
        if lease is None:
            if agent:
                self.release_agent_lock(agent, holder)
            return None
        return Lease(task=lease.task, delivery=lease.delivery, agent_id=agent, lock_holder=holder)

    def _claim_next(self, worker: str, visibility_timeout: float, agent: str | None) -> Lease | None:
        while True:
            delivery = self.stores.redis.queues.dequeue(visibility_timeout=visibility_timeout)
            if delivery is None:
                return None

            def claim(conn, delivery=delivery):
                row = conn.execute(
                    CLAIM,
                    {
                        "id": delivery.task_id,
                        "token": delivery.token,
                        "worker": worker,
                        "agent_id": agent,
                        "visibility": visibility_timeout,
                        "ahead": self.stores.clock.ahead,
                    },
                ).fetchone()
                if row is None:
                    exhausted = conn.execute(EXHAUST, {"id": delivery.task_id}).fetchone()
                    return {}, [Event("task", delivery.task_id)] if exhausted else []
                events = [Event("task", delivery.task_id)]
                if agent:
                    events.append(
                        self._edge(conn, RelationshipType.ASSIGNED_TO, "Task", delivery.task_id, "Agent", agent)
                    )
                return jsonable(row), events

            claimed = self._write(claim)
            if claimed.get("id"):
                self._announce(claimed)
                return Lease(task=claimed, delivery=delivery)
            try:  # finished or cancelled meanwhile: drop the stale entry (it comes round again if this fails)
                self.stores.redis.queues.ack(delivery)
            except StoreError:
                pass

    def extend_lease(self, lease: Lease, *, visibility_timeout: float = 30.0) -> bool:
        """Keep a long task: extend its lease (and its agent's lock); False if it was already lost."""
        self._refuse_bound("lease", "the worker protocol")
        extended = self.stores.redis.queues.extend(lease.delivery, visibility_timeout=visibility_timeout)
        if extended:  # PostgreSQL's copy of the deadline, which `requeue` respects
            with self._postgres() as conn:
                conn.execute(
                    EXTEND,
                    {
                        "id": lease.task_id,
                        "token": lease.delivery.token,
                        "visibility": visibility_timeout,
                        "ahead": self.stores.clock.ahead,
                    },
                )
        if extended and lease.agent_id:
            self.extend_agent_lock(lease.agent_id, lease.lock_holder, ttl=visibility_timeout)
        return extended

    def _finish(self, lease: Lease) -> None:
        if lease.agent_id:
            try:
                self.release_agent_lock(lease.agent_id, lease.lock_holder)
            except StoreError:
                pass  # the lock expires on its own

    def complete_task(
        self, lease: Lease, *, output: dict | None = None, execution_time_ms: int | None = None, agent_id: Any = None
    ) -> Written:
        """Finish a task; with *agent_id*, the agent LEARNED_FROM it. Raises LeaseLost if the lease expired."""
        if execution_time_ms is not None and execution_time_ms < 0:
            raise InvalidInput("execution_time_ms", "must not be negative")
        check_json(output or {}, field="output")
        agent = as_uuid(agent_id, "agent_id") if agent_id is not None else None
        self._refuse_bound("lease", "the worker protocol")

        def work(conn):
            row = conn.execute(
                COMPLETE,
                {
                    "id": lease.task_id,
                    "token": lease.delivery.token,
                    "output": Jsonb(output or {}),
                    "ms": execution_time_ms,
                },
            ).fetchone()
            if row is None:
                raise LeaseLost(f"task {lease.task_id}: the lease expired; another worker may hold it now")
            events = [Event("task", lease.task_id)]
            learner = agent or row["agent_id"]
            if learner:
                events.append(self._edge(conn, RelationshipType.LEARNED_FROM, "Agent", learner, "Task", lease.task_id))
            return jsonable(row), events

        try:
            written = self._write(work)
        finally:
            self._finish(lease)
        # Committed: from here on nothing raises. A delivery Redis could not forget is dropped
        # when it comes round again (the task is no longer running, so nobody can claim it).
        self._after_commit(written, lambda redis: redis.queues.ack(lease.delivery))
        self._announce(written)
        return written

    def fail_task(self, lease: Lease, *, error: dict | str, retry_delay: float = 5.0) -> Written:
        """Record a failed attempt: back to the queue after a growing delay, or ``failed`` after the last."""
        if not 0 <= retry_delay <= 86400:
            raise InvalidInput("retry_delay", "must be between 0 and 86400 seconds")
        self._refuse_bound("lease", "the worker protocol")
        details = check_json(error if isinstance(error, dict) else {"message": str(error)}, field="error")

        def work(conn):
            row = conn.execute(
                FAIL,
                {
                    "id": lease.task_id,
                    "token": lease.delivery.token,
                    "error": Jsonb(details),
                    "delay": retry_delay,
                    "ahead": self.stores.clock.ahead,
                },
            ).fetchone()
            if row is None:
                raise LeaseLost(f"task {lease.task_id}: the lease expired; another worker may hold it now")
            return jsonable(row), [Event("task", lease.task_id)]

        try:
            written = self._write(work)
        finally:
            self._finish(lease)
        if written["status"] == "pending":  # a retry Redis missed is re-queued by the server's repair loop
            delay = retry_delay * 2 ** (written["attempts"] - 1)
            self._after_commit(written, lambda redis: redis.queues.retry_later(lease.delivery, delay=delay))
        else:
            self._after_commit(written, lambda redis: redis.queues.ack(lease.delivery))
        self._announce(written)
        return written

    def cancel_task(self, task_id: Any) -> Written:
        task_id = as_uuid(task_id, "task_id")

        def work(conn):
            row = conn.execute(CANCEL, (task_id,)).fetchone()
            if row is None:
                raise NotFound(f"task {task_id} does not exist or is already finished")
            return jsonable(row), [Event("task", str(task_id))]

        written = self._write(work)
        self._announce(written)
        return written

    def assign_task(self, task_id: Any, agent_id: Any) -> Written:
        """``(Task)-[:ASSIGNED_TO]->(Agent)``, announced on the ``task_assignment`` channel."""
        task_id, agent_id = as_uuid(task_id, "task_id"), as_uuid(agent_id, "agent_id")
        self._require_visible_agent(agent_id)  # not another user's private agent

        def work(conn):
            row = conn.execute(ASSIGN, (agent_id, task_id)).fetchone()
            if row is None:
                raise NotFound(f"task {task_id} does not exist")
            return jsonable(row), [
                Event("task", str(task_id)),
                self._edge(conn, RelationshipType.ASSIGNED_TO, "Task", task_id, "Agent", agent_id),
            ]

        written = self._write(work)
        self._after_commit(
            written,
            lambda redis: redis.publish(Channel.task_assignment, {"task_id": str(task_id), "agent_id": str(agent_id)}),
        )
        return written

    def task_produced(self, task_id: Any, knowledge_id: Any) -> Written:
        """``(Task)-[:PRODUCES]->(Knowledge)``."""
        task_id, knowledge_id = as_uuid(task_id, "task_id"), as_uuid(knowledge_id, "knowledge_id")
        return self._link(
            RelationshipType.PRODUCES,
            ("Task", "tasks", task_id, "task_id"),
            ("Knowledge", "knowledge", knowledge_id, "knowledge_id"),
        )

    def _announce(self, task: dict) -> None:
        """Tell the ``status_update`` channel that *task* changed state (the console's task board
        listens). Best effort, after the commit: a missed notice changes no data."""
        try:
            self.stores.redis.publish(
                Channel.status_update,
                {"task_id": str(task["id"]), "status": task["status"], "agent_id": task.get("agent_id")},
            )
        except StoreError:
            pass

    def queue_depths(self) -> dict[str, int]:
        return self.stores.redis.queues.depths()

    # -- lock:agent:{id} ------------------------------------------------------------------------
    def acquire_agent_lock(self, agent_id: Any, holder: str, *, ttl: float = 30.0) -> bool:
        return self.stores.redis.locks.acquire(str(as_uuid(agent_id, "agent_id")), holder, ttl=ttl)

    def release_agent_lock(self, agent_id: Any, holder: str) -> bool:
        """True only if *holder* held the lock; nobody else can release it."""
        return self.stores.redis.locks.release(str(as_uuid(agent_id, "agent_id")), holder)

    def extend_agent_lock(self, agent_id: Any, holder: str, *, ttl: float = 30.0) -> bool:
        return self.stores.redis.locks.extend(str(as_uuid(agent_id, "agent_id")), holder, ttl=ttl)
