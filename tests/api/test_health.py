"""`/health` over HTTP, against the real stores."""

from __future__ import annotations

from fastapi.testclient import TestClient

from jarvis.api import create_app
from jarvis.config import Settings
from jarvis.stores.base import ALL_STORES as STORES


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


def test_the_server_projects_pending_events_in_the_background(settings: Settings, jarvis, name) -> None:
    import time

    from jarvis import local
    from jarvis.projection.maintenance import verify

    jarvis.sync()
    local.down(settings, ["neo4j"])
    try:
        written = jarvis.add_knowledge(topic=f"{name}-bg", content="Projected later by the server's own loop.")
        assert written["lagging"] == ["neo4j"]
    finally:
        local.up(settings, ["neo4j"])
    with TestClient(create_app(settings, run_projector=True)):
        deadline = time.monotonic() + 30
        while jarvis.projector.pending() and time.monotonic() < deadline:
            time.sleep(0.2)
    assert jarvis.projector.pending() == 0
    assert verify(jarvis.stores, ["neo4j"]) == []
