"""``/health``: per-store status and latency; 200 while Postgres (the system of record) is up."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from jarvis.api.keycheck import check_key, client_address
from jarvis.errors import JarvisError
from jarvis.shapes import HealthReport, StoreHealth
from jarvis.stores.base import Health

router = APIRouter(tags=["health"])


def report_of(healths: list[Health]) -> HealthReport:
    """The stores' health as ``/health`` and the MCP ``store_health`` tool answer it: only a
    PostgreSQL outage makes the service ``down``; any other store down makes it ``degraded``."""
    down = [health.store for health in healths if not health.up]
    return {
        "status": "down" if "postgres" in down else ("degraded" if down else "ok"),
        "degraded": down,
        "stores": [StoreHealth(**health.as_dict()) for health in healths],
    }  # type: ignore[typeddict-item]


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
    answer = report_of(report)
    if answer["status"] == "down":
        response.status_code = 503
    return answer


async def _may_see_details(request: Request, key: str | None) -> bool:
    if not key:
        return False
    try:
        found = await check_key(request.app, key, address=client_address(request.client))
    except (HTTPException, JarvisError):
        return False  # a wrong key (or PostgreSQL down) on /health gets the anonymous answer, not an error
    return found.allows("read")
