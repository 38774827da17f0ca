"""``/health``: per-store status and latency; 200 while Postgres (the system of record) is up."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from jarvis.api.keycheck import check_key, client_address
from jarvis.errors import JarvisError


router = APIRouter(tags=["health"])


class StoreHealth(BaseModel):
    store: str
    up: bool
    version: str | None = None
    latency_ms: float | None = None
    detail: str | None = None


class HealthReport(BaseModel):
    status: str  # "ok" | "degraded" | "down"
    degraded: list[str]
    stores: list[StoreHealth]


@router.get("/health", response_model=HealthReport, responses={503: {"model": HealthReport}})
async def get_health(request: Request, response: Response) -> HealthReport:
    """Degraded stores are listed; only a Postgres outage makes the service unhealthy (503).

    No key is needed. The stores are probed at most once a second, whoever asks; why a store
    is down (its error) is shown only to a caller with a valid key that has the read scope.
    """
    report = await run_in_threadpool(request.app.state.health.get)
    # The key is read by hand, not declared: the schema must keep saying /health needs none.
    if not await _may_see_details(request, request.headers.get("x-api-key")):
        report = [replace(health, detail=None) for health in report]
    down = [health.store for health in report if not health.up]
    postgres_up = "postgres" not in down
    if not postgres_up:
        response.status_code = 503
    return HealthReport(
        status="down" if not postgres_up else ("degraded" if down else "ok"),
        degraded=down,
        stores=[StoreHealth(**health.as_dict()) for health in report],
    )


async def _may_see_details(request: Request, key: str | None) -> bool:
    if not key:
        return False
    try:
        found = await check_key(request.app, key, address=client_address(request.client))
    except (HTTPException, JarvisError):
        return False  # a wrong key (or PostgreSQL down) on /health gets the anonymous answer, not an error
    return found.allows("read")
