"""The FastAPI application: one router per resource, under /api/v1; /health and /metrics."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from jarvis import __version__, console
from jarvis.api import errors, metrics, openapi
from jarvis.api.limits import BodyLimit
from jarvis.api.probes import CachedHealth
from jarvis.api.routes import (
    agents,
    conversations,
    erasure,
    health,
    knowledge,
    live,
    memory,
    messages,
    operations,
    search,
    tasks,
    users,
)
from jarvis.config import Settings
from jarvis.mcp_server.http import PATH as MCP_PATH, McpEndpoint
from jarvis.stores.redis_async import AsyncRedis

ROUTERS = (
    health.router,
    metrics.router,
    agents.router,
    tasks.router,
    conversations.router,
    memory.router,
    knowledge.router,
    users.router,
    operations.router,
    messages.router,
    search.router,
    live.router,
    erasure.router,
)


def create_app(settings: Settings, *, jarvis=None, run_projector: bool = False) -> FastAPI:
    """The API over a facade that reaches PostgreSQL as the API's role (row-level security on).

    Pass *jarvis* (or set ``app.state.jarvis`` before the app starts) to share a facade; otherwise
    one is made with the app and closed with it, and only that one: a lifespan never closes a
    facade it did not make (a test client may start and stop the lifespan per test). With
    *run_projector*, background threads retry pending outbox events and repair what Redis
    missed (:mod:`jarvis.jobs.repair`) while it serves.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from jarvis.facade import Jarvis

        shared = jarvis or getattr(app.state, "jarvis", None)
        made = None if shared is not None else Jarvis.from_settings(settings, as_api=True)
        app.state.jarvis = shared or made
        if made is not None:
            # load the model now (ONNX: under a second, no torch) so the first request does not
            # wait, and a store holding another kind of vectors stops the start (ConfigurationError)
            made.embedder

        from jarvis.jobs.repair import run_repairs

        stop = threading.Event()
        workers = []
        if run_projector:  # the outbox projector, and the loop that repairs what Redis missed
            workers = [
                threading.Thread(
                    target=app.state.jarvis.projector.run, args=(stop,), name="jarvis-projector", daemon=True
                ),
                threading.Thread(
                    target=run_repairs, args=(app.state.jarvis.stores, stop), name="jarvis-repair", daemon=True
                ),
            ]
            for worker in workers:
                worker.start()
        try:
            async with app.state.mcp.serving(app):  # /mcp: MCP sessions and their change feed
                yield
        finally:
            stop.set()
            await app.state.redis_async.close()
            for worker in workers:
                worker.join(timeout=10)
            if made is not None:
                made.close()
                if app.state.jarvis is made:
                    del app.state.jarvis

    app = FastAPI(
        title="JARVIS Memory",
        version=__version__,
        lifespan=lifespan,
        description="Memory and knowledge for AI agents: one API over PostgreSQL, Redis, Neo4j, "
        "Chroma and Qdrant. Every route but /health needs an X-API-Key.",
    )
    app.state.settings = settings
    app.state.redis_async = AsyncRedis(settings)  # the rate limit and cached reads, on the event loop
    app.state.health = CachedHealth(lambda: app.state.jarvis.health(), interval=settings.api_health_cache_seconds)
    if jarvis is not None:
        app.state.jarvis = jarvis  # usable even by clients that skip the lifespan (ASGI test transports)
    errors.install(app)
    openapi.install(app)
    metrics.install(app)
    for router in ROUTERS:
        app.include_router(router, responses=errors.COMMON_RESPONSES)
    console.install(app)  # /console: the operator's page, signed in with a key kept in a sealed cookie
    app.state.mcp = McpEndpoint()
    app.add_route(MCP_PATH, app.state.mcp, include_in_schema=False)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    return app
