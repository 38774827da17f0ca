"""/api/v1 collaborations, events, performance metrics and improvement logs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from jarvis.api.deps import Admin, Writer
from jarvis.schemas import CollaborationIn, EventIn, ImprovementIn, MetricIn

router = APIRouter(prefix="/api/v1", tags=["operations"])
Row = dict[str, Any]


@router.post("/collaborations", status_code=201, tags=["collaborations"])
def start_collaboration(body: CollaborationIn, caller: Writer) -> Row:
    return caller.run(caller.jarvis.start_collaboration, **body.model_dump())


@router.post("/events", status_code=201, tags=["events"])
def log_event(body: EventIn, caller: Writer) -> Row:
    return caller.run(caller.jarvis.log_event, **body.model_dump())


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
