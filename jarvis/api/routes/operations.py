"""/api/v1 collaborations, events, performance metrics and improvement logs."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from jarvis.api.deps import Admin, Reader, Writer
from jarvis.schemas import CollaborationIn, EventIn, ImprovementIn, MetricIn

router = APIRouter(prefix="/api/v1", tags=["operations"])
Row = dict[str, Any]


@router.post("/collaborations", status_code=201, tags=["collaborations"])
def start_collaboration(body: CollaborationIn, caller: Writer) -> Row:
    return caller.run(caller.jarvis.start_collaboration, **body.model_dump())


@router.post("/events", status_code=201, tags=["events"])
def log_event(body: EventIn, caller: Writer) -> Row:
    return caller.run(caller.jarvis.log_event, **body.model_dump())


@router.get("/events", tags=["events"])
def list_events(caller: Reader, severity: Literal["debug", "info", "warning", "error", "critical"] | None = None,
                event_type: str | None = Query(default=None, max_length=100),
                source: str | None = Query(default=None, max_length=255),
                limit: int = Query(default=100, ge=1, le=1000), offset: int = Query(default=0, ge=0)) -> list[Row]:
    return caller.run(caller.jarvis.list_events, severity=severity, event_type=event_type, source=source,
                      limit=limit, offset=offset)


@router.post("/performance-metrics", status_code=201, tags=["metrics"])
def record_metric(body: MetricIn, caller: Writer) -> Row:
    return caller.run(caller.jarvis.record_metric, **body.model_dump())


@router.post("/improvements", status_code=201, tags=["improvements"])
def log_improvement(body: ImprovementIn, caller: Writer) -> Row:
    return caller.run(caller.jarvis.log_improvement, **body.model_dump())


@router.post("/improvements/{improvement_id}/approve", tags=["improvements"])
def approve(improvement_id: UUID, caller: Admin) -> Row:
    return caller.run(caller.jarvis.approve_improvement, improvement_id)


@router.post("/improvements/{improvement_id}/apply", tags=["improvements"])
def apply(improvement_id: UUID, caller: Admin) -> Row:
    return caller.run(caller.jarvis.apply_improvement, improvement_id)
