"""`/health` over HTTP, against the real stores."""

from __future__ import annotations

from fastapi.testclient import TestClient

from jarvis.api import create_app
from jarvis.config import STORES, Settings


def test_health_lists_every_store_and_is_ok_when_all_are_up(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["degraded"] == []
    assert [store["store"] for store in body["stores"]] == list(STORES)
    assert all(store["up"] and store["latency_ms"] is not None for store in body["stores"])


def test_health_is_503_when_postgres_does_not_answer(settings: Settings) -> None:
    nowhere = settings.model_copy(update={"postgres_port": 1})
    with TestClient(create_app(nowhere)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "down" and "postgres" in response.json()["degraded"]
