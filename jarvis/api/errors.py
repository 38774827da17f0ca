"""One error body everywhere: ``{"error": {"code", "message", "field"}}``, never a stack trace."""

from __future__ import annotations

import logging

import psycopg

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from jarvis.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    JarvisError,
    LeaseLost,
    NotFound,
    StoreTimeout,
    StoreUnavailable,
)
from jarvis.errors import MemoryLocked

logger = logging.getLogger("jarvis.api")

#: Seconds a client is told to wait after a 503 (a store down): about one connect timeout.
RETRY_AFTER_SECONDS = 3

#: Our errors and the HTTP status each becomes (the first match in order wins).
STATUS = (
    (InvalidInput, 422, "invalid_input"),
    (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (LeaseLost, 409, "lease_lost"),
    (StoreUnavailable, 503, "store_unavailable"),
    (StoreTimeout, 503, "store_timeout"),
    (MemoryLocked, 503, "memory_locked"),  # the server's key is missing or wrong: not the caller's fault
    (JarvisError, 500, "internal_error"),
)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """The one shape of every error response."""

    error: ErrorDetail


#: Documented on every /api/v1 route, so the OpenAPI schema says what clients may get.
COMMON_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Malformed JSON"),
        (401, "No valid API key"),
        (403, "The key lacks the scope, or acts for another user"),
        (404, "Not found"),
        (409, "Conflict, or a lost task lease"),
        (413, "Body too large"),
        (422, "Invalid input; `field` names it"),
        (429, "Rate limited; see Retry-After"),
        (503, "A store the request needs is down"),
    )
}


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "field": field}}, status_code=status, headers=headers
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(JarvisError)
    async def jarvis_error(request: Request, exc: JarvisError) -> JSONResponse:
        for cls, status, code in STATUS:
            if isinstance(exc, cls):
                if status >= 500 and code == "internal_error":
                    logger.error("unexpected %s on %s", type(exc).__name__, request.url.path)
                # A 503 says when to try again; an answered error also keeps the connection
                # usable (an unhandled exception makes the server drop it after a 500).
                headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
                return error_response(status, code, str(exc), getattr(exc, "field", None), headers=headers)
        raise exc  # unreachable: JarvisError is the last entry

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def postgres_down(request: Request, exc: Exception) -> JSONResponse:
        # A safety net for a path that met PostgreSQL's outage before translating it: still a
        # 503 answered here (a handler for Exception would make the server drop the connection).
        return error_response(
            503,
            "store_unavailable",
            f"postgres: {type(exc).__name__}",
            None,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        location = [str(part) for part in first.get("loc", ())]
        if location and location[0] in ("body", "query", "path", "header"):
            location = location[1:] or location
        field = ".".join(location) or "body"
        if first.get("type") == "json_invalid":
            return error_response(400, "malformed_json", f"the body is not valid JSON: {first.get('msg')}", "body")
        return error_response(422, "invalid_input", f"{field}: {first.get('msg')}", field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            429: "rate_limited",
        }.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
