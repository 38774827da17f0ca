"""With JARVIS_MEMORY_ENCRYPTION_KEY set, a memory's value is ciphertext at rest and plaintext on read.

PostgreSQL and the Redis read cache hold only the sealed value; the key never reaches either.
A server without the key, or with another one, refuses to read sealed values (503, never a
500 and never ciphertext passed off as the value); rows written before the key was set stay
readable.
"""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from jarvis.errors import MemoryLocked
from jarvis.stores import redis_keys as keys

SECRET = "Ada's front door code is 4711"


def _facade(settings, jarvis, key: str | None):
    from jarvis.facade import Jarvis

    return Jarvis.from_settings(
        settings.model_copy(update={"memory_encryption_key": SecretStr(key) if key else None}), embedder=jarvis.embedder
    )


@pytest.fixture(scope="module")
def sealed(settings, jarvis):
    """A facade whose process has the key (as the API would with the variable set)."""
    facade = _facade(settings, jarvis, "correct horse battery staple")
    yield facade
    facade.close()


@pytest.fixture
def agent(jarvis, name) -> str:
    return jarvis.register_agent(name=f"{name}-keeper", type="letta")["id"]


def _raw_row(jarvis, agent_id: str, key: str) -> tuple[str, bool]:
    with jarvis.stores.postgres.pool.connection() as conn:
        conn.execute("SELECT set_config('app.all_users', 'on', true)")
        return conn.execute(
            "SELECT value, value_encrypted FROM agent_memory WHERE agent_id = %s AND key = %s", (agent_id, key)
        ).fetchone()


def test_the_stored_value_is_ciphertext_and_every_read_returns_the_plaintext(sealed, jarvis, agent) -> None:
    written = sealed.put_memory(agent_id=agent, memory_type="core", key="door", value=SECRET)
    assert written["value"] == SECRET and "value_encrypted" not in written
    stored, encrypted = _raw_row(jarvis, agent, "door")
    assert encrypted and "4711" not in stored and "Ada" not in stored and stored.startswith("v1:")

    first = sealed.get_memory(agent, "core", "door")  # from PostgreSQL, then cached
    cached_copy = jarvis.stores.redis.raw.get(keys.memory_cache(agent, "core", "door"))
    second = sealed.get_memory(agent, "core", "door")  # from the Redis cache
    assert first["value"] == second["value"] == SECRET and "value_encrypted" not in second
    assert cached_copy and b"4711" not in cached_copy and json.loads(cached_copy)["value_encrypted"] is True

    recalled = sealed.recall(agent, "how do I get into Ada's house")
    assert [m["value"] for m in recalled] == [SECRET]
    found = sealed.search(query="door code", scopes=["memory"], agent_id=agent)["results"]
    assert [r["item"]["value"] for r in found] == [SECRET] and "value_encrypted" not in found[0]["item"]
    sealed.delete_memory(agent, "core", "door")


def test_a_process_without_the_key_refuses_to_read_a_sealed_value(sealed, jarvis, agent, api, make_key) -> None:
    sealed.put_memory(agent_id=agent, memory_type="core", key="door", value=SECRET)
    with pytest.raises(MemoryLocked, match="JARVIS_MEMORY_ENCRYPTION_KEY is not set"):
        jarvis.get_memory(agent, "core", "door")
    with pytest.raises(MemoryLocked):
        jarvis.recall(agent, "door code")
    answer = api.get(f"/api/v1/memory/{agent}/core/door", headers=make_key("read"))  # the API has no key either
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "memory_locked"
    assert "4711" not in answer.text and "v1:" not in answer.text
    sealed.delete_memory(agent, "core", "door")


def test_a_process_with_another_key_refuses_too(sealed, settings, jarvis, agent) -> None:
    sealed.put_memory(agent_id=agent, memory_type="recall", key="door", value=SECRET)
    other = _facade(settings, jarvis, "another key entirely")
    try:
        with pytest.raises(MemoryLocked, match="encrypted with another key"):
            other.get_memory(agent, "recall", "door")
    finally:
        other.close()
    assert sealed.get_memory(agent, "recall", "door")["value"] == SECRET
    sealed.delete_memory(agent, "recall", "door")


def test_a_sealed_value_copied_into_another_row_does_not_open(sealed, jarvis, agent) -> None:
    sealed.put_memory(agent_id=agent, memory_type="core", key="door", value=SECRET)
    sealed.put_memory(agent_id=agent, memory_type="core", key="weather", value="Sunny in Paris")
    with jarvis.stores.postgres.pool.connection() as conn:
        conn.execute("SELECT set_config('app.all_users', 'on', true)")
        conn.execute(
            "UPDATE agent_memory SET value = (SELECT value FROM agent_memory WHERE agent_id = %(a)s "
            "AND key = 'door') WHERE agent_id = %(a)s AND key = 'weather'",
            {"a": agent},
        )
    jarvis.stores.redis.raw.delete(keys.memory_cache(agent, "core", "weather"))
    with pytest.raises(MemoryLocked, match="altered or moved"):
        sealed.get_memory(agent, "core", "weather")
    for key in ("door", "weather"):
        sealed.delete_memory(agent, "core", key)


def test_values_written_before_the_key_was_set_stay_readable(sealed, jarvis, agent) -> None:
    jarvis.put_memory(agent_id=agent, memory_type="archival", key="old", value="Written in plaintext days")
    assert _raw_row(jarvis, agent, "old") == ("Written in plaintext days", False)
    assert sealed.get_memory(agent, "archival", "old")["value"] == "Written in plaintext days"
    sealed.put_memory(agent_id=agent, memory_type="archival", key="old", value="Rewritten under the key")
    assert _raw_row(jarvis, agent, "old")[1] is True
    assert sealed.get_memory(agent, "archival", "old")["value"] == "Rewritten under the key"
    sealed.delete_memory(agent, "archival", "old")
