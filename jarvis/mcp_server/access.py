"""Who is calling an MCP tool, and how a call reaches the facade on their behalf.

Over HTTP the guard in :mod:`jarvis.mcp_server.http` has already checked the ``X-API-Key``
header (exactly as REST does) and left the key in the ASGI scope; over stdio the key comes
from ``JARVIS_API_KEY`` and is checked against PostgreSQL on every call (a verified key is
remembered for 5 s, as in the API), so a revoked key stops working there too.

Every facade call runs in a worker thread under :func:`jarvis.principal.acting_as` for the
key's user, so PostgreSQL's row-level security isolates a user-bound key exactly as over REST.
Errors leave as :class:`ToolFailure`, whose text is the REST error body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from jarvis.apikeys import ApiKey, authenticate
from jarvis.errors import JarvisError
from jarvis.facade import Jarvis
from jarvis.principal import acting_as

T = TypeVar("T")

#: Where the HTTP guard leaves the verified key in the ASGI scope (never the key's secret).
SCOPE_KEY = "jarvis.api_key"


class ToolFailure(ToolError):
    """A tool error whose text is the REST error body ``{"error": {"code", "message", "field"}}``."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        self.code, self.message, self.field = code, message, field
        super().__init__(json.dumps({"error": {"code": code, "message": message, "field": field}}))

    @classmethod
    def from_error(cls, exc: JarvisError) -> "ToolFailure":
        """The same code, message and field the REST API answers for *exc*."""
        from jarvis.api.errors import STATUS  # here: jarvis.api imports this module through /mcp

        for error_class, _status, code in STATUS:
            if isinstance(exc, error_class):
                message = str(exc) if code != "internal_error" else "an unexpected error occurred"
                return cls(code, message, getattr(exc, "field", None))
        return cls("internal_error", "an unexpected error occurred")


@dataclass
class Access:
    """Resolves the caller's key for a request and runs facade calls as that caller."""

    jarvis: Jarvis
    stdio_key: str | None = None  # the key of a `jarvis mcp` process (from JARVIS_API_KEY)

    def key_for(self, ctx: Context | None) -> ApiKey:
        """The caller's live key: the one the HTTP guard verified, else the stdio process's.

        Raises:
            ToolFailure: ``unauthorized`` when there is no valid key.
        """
        request = _request_of(ctx)
        if request is not None:
            found = request.scope.get(SCOPE_KEY)
            if isinstance(found, ApiKey):
                return found
            raise ToolFailure("unauthorized", "a valid X-API-Key header is required")
        if not self.stdio_key:
            raise ToolFailure("unauthorized", "set JARVIS_API_KEY to an API key from `jarvis keys create`")
        try:
            found = authenticate(self.jarvis.stores.postgres, self.stdio_key)
        except JarvisError as exc:
            raise ToolFailure.from_error(exc) from None
        if found is None:
            raise ToolFailure("unauthorized", "JARVIS_API_KEY is not a valid, unrevoked API key")
        return found

    def caller(self, ctx: Context | None, scope: str) -> ApiKey:
        """The caller's key, which must have *scope* (admin implies every scope)."""
        key = self.key_for(ctx)
        if not key.allows(scope):
            raise ToolFailure("forbidden", f"this key lacks the {scope!r} scope")
        return key

    async def run(self, caller: ApiKey, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, for *caller*'s user; our errors become ToolFailure."""

        def call() -> T:
            with acting_as(caller.user_id):
                return fn(*args, **kwargs)

        try:
            return await anyio.to_thread.run_sync(call)
        except JarvisError as exc:
            raise ToolFailure.from_error(exc) from None


def user_for(key: ApiKey, requested: str | None, field: str = "user_id") -> str | None:
    """The user a call is for: a key bound to a user acts only as that user (as REST's ``Caller.user_for``)."""
    if key.user_id is None:
        return requested
    if requested not in (None, key.user_id):
        raise ToolFailure("forbidden", f"this key acts for user {key.user_id!r} only", field)
    return key.user_id


def _request_of(ctx: Context | None) -> Any:
    if ctx is None:
        return None
    try:
        return ctx.request_context.request
    except ValueError:  # outside a request
        return None
