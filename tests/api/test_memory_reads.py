"""An agent reads its memory over HTTP: the first read comes from PostgreSQL, the next from the
Redis cache (awaited on the event loop), every read is counted, an expired memory is never
served, and with Redis out of reach the read still answers from PostgreSQL."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient

from jarvis.api import create_app


def _agent(api, writer, name) -> str:
    response = api.post("/api/v1/agents", headers=writer, json={"name": name, "type": "letta"})
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


def test_a_cached_read_is_served_and_counted_like_a_read_from_postgres(api, api_jarvis, make_key, name) -> None:
    writer = make_key("read", "write")
    agent = _agent(api, writer, name)
    path = f"/api/v1/memory/{agent}/core/persona"
    assert api.put(path, headers=writer, json={"value": "Speaks tersely, cites sources."}).status_code == 200

    first = api.get(path, headers=writer)  # from PostgreSQL, which caches it
    second = api.get(path, headers=writer)  # from the cache
    assert first.status_code == second.status_code == 200
    assert second.json()["value"] == "Speaks tersely, cites sources."
    assert [first.json()["access_count"], second.json()["access_count"]] == [1, 2]

    api_jarvis.access_counts.flush()  # the cached read's count reaches PostgreSQL
    with api_jarvis.stores.postgres.pool.connection() as conn:
        conn.execute("SELECT set_config('app.all_users', 'on', true)")  # the service role names its principal
        count = conn.execute(
            "SELECT access_count FROM agent_memory WHERE agent_id = %s AND key = 'persona'", (agent,)
        ).fetchone()[0]
    assert count == 2


def test_an_expired_memory_is_not_served_from_the_cache(api, make_key, name, clock) -> None:
    writer = make_key("read", "write")
    agent = _agent(api, writer, name)
    path = f"/api/v1/memory/{agent}/working/scratch"
    soon = (datetime.now(timezone.utc) + timedelta(seconds=1.5)).isoformat()
    assert api.put(path, headers=writer, json={"value": "half-done plan", "expires_at": soon}).status_code == 200
    assert api.get(path, headers=writer).status_code == 200  # now cached, with its expiry
    clock.advance(1.7)
    gone = api.get(path, headers=writer)
    assert gone.status_code == 404 and "does not exist" in gone.json()["error"]["message"]


def test_with_redis_out_of_reach_reads_answer_from_postgres_without_a_limit(
    settings, api, api_jarvis, make_key, name
) -> None:
    writer = make_key("read", "write")
    agent = _agent(api, writer, name)
    path = f"/api/v1/memory/{agent}/core/goal"
    assert api.put(path, headers=writer, json={"value": "Keep the backlog short."}).status_code == 200
    # The API's own Redis client points at a closed port; the facade behind it is unchanged.
    unreachable = settings.model_copy(update={"redis_url": None, "redis_port": 1, "api_rate_limit": 1})
    with TestClient(create_app(unreachable, jarvis=api_jarvis)) as client:
        started = time.monotonic()
        answers = [client.get(path, headers=writer) for _ in range(3)]  # over the limit of 1: not enforced
        assert time.monotonic() - started < 3 * (settings.connect_timeout + 1)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[-1].json()["value"] == "Keep the backlog short."
