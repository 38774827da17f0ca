"""Tasks: priority queues with at-least-once delivery, leases, retries, requeue, and agent locks."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from jarvis.errors import LeaseLost
from jarvis.jobs.requeue import requeue
from jarvis.stores import redis_keys as keys
from tests.conftest import end_redis_ttl


def test_higher_priority_tasks_are_delivered_first(quiet_queues, name) -> None:
    jarvis = quiet_queues
    low = jarvis.create_task(name=f"{name}-low", type="scheduled", priority=2)
    high = jarvis.create_task(name=f"{name}-high", type="chat", priority=9)
    medium = jarvis.create_task(name=f"{name}-medium", type="voice", priority=5)
    order = [jarvis.dequeue_task(worker="w").task_id for _ in range(3)]
    assert order == [high["id"], medium["id"], low["id"]]
    assert jarvis.dequeue_task(worker="w") is None


def test_two_workers_drain_a_thousand_tasks_each_completed_exactly_once(quiet_queues, name) -> None:
    jarvis = quiet_queues
    created = {
        jarvis.create_task(name=f"{name}-{i}", type="autonomous", priority=1 + i % 10)["id"] for i in range(1000)
    }
    completions: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(worker_name: str) -> None:
        while (lease := jarvis.dequeue_task(worker=worker_name, visibility_timeout=60)) is not None:
            jarvis.complete_task(lease, output={"by": worker_name})
            with lock:
                completions[lease.task_id] += 1

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(completions) == created and set(completions.values()) == {1}
    with jarvis.stores.postgres.pool.connection() as conn:
        statuses = conn.execute(
            "SELECT status, count(*) FROM tasks WHERE id = ANY(%s::uuid[]) GROUP BY status", (list(created),)
        ).fetchall()
    assert statuses == [("completed", 1000)]


def test_a_task_whose_worker_died_is_delivered_again_and_the_dead_worker_cannot_finish_it(
    quiet_queues, name, clock
) -> None:
    jarvis = quiet_queues
    task = jarvis.create_task(name=f"{name}-orphan", type="chat")
    dead = jarvis.dequeue_task(worker="dies", visibility_timeout=0.5)
    assert dead.task_id == task["id"]
    assert jarvis.dequeue_task(worker="other", visibility_timeout=0.5) is None  # held: not delivered twice
    clock.advance(0.7)
    alive = jarvis.dequeue_task(worker="lives", visibility_timeout=30)
    assert alive.task_id == task["id"] and alive.delivery.token != dead.delivery.token
    with pytest.raises(LeaseLost):
        jarvis.complete_task(dead, output={})
    done = jarvis.complete_task(alive, output={"ok": True})
    assert done["status"] == "completed" and done["attempts"] == 2


def test_a_worker_process_killed_while_holding_a_task_loses_nothing(quiet_queues, name, clock) -> None:
    import os
    import signal
    import subprocess
    import sys

    from jarvis.paths import PROJECT_ROOT

    jarvis = quiet_queues
    task = jarvis.create_task(name=f"{name}-killed", type="chat")
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER_THAT_HANGS],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    try:
        assert worker.stdout.readline().strip() == task["id"]
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert jarvis.get_task(task["id"])["lease_owner"] == "doomed"
    clock.advance(1.2)
    lease = jarvis.dequeue_task(worker="survivor")
    assert lease.task_id == task["id"]
    assert jarvis.complete_task(lease, output={})["status"] == "completed"


WORKER_THAT_HANGS = """
import time
from jarvis.facade import Jarvis
jarvis = Jarvis.from_settings()
lease = jarvis.dequeue_task(worker="doomed", visibility_timeout=1.0)
print(lease.task_id, flush=True)
time.sleep(600)
"""


def test_a_failed_task_is_retried_after_a_delay_then_fails_for_good(quiet_queues, name, clock) -> None:
    jarvis = quiet_queues
    task = jarvis.create_task(name=f"{name}-flaky", type="chat", max_attempts=2)
    first = jarvis.dequeue_task(worker="w")
    again = jarvis.fail_task(first, error="timeout talking to the model", retry_delay=0.3)
    assert again["status"] == "pending" and again["attempts"] == 1
    assert jarvis.dequeue_task(worker="w") is None  # still waiting out its delay
    clock.advance(0.4)
    second = jarvis.dequeue_task(worker="w")
    assert second.task_id == task["id"]
    final = jarvis.fail_task(second, error={"message": "still broken"})
    assert final["status"] == "failed" and final["error_details"] == {"message": "still broken"}
    assert jarvis.dequeue_task(worker="w") is None


def test_after_redis_loses_its_queues_requeue_puts_every_pending_task_back_once(quiet_queues, name) -> None:
    jarvis = quiet_queues
    tasks = [jarvis.create_task(name=f"{name}-{i}", type="chat", priority=p)["id"] for i, p in enumerate((1, 5, 9))]
    jarvis.stores.redis.conn.flushdb()  # Redis loses everything
    assert requeue(jarvis.stores) == 3
    assert requeue(jarvis.stores) == 0
    queued = [item for queue in keys.QUEUES for item in jarvis.stores.redis.conn.lrange(queue, 0, -1)]
    assert sorted(queued) == sorted(tasks)


def test_a_lock_is_released_only_by_its_holder_and_an_expired_lock_can_be_taken(jarvis, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-locked", type="letta")["id"]
    assert jarvis.acquire_agent_lock(agent, "task-a", ttl=0.5)
    assert not jarvis.acquire_agent_lock(agent, "task-b")
    assert not jarvis.release_agent_lock(agent, "task-b")
    assert not jarvis.extend_agent_lock(agent, "task-b")
    assert jarvis.extend_agent_lock(agent, "task-a", ttl=0.5)
    end_redis_ttl(jarvis.stores.redis.conn, keys.agent_lock(agent), within=0.5)
    assert jarvis.acquire_agent_lock(agent, "task-b")
    assert not jarvis.release_agent_lock(agent, "task-a")
    assert jarvis.release_agent_lock(agent, "task-b")


def test_an_agent_working_a_task_holds_its_lock_and_takes_no_second_task(quiet_queues, name) -> None:
    jarvis = quiet_queues
    agent = jarvis.register_agent(name=f"{name}-busy", type="letta")["id"]
    jarvis.create_task(name=f"{name}-1", type="chat")
    jarvis.create_task(name=f"{name}-2", type="chat")
    lease = jarvis.dequeue_task(worker="w", agent_id=agent)
    assert lease.task["agent_id"] == agent
    assert jarvis.stores.redis.locks.holder(agent) == lease.lock_holder
    assert jarvis.dequeue_task(worker="w2", agent_id=agent) is None  # busy
    jarvis.complete_task(lease, output={})
    assert jarvis.stores.redis.locks.holder(agent) is None
    assert jarvis.dequeue_task(worker="w2", agent_id=agent) is not None
