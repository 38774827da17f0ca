"""``/metrics`` in Prometheus' text format: requests and latency per route, outbox backlog,
queue lengths and store health (the last three measured when scraped).

Every figure counts every user's traffic, writes and tasks, so only a key not bound to a user
(an operator's or a service's, as Prometheus scrapes with) may read them: a user-bound key gets
403. Its own writes' projection lag is at ``/console/api/outbox``."""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from jarvis.api.deps import Reader
from jarvis.dead_letters import outbox_stats

router = APIRouter(tags=["health"])


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "jarvis_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "jarvis_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.outbox = Gauge(
            "jarvis_outbox_pending_events", "Outbox events not yet applied everywhere", registry=self.registry
        )
        self.outbox_dead = Gauge(
            "jarvis_outbox_dead_events", "Outbox events a store refused for good (dead letters)", registry=self.registry
        )
        self.outbox_oldest = Gauge(
            "jarvis_outbox_oldest_pending_seconds", "Age of the oldest pending outbox event", registry=self.registry
        )
        self.queue = Gauge("jarvis_task_queue_length", "Tasks per Redis queue", ["queue"], registry=self.registry)
        self.store_up = Gauge("jarvis_store_up", "1 if the store answers", ["store"], registry=self.registry)
        self.store_latency = Gauge(
            "jarvis_store_latency_seconds", "Store round trip", ["store"], registry=self.registry
        )
        self.key_checks = Counter(
            "jarvis_api_key_checks_total",
            "API key checks by outcome (remembered, found, refused_cached, unknown, malformed, missing, throttled)",
            ["outcome"],
            registry=self.registry,
        )
        self.unlimited = Counter(
            "jarvis_rate_limit_unenforced_total",
            "Requests let through without a limit because Redis was unreachable (fail open)",
            ["limit"],
            registry=self.registry,
        )


def install(app: FastAPI) -> None:
    app.state.metrics = Metrics()
    app.add_middleware(Measure, metrics=app.state.metrics)


class Measure:
    """Pure ASGI middleware (Starlette's ``BaseHTTPMiddleware`` costs more than a cached read):
    counts each request by method, route and status, and observes its latency."""

    def __init__(self, app, *, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_and_see(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")  # set by the router, in this same scope
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def prometheus(request: Request, caller: Reader) -> Response:
    if caller.key.user_id is not None:
        raise HTTPException(403, "/metrics counts every user's activity: it needs a key not bound to a user")
    metrics: Metrics = request.app.state.metrics
    jarvis = caller.jarvis

    def refresh() -> None:
        for health in request.app.state.health.get():  # shared with /health: one probe per interval
            metrics.store_up.labels(health.store).set(1 if health.up else 0)
            if health.latency_ms is not None:
                metrics.store_latency.labels(health.store).set(health.latency_ms / 1000)
        try:
            with jarvis.stores.postgres.pool.connection(timeout=jarvis.stores.postgres.timeout) as conn:
                stats = outbox_stats(conn)
            metrics.outbox.set(stats.pending)
            metrics.outbox_dead.set(stats.dead)
            metrics.outbox_oldest.set(stats.oldest_pending_seconds)
            for queue, length in jarvis.queue_depths().items():
                metrics.queue.labels(queue).set(length)
        except Exception:  # noqa: BLE001 - a store is down; its health gauge already says so
            pass

    await run_in_threadpool(refresh)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
