"""Checking the caller's API key cheaply, for HTTP routes, ``/health`` and the live WebSocket.

Unauthenticated traffic must cost next to nothing: a missing or malformed key is refused
without any I/O; a key this process verified or refused lately is answered from memory
(:mod:`jarvis.apikeys`); only a new well-formed key reaches PostgreSQL, and each such lookup
that fails counts against the client address (``rate:limit:addr:{address}:auth-failures`` in
Redis). Past ``JARVIS_API_AUTH_FAILURE_LIMIT`` failures in a rate-limit window, the address
gets 429 before any query.

With Redis unreachable the failure limit, like the request limit, **fails open** (refusing
every caller because a cache is down would turn a Redis outage into a total one): requests are
served, PostgreSQL still checks every key, the negative cache still absorbs repeats, and each
request let through unlimited counts in ``jarvis_rate_limit_unenforced_total`` on /metrics.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool

from jarvis.apikeys import ApiKey, authenticate, refused_lately, remembered, well_formed

UNAUTHORIZED = "a valid X-API-Key header is required"


def _count(app: FastAPI, outcome: str) -> None:
    metrics = getattr(app.state, "metrics", None)
    if metrics is not None:
        metrics.key_checks.labels(outcome).inc()


def unenforced(app: FastAPI, limit: str) -> None:
    """Record a request let through without *limit* because Redis could not be reached."""
    metrics = getattr(app.state, "metrics", None)
    if metrics is not None:
        metrics.unlimited.labels(limit).inc()


def _refuse(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status, message, headers=headers or {"WWW-Authenticate": "APIKey"})


async def check_key(app: FastAPI, key: str | None, *, address: str) -> ApiKey:
    """The live key behind *key*, as cheaply as possible.

    Raises:
        HTTPException: 401 for a missing, malformed, unknown or revoked key; 429 (with
            Retry-After) when *address* failed too many lookups in this window.
    """
    if not key:
        _count(app, "missing")
        raise _refuse(401, UNAUTHORIZED)
    if (found := remembered(key)) is not None:
        _count(app, "remembered")
        return found
    if not well_formed(key):
        _count(app, "malformed")
        raise _refuse(401, UNAUTHORIZED)
    if refused_lately(key):
        _count(app, "refused_cached")
        raise _refuse(401, UNAUTHORIZED)
    settings = app.state.settings
    failures = await app.state.redis_async.auth_failures(address)
    if failures is None:
        unenforced(app, "auth_failures")
    elif failures[0] >= settings.api_auth_failure_limit:
        _count(app, "throttled")
        raise _refuse(
            429,
            f"too many failed API key lookups from this address; retry in {failures[1]} s",
            headers={"Retry-After": str(failures[1])},
        )
    found = await run_in_threadpool(authenticate, app.state.jarvis.stores.postgres, key)
    if found is None:
        _count(app, "unknown")
        await app.state.redis_async.count_auth_failure(address, window=settings.api_rate_window)
        raise _refuse(401, UNAUTHORIZED)
    _count(app, "found")
    return found


def client_address(client) -> str:
    """The peer's address (behind a proxy, run uvicorn with ``--proxy-headers`` so this is the client's)."""
    return client.host if client is not None and client.host else "unknown"
