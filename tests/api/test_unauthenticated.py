"""Unauthenticated traffic is cheap to refuse: failed key lookups are remembered and limited per
client address, /health probes each store at most once per interval and shows store errors only
to a keyed caller, a streamed body past the limit gets 413, and Redis down fails open, visibly."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from jarvis import local
from jarvis.api import create_app
from jarvis.stores.redis_async import AUTH_FAILURES
from jarvis.stores.redis_keys import rate_limit


def _unknown_key() -> str:
    return f"jm_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def _metric(client: TestClient, headers: dict[str, str], name: str, **labels: str) -> float:
    text = client.get("/metrics", headers=headers).text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}\{{{wanted}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def address(jarvis, name) -> Iterator[str]:
    """A client address of this test's own (failed lookups are counted per address in Redis)."""
    yield f"{name}-addr"
    jarvis.stores.redis.conn.delete(rate_limit(f"addr:{name}-addr", AUTH_FAILURES))


def test_a_wrong_key_is_looked_up_once_then_refused_from_memory(settings, api_jarvis, make_key, address) -> None:
    reader = make_key("read")
    wrong = {"X-API-Key": _unknown_key()}
    with TestClient(create_app(settings, jarvis=api_jarvis), client=(address, 50000)) as client:
        for _ in range(5):
            assert client.get("/api/v1/agents", headers=wrong).status_code == 401
        assert client.get("/api/v1/agents", headers={"X-API-Key": "not-even-shaped-like-a-key"}).status_code == 401
        assert client.get("/api/v1/agents").status_code == 401
        assert _metric(client, reader, "jarvis_api_key_checks_total", outcome="unknown") == 1  # one query...
        assert _metric(client, reader, "jarvis_api_key_checks_total", outcome="refused_cached") == 4  # ...then memory
        assert _metric(client, reader, "jarvis_api_key_checks_total", outcome="malformed") == 1
        assert _metric(client, reader, "jarvis_api_key_checks_total", outcome="missing") == 1


def test_an_address_that_fails_too_many_lookups_gets_429(settings, api_jarvis, make_key, address, jarvis) -> None:
    strict = settings.model_copy(update={"api_auth_failure_limit": 3})
    reader = make_key("read")
    with TestClient(create_app(strict, jarvis=api_jarvis), client=(address, 50000)) as client:
        assert client.get("/api/v1/agents", headers=reader).status_code == 200  # verified: remembered from now on
        statuses = [client.get("/api/v1/agents", headers={"X-API-Key": _unknown_key()}).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        throttled = client.get("/api/v1/agents", headers={"X-API-Key": _unknown_key()})
        assert throttled.status_code == 429 and 1 <= int(throttled.headers["Retry-After"]) <= strict.api_rate_window
        assert throttled.json()["error"]["code"] == "rate_limited"
        assert client.get("/api/v1/agents", headers=reader).status_code == 200  # a key it already holds still works
    with TestClient(create_app(strict, jarvis=api_jarvis), client=(f"{address}-other", 50000)) as other:
        assert other.get("/api/v1/agents", headers={"X-API-Key": _unknown_key()}).status_code == 401  # per address
    jarvis.stores.redis.conn.delete(rate_limit(f"addr:{address}-other", AUTH_FAILURES))


def test_health_probes_each_store_at_most_once_per_interval(settings, api_jarvis) -> None:
    app = create_app(settings, jarvis=api_jarvis)
    now = [1000.0]
    app.state.health.clock = lambda: now[0]  # the injected clock: one second is a number, not a sleep
    with TestClient(app) as client:
        for _ in range(20):
            assert client.get("/health").status_code == 200
        assert app.state.health.probes == 1
        now[0] += 0.99
        client.get("/health")
        assert app.state.health.probes == 1
        now[0] += 0.01
        client.get("/health")
        assert app.state.health.probes == 2


def test_store_errors_are_shown_to_keyed_callers_only(settings, api_jarvis, make_key) -> None:
    reader = make_key("read")
    app = create_app(settings.model_copy(update={"api_health_cache_seconds": 0}), jarvis=api_jarvis)
    local.down(settings, ["chroma"])
    try:
        with TestClient(app) as client:
            anonymous = client.get("/health").json()
            keyed = client.get("/health", headers=reader).json()
            wrong = client.get("/health", headers={"X-API-Key": _unknown_key()})
    finally:
        local.up(settings, ["chroma"])
    chroma = {
        report: next(s for s in body["stores"] if s["store"] == "chroma")
        for report, body in (("anonymous", anonymous), ("keyed", keyed), ("wrong", wrong.json()))
    }
    assert anonymous["degraded"] == ["chroma"] and not chroma["anonymous"]["up"]
    assert chroma["anonymous"]["detail"] is None
    assert chroma["keyed"]["detail"]  # the reason, for a caller with a key
    assert wrong.status_code == 200 and chroma["wrong"]["detail"] is None


def _chunks(total: int, size: int = 1000) -> Iterator[bytes]:
    body = b'{"name": "' + b"x" * total + b'", "type": "letta"}'
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_body_over_the_limit_gets_413(settings, api_jarvis, make_key, name) -> None:
    writer = {**make_key("read", "write"), "Content-Type": "application/json"}
    small = settings.model_copy(update={"api_max_body_bytes": 4096})
    with TestClient(create_app(small, jarvis=api_jarvis)) as client:
        refused = client.post("/api/v1/agents", headers=writer, content=_chunks(20_000))
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"] == {
            "code": "too_large",
            "message": "the body exceeds 4096 bytes",
            "field": "body",
        }
        fits = client.post(
            "/api/v1/agents", headers=writer, content=iter([b'{"name": "', name.encode(), b'", "type": "letta"}'])
        )
        assert fits.status_code == 201, fits.text  # a small chunked body is read as before


def test_with_redis_down_requests_are_served_unlimited_and_metrics_say_so(
    settings, api_jarvis, make_key, address
) -> None:
    reader = make_key("read")
    with TestClient(create_app(settings, jarvis=api_jarvis), client=(address, 50000)) as client:
        assert client.get("/api/v1/agents", headers=reader).status_code == 200
        local.down(settings, ["redis"])
        try:
            assert client.get("/api/v1/agents", headers=reader).status_code == 200  # fail open...
            assert client.get("/api/v1/agents", headers={"X-API-Key": _unknown_key()}).status_code == 401
            served = _metric(client, reader, "jarvis_rate_limit_unenforced_total", limit="requests")
            unlimited_lookups = _metric(client, reader, "jarvis_rate_limit_unenforced_total", limit="auth_failures")
        finally:
            local.up(settings, ["redis"])
    assert served >= 2 and unlimited_lookups == 1  # ...and visibly so
