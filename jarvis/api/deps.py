"""Dependencies every route shares: the facade, the caller's key (with scope and rate limit)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from jarvis.api.keycheck import check_key, client_address, unenforced
from jarvis.apikeys import ApiKey
from jarvis.facade import Jarvis
from jarvis.principal import acting_as

T = TypeVar("T")
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key from `jarvis keys create`")


@dataclass(frozen=True)
class Caller:
    """The authenticated key behind a request; ``run`` calls the facade on its user's behalf."""

    key: ApiKey
    jarvis: Jarvis
    prefetched: str | None = None  # the cache value the route asked for, read with the rate limit

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with acting_as(self.key.user_id):
            return fn(*args, **kwargs)

    def user_for(self, requested: str | None) -> str | None:
        """The user a write is for: a key bound to a user may only write as that user."""
        if self.key.user_id is None:
            return requested
        if requested not in (None, self.key.user_id):
            raise HTTPException(403, f"this key acts for user {self.key.user_id!r} only")
        return self.key.user_id


def require(scope: str, *, prefetch: Callable[[Request], str | None] | None = None) -> Callable[..., Caller]:
    """A dependency: a valid, unrevoked key with *scope* (admin implies all), within its rate
    limit. *prefetch* names the cache key the route will read (from the request), which is
    then read in the rate limit's round trip (``Caller.prefetched``)."""

    # The scope is declared on the security requirement, so /openapi.json says what each operation needs.
    # (A default, not Annotated: annotations are strings here and could not see *scope*.)
    async def dependency(request: Request, key: str | None = Security(API_KEY_HEADER, scopes=[scope])) -> Caller:
        # On the event loop: a key verified (or refused) lately and the rate limit cost no thread-pool hop.
        jarvis: Jarvis = request.app.state.jarvis
        found = await check_key(request.app, key, address=client_address(request.client))
        if not found.allows(scope):
            raise HTTPException(403, f"this key lacks the {scope!r} scope")
        prefetched = await _rate_limit(request, found, prefetch(request) if prefetch else None)
        return Caller(key=found, jarvis=jarvis, prefetched=prefetched)

    return dependency


async def _rate_limit(request: Request, key: ApiKey, also_get: str | None) -> str | None:
    route = request.scope.get("route")
    endpoint = f"{request.method}:{getattr(route, 'path', request.url.path)}"
    settings = request.app.state.settings
    hit = await request.app.state.redis_async.hit_rate_limit(
        key.id, endpoint, window=settings.api_rate_window, also_get=also_get
    )
    if hit is None:  # Redis down: serve rather than refuse everyone (fail open, counted on /metrics)
        unenforced(request.app, "requests")
        return None
    count, reset, value = hit
    if count > settings.api_rate_limit:
        raise HTTPException(
            429,
            f"more than {settings.api_rate_limit} requests to {endpoint} in {settings.api_rate_window} s",
            headers={"Retry-After": str(reset)},
        )
    return value


Reader = Annotated[Caller, Depends(require("read"))]
Writer = Annotated[Caller, Depends(require("write"))]
Admin = Annotated[Caller, Depends(require("admin"))]
