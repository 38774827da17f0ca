"""The FastAPI application: one router per resource, settings injected at creation."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from jarvis import __version__
from jarvis.api.routes import health
from jarvis.config import Settings


def create_app(settings: Settings, *, run_projector: bool = False) -> FastAPI:
    """The API. With *run_projector*, a background thread retries the outbox while it serves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        worker = None
        if run_projector:
            worker = threading.Thread(target=_project_until, args=(settings, stop), name="jarvis-projector", daemon=True)
            worker.start()
        yield
        stop.set()
        if worker is not None:
            worker.join(timeout=10)

    app = FastAPI(title="JARVIS Memory", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.include_router(health.router)
    return app


def _project_until(settings: Settings, stop: threading.Event) -> None:
    from jarvis.connections import Stores
    from jarvis.outbox import Projector

    while not stop.is_set():
        try:
            stores = Stores(settings)
        except Exception:  # noqa: BLE001 - Postgres down at start: wait and retry
            stop.wait(2.0)
            continue
        projector = Projector(stores)
        try:
            projector.run(stop)
        finally:
            projector.close()
            stores.close()
