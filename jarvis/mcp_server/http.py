"""``/mcp`` in ``jarvis serve``: the streamable HTTP transport behind the REST API's key check.

Every HTTP request to ``/mcp`` (the POSTs carrying calls, the GET stream of notices, the
DELETE that ends a session) is checked like a REST request: a valid ``X-API-Key`` (401
otherwise, 429 after too many failed lookups), the ``read`` scope (403), and the per-key
rate limit (429 with Retry-After). The verified key rides in the ASGI scope to the tools
(never its secret), and each MCP session is bound to the key that opened it: the SDK answers
another key's request on that session as if the session did not exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from jarvis.api.errors import error_response
from jarvis.api.keycheck import check_key, client_address, unenforced
from jarvis.mcp_server.access import SCOPE_KEY

PATH = "/mcp"
CODES = {401: "unauthorized", 403: "forbidden", 429: "rate_limited", 503: "store_unavailable"}


class McpEndpoint:
    """The ASGI app mounted at ``/mcp``; it serves while :meth:`serving` runs (the app's lifespan)."""

    def __init__(self) -> None:
        self._transport: StreamableHTTPASGIApp | None = None

    @asynccontextmanager
    async def serving(self, app: FastAPI) -> AsyncIterator[None]:
        """Run the MCP sessions and the change feed for as long as the API serves."""
        from jarvis.mcp_server import resources  # here: the server imports the API's error table
        from jarvis.mcp_server.access import Access
        from jarvis.mcp_server.server import build_server

        server, bus, subscribers = build_server(Access(jarvis=app.state.jarvis))
        # The key check stands in for DNS-rebinding protection: a page in a browser cannot send the key.
        server.streamable_http_app(
            streamable_http_path=PATH,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        async with server.session_manager.run():
            feed = asyncio.ensure_future(resources.feed(app.state.settings, bus, subscribers))
            self._transport = StreamableHTTPASGIApp(server.session_manager)
            try:
                yield
            finally:
                self._transport = None
                feed.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if self._transport is None:
            await error_response(503, "store_unavailable", "the MCP endpoint is not running")(scope, receive, send)
            return
        try:
            key = await check_key(request.app, request.headers.get("x-api-key"), address=client_address(request.client))
            if not key.allows("read"):
                raise HTTPException(403, "this key lacks the 'read' scope")
            await _rate_limit(request, key.id)
        except HTTPException as refused:
            response = error_response(
                refused.status_code,
                CODES.get(refused.status_code, "http_error"),
                str(refused.detail),
                headers=getattr(refused, "headers", None),
            )
            await response(scope, receive, send)
            return
        scope[SCOPE_KEY] = key
        # The SDK binds a session to the principal that opened it; ours is the key's id.
        scope["user"] = AuthenticatedUser(AccessToken(token=key.id, client_id=key.id, scopes=list(key.scopes)))
        await self._transport(scope, receive, send)


async def _rate_limit(request: Request, key_id: str) -> None:
    settings = request.app.state.settings
    endpoint = f"{request.method}:{PATH}"
    hit = await request.app.state.redis_async.hit_rate_limit(key_id, endpoint, window=settings.api_rate_window)
    if hit is None:  # Redis down: serve, counted on /metrics (as REST does)
        unenforced(request.app, "requests")
        return
    count, reset, _ = hit
    if count > settings.api_rate_limit:
        raise HTTPException(
            429,
            f"more than {settings.api_rate_limit} requests to {endpoint} in {settings.api_rate_window} s",
            headers={"Retry-After": str(reset)},
        )
