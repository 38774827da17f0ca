"""`rate:limit:{client}:{endpoint}`: over the limit, 429 with Retry-After; the window resets."""

from __future__ import annotations

from fastapi.testclient import TestClient

from jarvis import apikeys
from jarvis.api import create_app
from jarvis.stores.redis_keys import rate_limit
from tests.conftest import end_redis_ttl


def test_the_request_after_the_limit_gets_429_until_the_window_resets(settings, api_jarvis, make_key) -> None:
    strict = settings.model_copy(update={"api_rate_limit": 3, "api_rate_window": 2})
    headers = make_key("read")
    with TestClient(create_app(strict, jarvis=api_jarvis)) as client:
        statuses = [client.get("/api/v1/tasks/queues", headers=headers).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        refused = client.get("/api/v1/tasks/queues", headers=headers)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 2
        assert refused.json()["error"]["code"] == "rate_limited"
        assert client.get("/api/v1/agents", headers=headers).status_code == 200  # per endpoint
        key_id = apikeys.authenticate(api_jarvis.stores.postgres, headers["X-API-Key"]).id
        end_redis_ttl(
            api_jarvis.stores.redis.conn, rate_limit(key_id, "GET:/api/v1/tasks/queues"), within=strict.api_rate_window
        )  # the window ends
        assert client.get("/api/v1/tasks/queues", headers=headers).status_code == 200
