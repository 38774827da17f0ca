"""Erasure in Redis: every key pattern of :mod:`jarvis.stores.redis_keys` that can name a user or
an agent is gone after the erasure, asked of Redis directly (SCAN over the whole keyspace), and
the keys of others stay; with Redis down, the receipt says so and fetching it again finishes."""

from __future__ import annotations

import json

from jarvis import local
from jarvis.stores import redis_keys as keys


def redis_keys_naming(jarvis, *ids: str) -> list[str]:
    """Every key in Redis whose name or value mentions one of *ids* (the whole keyspace, read)."""
    conn, found = jarvis.stores.redis.conn, []
    for key in conn.scan_iter(count=1000):
        kind = conn.type(key)
        value = (
            conn.get(key)
            if kind == "string"
            else json.dumps(
                conn.lrange(key, 0, -1) if kind == "list" else conn.zrange(key, 0, -1) if kind == "zset" else []
            )
        )
        if any(i in key or (isinstance(value, str) and i in value) for i in ids):
            found.append(key)
    return sorted(found)


def an_agent_in_redis(jarvis, agent: str, peer: str) -> None:
    """Status, lock, memory cache, messages both ways, a realtime metric with the agent as source."""
    jarvis.heartbeat(agent, status="active")
    assert jarvis.acquire_agent_lock(agent, "holder", ttl=30)
    jarvis.put_memory(agent_id=agent, memory_type="core", key="k", value="cached")
    jarvis.get_memory(agent, "core", "k")
    jarvis.send_message(agent, peer, {"text": "to the peer"})
    jarvis.send_message(peer, agent, {"text": "from the peer"})
    jarvis.record_metric(metric_type="latency", source=agent, value=1.0, unit="ms")


def test_delete_agent_removes_its_messages_status_lock_caches_and_metrics(jarvis, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-gone", type="letta")["id"]
    peer = jarvis.register_agent(name=f"{name}-peer", type="letta")["id"]
    third = jarvis.register_agent(name=f"{name}-third", type="letta")["id"]
    an_agent_in_redis(jarvis, agent, peer)
    jarvis.send_message(peer, third, {"text": "not about the erased agent"})
    assert len(redis_keys_naming(jarvis, agent)) == 6  # status, lock, cache, metric, messages both ways

    receipt = jarvis.delete_agent(agent)
    assert receipt["complete"] and receipt["remaining"]["redis"] == 0, receipt
    assert redis_keys_naming(jarvis, agent) == []
    assert jarvis.stores.redis.conn.exists(keys.agent_comm(peer, third)) == 1
    jarvis.delete_agent(peer)
    jarvis.delete_agent(third)


def test_forget_user_removes_sessions_their_agents_keys_and_queued_tasks_and_revokes_their_keys(
    quiet_queues, make_key, name
) -> None:
    jarvis = quiet_queues
    user, other = f"{name}-ada", f"{name}-bob"
    own = jarvis.register_agent(name=f"{name}-own", type="letta", owner_user_id=user)["id"]
    shared = jarvis.register_agent(name=f"{name}-shared", type="letta")["id"]
    an_agent_in_redis(jarvis, own, shared)
    jarvis.append_message(session_id=f"{name}-talk", role="user", content="hello", user_id=user, agent_id=shared)
    jarvis.stores.redis.touch_session(f"{name}-idle", user_id=user, agent_id=None)  # a session with no message
    jarvis.stores.redis.touch_session(f"{name}-bobs", user_id=other, agent_id=None)
    jarvis.buffer_voice(f"{name}-talk", b"RIFF")
    queued = jarvis.create_task(name=f"{name}-queued", type="chat", requested_by=user, priority=9)["id"]
    later = jarvis.create_task(name=f"{name}-later", type="chat", requested_by=user, priority=2)
    jarvis.fail_task(jarvis.dequeue_task(worker="w"), error="not yet", retry_delay=600)  # the priority-9 one waits
    bobs = jarvis.create_task(name=f"{name}-bobs", type="chat", requested_by=other)["id"]
    make_key("read", user=user)
    jarvis.stores.redis.hit_rate_limit(_key_ids(jarvis, user)[0], "GET:/api/v1/agents")
    assert {queued, later["id"]} <= jarvis.stores.redis.queues.known_task_ids()

    receipt = jarvis.forget_user(user)
    assert receipt["complete"] and receipt["remaining"] == {"postgres": 0, "chroma": 0, "neo4j": 0, "redis": 0}, receipt
    assert receipt["removed"]["postgres"]["tasks_cancelled"] == 2 and receipt["removed"]["postgres"]["agents"] == 1
    assert receipt["revoked_keys"] == _key_ids(jarvis, user)
    assert (
        redis_keys_naming(
            jarvis, user, own, f"{name}-talk", f"{name}-idle", queued, later["id"], *receipt["revoked_keys"]
        )
        == []
    )
    assert not {queued, later["id"]} & jarvis.stores.redis.queues.known_task_ids()
    assert jarvis.get_task(queued)["status"] == "cancelled" and jarvis.get_task(queued)["requested_by"] is None
    assert jarvis.stores.redis.get_session(f"{name}-bobs")["user_id"] == other
    assert bobs in jarvis.stores.redis.queues.known_task_ids()
    assert jarvis.get_agent(shared)["id"] == shared
    jarvis.delete_agent(shared)


def test_with_redis_down_the_receipt_lists_it_and_fetching_it_again_finishes_the_erasure(
    jarvis, settings, name
) -> None:
    agent = jarvis.register_agent(name=f"{name}-gone", type="letta")["id"]
    peer = jarvis.register_agent(name=f"{name}-peer", type="letta")["id"]
    an_agent_in_redis(jarvis, agent, peer)
    local.down(settings, ["redis"])
    try:
        receipt = jarvis.delete_agent(agent)  # PostgreSQL commits; nothing raises
        assert not receipt["complete"] and "redis" in receipt["lagging"] and receipt["remaining"]["redis"] is None
    finally:
        local.up(settings, ["redis"])
    assert redis_keys_naming(jarvis, agent) != []  # Redis kept its data across the restart: still there
    again = jarvis.erasure_receipt(receipt["id"])
    assert again["complete"] and again["remaining"]["redis"] == 0, again
    assert redis_keys_naming(jarvis, agent) == []
    jarvis.delete_agent(peer)


def _key_ids(jarvis, user: str) -> list[str]:
    with jarvis.stores.postgres.pool.connection() as conn:
        return [r[0] for r in conn.execute("SELECT id::text FROM api_keys WHERE user_id = %s ORDER BY id", (user,))]
