"""Every operation in /openapi.json, generated from the spec (not a hand list): no key -> 401,
a key without the operation's scope -> 403, a revoked key -> 401. Each operation states the
scope it needs in its security requirement, so the spec is also what a client reads."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from jarvis import apikeys
from jarvis.api import create_app
from jarvis.config import Settings
from jarvis.stores.redis_async import AUTH_FAILURES
from jarvis.stores.redis_keys import rate_limit

SPEC = create_app(Settings.from_env()).openapi()
METHODS = ("get", "put", "post", "delete", "patch")
OPERATIONS = [
    (method, path, operation)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in METHODS
]
PUBLIC = {("get", "/health")}  # the only operation without a key
SECURED = [(m, p, op) for m, p, op in OPERATIONS if (m, p) not in PUBLIC]
ADDRESS = f"auth-matrix-{uuid.uuid4().hex[:8]}"


def _scope(operation: dict) -> str:
    (requirement,) = operation["security"]
    (scopes,) = requirement.values()
    (scope,) = scopes
    return scope


def _url(path: str, operation: dict) -> str:
    """The path with each parameter filled by a value its schema accepts."""
    params = {p["name"]: p.get("schema", {}) for p in operation.get("parameters", []) if p["in"] == "path"}

    def value(match: re.Match) -> str:
        schema = params.get(match.group(1), {})
        if schema.get("format") == "uuid":
            return str(uuid.uuid4())
        if schema.get("type") == "integer":
            return "1"
        if "enum" in schema:
            return str(schema["enum"][0])
        return "x"

    return re.sub(r"\{([^}]+)\}", value, path)


@pytest.fixture(scope="module")
def client(settings, api_jarvis, jarvis) -> Iterator[TestClient]:
    with TestClient(create_app(settings, jarvis=api_jarvis), client=(ADDRESS, 50000)) as test_client:
        yield test_client
    jarvis.stores.redis.conn.delete(rate_limit(f"addr:{ADDRESS}", AUTH_FAILURES))


@pytest.fixture(scope="module")
def revoked(make_key, jarvis) -> dict[str, str]:
    headers = make_key(*apikeys.SCOPES, name="matrix-revoked")
    apikeys.revoke_key(jarvis.stores.postgres, headers["X-API-Key"].split("_")[1])
    return headers


@pytest.fixture(scope="module")
def lacking(make_key) -> dict[str, dict[str, str]]:
    """Per scope, a key holding every other scope (admin implies all, so never admin)."""
    return {
        scope: make_key(*[s for s in apikeys.SCOPES if s not in (scope, "admin")], name=f"matrix-no-{scope}")
        for scope in apikeys.SCOPES
    }


def test_the_spec_lists_every_route_and_only_health_is_public() -> None:
    assert len(OPERATIONS) >= 45  # all of them, not a sample
    public = {(m, p) for m, p, op in OPERATIONS if not op.get("security")}
    assert public == PUBLIC
    assert {_scope(op) for _, _, op in SECURED} >= {"read", "write", "admin"}


def _call(client: TestClient, method: str, path: str, operation: dict, headers: dict[str, str]):
    body = {"json": {}} if "requestBody" in operation else {}
    return client.request(method, _url(path, operation), headers=headers, **body)


@pytest.mark.parametrize(("method", "path", "operation"), SECURED, ids=[f"{m.upper()} {p}" for m, p, _ in SECURED])
def test_every_operation_refuses_no_key_a_key_without_its_scope_and_a_revoked_key(
    client, lacking, revoked, method: str, path: str, operation: dict
) -> None:
    scope = _scope(operation)
    no_key = _call(client, method, path, operation, {})
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "unauthorized"
    wrong_scope = _call(client, method, path, operation, lacking[scope])
    assert wrong_scope.status_code == 403, wrong_scope.text
    assert scope in wrong_scope.json()["error"]["message"]
    revoked_key = _call(client, method, path, operation, revoked)
    assert revoked_key.status_code == 401, revoked_key.text
