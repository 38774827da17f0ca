"""``/openapi.json``: FastAPI's schema, plus the shapes of the live WebSocket it cannot describe.

FastAPI documents HTTP operations only; the socket at ``/api/v1/live`` and the MCP change feed
send the shapes in :mod:`jarvis.shapes.live`, added here to ``components.schemas`` by name
(``LiveSubscribed``, ``LiveEvent`` and what they refer to), so one schema describes every
shape the service sends.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from jarvis.shapes.live import LIVE_SCHEMAS

REF_TEMPLATE = "#/components/schemas/{model}"


def install(app: FastAPI) -> None:
    """Serve the app's schema with the live shapes added (built once, on first request)."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for name, shape in LIVE_SCHEMAS.items():
                found = TypeAdapter(shape).json_schema(ref_template=REF_TEMPLATE)
                components.update(found.pop("$defs", {}))
                components[name] = found
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]
