"""The FastAPI application: one router per resource, settings injected at creation."""

from __future__ import annotations

from fastapi import FastAPI

from jarvis import __version__
from jarvis.api.routes import health
from jarvis.config import Settings


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="JARVIS Memory", version=__version__)
    app.state.settings = settings
    app.include_router(health.router)
    return app
