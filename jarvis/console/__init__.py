"""The operator's console at ``/console``: a page served by ``jarvis serve`` itself.

Plain HTML, CSS and JavaScript modules under ``static/`` (shipped with the package, no build
step, nothing fetched at run time), a sign-in that keeps the API key in a sealed cookie
(:mod:`jarvis.console.session`), and a few read routes under ``/console/api`` for what the
memory API has no route for (task and agent boards, the graph around a node, operations).
Everything else the page shows comes from the API's own routes (``/health``, ``/metrics``,
``/api/v1/search``, ``/api/v1/tasks``, ``/api/v1/live``) with the same key, scopes and principal.
"""

from __future__ import annotations

from fastapi import FastAPI

from jarvis.console.session import ConsoleSession, SessionSeal


def install(app: FastAPI) -> None:
    """Mount the console's pages and routes on *app*, and its cookie sign-in."""
    from jarvis.api.errors import COMMON_RESPONSES
    from jarvis.console import ops, pages, routes

    app.state.console_seal = SessionSeal(app.state.settings.console_session_key)
    app.include_router(pages.router)
    app.include_router(routes.router, responses=COMMON_RESPONSES)
    app.include_router(ops.router, responses=COMMON_RESPONSES)
    pages.mount_static(app)
    app.add_middleware(ConsoleSession, seal=app.state.console_seal)
