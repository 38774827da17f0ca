"""Tasks when workers die and Redis fails: bounded deliveries, a careful requeue, and nothing
raised after PostgreSQL committed."""

from __future__ import annotations

from jarvis import local
from jarvis.jobs.repair import repair_once
from jarvis.jobs.requeue import requeue
from jarvis.stores import redis_keys as keys


def queued_ids(jarvis) -> list[str]:
    return [item for queue in keys.QUEUES for item in jarvis.stores.redis.conn.lrange(queue, 0, -1)]


def test_a_task_whose_leases_keep_expiring_ends_failed_after_max_attempts(quiet_queues, name, clock) -> None:
    jarvis = quiet_queues
    task = jarvis.create_task(name=f"{name}-cursed", type="chat", max_attempts=2)
    deliveries = 0
    for _ in range(5):  # the worker dies every time: its lease just expires
        lease = jarvis.dequeue_task(worker="dies", visibility_timeout=0.2)
        if lease is None:
            break
        deliveries += 1
        clock.advance(0.3)
    assert deliveries == 2
    final = jarvis.get_task(task["id"])
    assert final["status"] == "failed" and final["attempts"] == 2
    assert "lease expired" in final["error_details"]["message"]
    assert jarvis.dequeue_task(worker="w") is None and queued_ids(jarvis) == []


def test_requeue_leaves_a_valid_lease_with_its_worker(quiet_queues, name) -> None:
    jarvis = quiet_queues
    task = jarvis.create_task(name=f"{name}-held", type="chat")
    lease = jarvis.dequeue_task(worker="alive", visibility_timeout=60)
    assert lease.task_id == task["id"]
    jarvis.stores.redis.conn.flushdb()  # Redis loses the delivery, the worker still works
    assert requeue(jarvis.stores) == 0
    assert jarvis.dequeue_task(worker="thief") is None
    assert jarvis.complete_task(lease, output={"ok": True})["status"] == "completed"


def test_requeue_puts_a_task_whose_lease_expired_back(quiet_queues, name, clock) -> None:
    jarvis = quiet_queues
    task = jarvis.create_task(name=f"{name}-expired", type="chat")
    assert jarvis.dequeue_task(worker="dies", visibility_timeout=0.2).task_id == task["id"]
    jarvis.stores.redis.conn.flushdb()
    clock.advance(0.3)
    assert requeue(jarvis.stores) == 1
    again = jarvis.dequeue_task(worker="lives")
    assert again.task_id == task["id"] and again.task["attempts"] == 2


def test_requeue_respects_a_retry_delay(quiet_queues, name, clock) -> None:
    jarvis = quiet_queues
    task = jarvis.create_task(name=f"{name}-later", type="chat")
    jarvis.fail_task(jarvis.dequeue_task(worker="w"), error="try again in a while", retry_delay=1.0)
    jarvis.stores.redis.conn.flushdb()
    assert requeue(jarvis.stores) == 1
    assert jarvis.dequeue_task(worker="eager") is None  # waiting out the rest of its delay
    assert requeue(jarvis.stores) == 0  # it is known (delayed): not queued twice
    clock.advance(1.1)
    assert jarvis.dequeue_task(worker="patient").task_id == task["id"]


def test_with_redis_down_creating_and_completing_tasks_succeed_and_the_queue_is_repaired_after(
    quiet_queues, settings, name
) -> None:
    jarvis = quiet_queues
    first = jarvis.create_task(name=f"{name}-first", type="chat")
    lease = jarvis.dequeue_task(worker="w", visibility_timeout=60)
    assert lease.task_id == first["id"]
    local.down(settings, ["redis"])
    try:
        done = jarvis.complete_task(lease, output={"answer": 42})
        assert done["status"] == "completed" and "redis" in done["lagging"]
        created = jarvis.create_task(name=f"{name}-while-down", type="chat", priority=9)
        assert created["status"] == "pending" and "redis" in created["lagging"] and created["queue"] is None
        assert jarvis.get_task(first["id"])["status"] == "completed"
    finally:
        local.up(settings, ["redis"])
    assert jarvis.get_task(created["id"])["status"] == "pending"
    assert repair_once(jarvis.stores, grace=0) == {"requeued": 1}
    assert queued_ids(jarvis) == [created["id"]]
    again = jarvis.dequeue_task(worker="w")
    assert again.task_id == created["id"]
    jarvis.complete_task(again, output={})
