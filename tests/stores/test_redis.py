"""Every key pattern of the seed, with its TTL, on the real Redis."""

from __future__ import annotations

import pytest

from jarvis.stores import redis_keys as keys


@pytest.fixture
def cache(jarvis):
    return jarvis.stores.redis


def _ttl(cache, key: str) -> int:
    return int(cache.conn.ttl(key))


def test_each_pattern_lives_as_long_as_the_seed_says(cache, name) -> None:
    cache.touch_session(name, user_id="ada", agent_id=None, context={"topic": "tea"})
    cache.set_agent_status(name, status="active", current_task="t1")
    cache.set_realtime_metric("latency", name, 12.5)
    cache.set_model_cache(name, loaded=True, memory_usage_mb=512)
    cache.append_voice(name, b"\x00\x01audio")
    cache.send_message(name, f"{name}-peer", {"text": "hello"})
    count, reset = cache.hit_rate_limit("127.0.0.1", f"/{name}")
    expected = {
        keys.session(name): 3600,
        keys.agent_status(name): 30,
        keys.metrics_realtime("latency", name): 300,
        keys.model_cache(name): 600,
        keys.voice_buffer(name): 60,
        keys.agent_comm(name, f"{name}-peer"): 300,
        keys.rate_limit("127.0.0.1", f"/{name}"): 60,
    }
    for key, ttl in expected.items():
        assert ttl - 2 <= _ttl(cache, key) <= ttl, key
    assert count == 1 and 58 <= reset <= 60
    assert cache.get_session(name)["context"] == {"topic": "tea"}
    assert cache.take_voice(name) == b"\x00\x01audio"


def test_messages_between_agents_arrive_oldest_first_and_once(cache, name) -> None:
    for n in range(3):
        cache.send_message(name, f"{name}-b", {"n": n})
    assert [m["message"]["n"] for m in cache.receive_messages(name, f"{name}-b")] == [0, 1, 2]
    assert cache.receive_messages(name, f"{name}-b") == []


def test_a_published_status_update_reaches_a_subscriber(cache, name) -> None:
    stream = cache.subscribe("status_update", timeout=0.2)
    next(stream)  # subscribed
    cache.publish("status_update", {"agent_id": name, "status": "active"})
    received = next(m for m in stream if m is not None)
    assert received == {"channel": "status_update", "data": {"agent_id": name, "status": "active"}}
    stream.close()


def test_the_agent_lock_lives_thirty_seconds_by_default(jarvis, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-lock", type="letta")["id"]
    assert jarvis.acquire_agent_lock(agent, "task-1")
    assert 28 <= _ttl(jarvis.stores.redis, keys.agent_lock(agent)) <= 30
    assert jarvis.release_agent_lock(agent, "task-1")


def test_voice_audio_is_buffered_per_session_for_a_minute(jarvis, name) -> None:
    assert jarvis.buffer_voice(name, b"RIFF") == 4
    assert jarvis.buffer_voice(name, b"data") == 8
    assert 58 <= _ttl(jarvis.stores.redis, keys.voice_buffer(name)) <= 60
    assert jarvis.take_voice(name) == b"RIFFdata" and jarvis.take_voice(name) == b""
