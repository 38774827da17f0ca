"""Every route but /health needs a valid key with the right scope; revoked keys stop working."""

from __future__ import annotations

import uuid

import pytest

from jarvis import apikeys

ROUTES = [
    ("get", "/api/v1/agents"),
    ("post", "/api/v1/agents"),
    ("get", f"/api/v1/agents/{uuid.uuid4()}"),
    ("post", "/api/v1/tasks"),
    ("post", "/api/v1/tasks/dequeue"),
    ("get", "/api/v1/tasks/queues"),
    ("post", "/api/v1/knowledge"),
    ("post", "/api/v1/search"),
    ("post", "/api/v1/best-agent"),
    ("get", "/api/v1/conversations/s1"),
    ("post", "/api/v1/conversations/messages"),
    ("put", f"/api/v1/memory/{uuid.uuid4()}/core/k"),
    ("post", "/api/v1/events"),
    ("get", "/metrics"),
    ("post", f"/api/v1/messages/{uuid.uuid4()}/{uuid.uuid4()}"),
    ("post", "/api/v1/performance-metrics"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_key_is_401_on_every_route(api, method: str, path: str) -> None:
    response = api.request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_health_needs_no_key(api) -> None:
    assert api.get("/health").status_code == 200


def test_a_wrong_key_is_401_and_a_missing_scope_is_403(api, make_key) -> None:
    assert api.get("/api/v1/agents", headers={"X-API-Key": "jm_nothere_secret"}).status_code == 401
    reader = make_key("read")
    assert api.get("/api/v1/agents", headers=reader).status_code == 200
    denied = api.post("/api/v1/agents", headers=reader, json={"name": "x", "type": "letta"})
    assert denied.status_code == 403 and "write" in denied.json()["error"]["message"]
    writer = make_key("write")
    assert api.post("/api/v1/improvements/" + str(uuid.uuid4()) + "/approve", headers=writer).status_code == 403


def test_a_revoked_key_is_401(api, make_key, jarvis) -> None:
    headers = make_key("read", "write")
    assert api.get("/api/v1/agents", headers=headers).status_code == 200
    apikeys.revoke_key(jarvis.stores.postgres, headers["X-API-Key"].split("_")[1])
    assert api.get("/api/v1/agents", headers=headers).status_code == 401


def test_keys_are_stored_hashed(make_key, jarvis) -> None:
    key = make_key("read")["X-API-Key"]
    with jarvis.stores.postgres.pool.connection() as conn:
        stored = conn.execute("SELECT key_hash FROM api_keys WHERE prefix = %s", (key.split("_")[1],)).fetchone()[0]
    assert key not in stored and len(stored) == 64


def test_the_keys_command_creates_lists_and_revokes(jarvis_cli) -> None:
    created = jarvis_cli("keys", "create", "--name", "cli-test", "--scopes", "read,backup")
    assert created.returncode == 0
    key = created.stdout.strip()
    prefix = key.split("_")[1]
    listed = jarvis_cli("keys", "list").stdout
    assert prefix in listed and key not in listed
    assert jarvis_cli("keys", "revoke", prefix).returncode == 0
    assert "revoked" in [line for line in jarvis_cli("keys", "list").stdout.splitlines() if prefix in line][0]
