"""``/health``: per-store status and latency; 200 while Postgres (the system of record) is up."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel


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
    """Degraded stores are listed; only a Postgres outage makes the service unhealthy (503)."""
    report = await run_in_threadpool(request.app.state.jarvis.health)
    down = [health.store for health in report if not health.up]
    postgres_up = "postgres" not in down
    if not postgres_up:
        response.status_code = 503
    return HealthReport(
        status="down" if not postgres_up else ("degraded" if down else "ok"),
        degraded=down,
        stores=[StoreHealth(**health.as_dict()) for health in report],
    )
