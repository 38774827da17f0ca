"""/api/v1 collaborations, events, performance metrics and improvement logs."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query

from jarvis.api.deps import Admin, Reader, Writer
from jarvis.schemas import CollaborationIn, EventIn, ImprovementIn, MetricIn
from jarvis.shapes import CollaborationWritten, Event, Improvement, Metric
from jarvis.vocabulary import Severity

router = APIRouter(prefix="/api/v1", tags=["operations"])


@router.post("/collaborations", status_code=201, tags=["collaborations"], response_model=CollaborationWritten)
def start_collaboration(body: CollaborationIn, caller: Writer) -> CollaborationWritten:
    return caller.run(caller.jarvis.start_collaboration, body)


@router.post("/events", status_code=201, tags=["events"], response_model=Event)
def log_event(body: EventIn, caller: Writer) -> Event:
    return caller.run(caller.jarvis.log_event, body)


@router.get("/events", tags=["events"], response_model=list[Event])
def list_events(
    caller: Reader,
    severity: Severity | None = None,
    event_type: str | None = Query(default=None, max_length=100),
    source: str | None = Query(default=None, max_length=255),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> list[Event]:
    return caller.run(
        caller.jarvis.list_events, severity=severity, event_type=event_type, source=source, limit=limit, offset=offset
    )


@router.post("/performance-metrics", status_code=201, tags=["metrics"], response_model=Metric)
def record_metric(body: MetricIn, caller: Writer) -> Metric:
    return caller.run(caller.jarvis.record_metric, body)


@router.post("/improvements", status_code=201, tags=["improvements"], response_model=Improvement)
def log_improvement(body: ImprovementIn, caller: Writer) -> Improvement:
    return caller.run(caller.jarvis.log_improvement, body)


@router.post("/improvements/{improvement_id}/approve", tags=["improvements"], response_model=Improvement)
def approve(improvement_id: UUID, caller: Admin) -> Improvement:
    return caller.run(caller.jarvis.approve_improvement, improvement_id)


@router.post("/improvements/{improvement_id}/apply", tags=["improvements"], response_model=Improvement)
def apply(improvement_id: UUID, caller: Admin) -> Improvement:
    return caller.run(caller.jarvis.apply_improvement, improvement_id)
