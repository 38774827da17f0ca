"""The console's page, its static files, and signing in and out (none of them in the OpenAPI:
they take no X-API-Key; the sign-in checks the key it is given with the API's own check)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from jarvis.api.keycheck import check_key, client_address
from jarvis.console.session import COOKIE, SESSION_SECONDS, same_origin

STATIC = Path(__file__).parent / "static"
router = APIRouter(include_in_schema=False)
#: The page loads only its own files, and no other site may frame it.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
STATIC_HEADERS = {k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"}


class SignIn(BaseModel):
    api_key: str = Field(min_length=1, max_length=200)


class SecuredStatic(StaticFiles):
    """The static files with the page's headers: index.html is also reachable here, and must
    not be framed or load anything from elsewhere there either."""

    async def get_response(self, path: str, scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(STATIC_HEADERS)  # caching left as StaticFiles sets it (ETag, Last-Modified)
        return response


def mount_static(app: FastAPI) -> None:
    app.mount("/console/static", SecuredStatic(directory=STATIC), name="console-static")


@router.get("/console")
def console_page() -> Response:
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


@router.get("/console/")
def console_slash() -> Response:
    return RedirectResponse("/console", status_code=308)


@router.post("/console/session")
async def sign_in(body: SignIn, request: Request) -> Response:
    """Check the key like any request would (401/429 alike) and keep it in the sealed cookie."""
    if not same_origin(request.headers):
        raise HTTPException(403, "sign in from this site's console page")
    found = await check_key(request.app, body.api_key, address=client_address(request.client))
    if not found.allows("read"):
        raise HTTPException(403, "this key lacks the 'read' scope")
    value, session = request.app.state.console_seal.seal(body.api_key)
    response = JSONResponse(
        {"name": found.name, "scopes": list(found.scopes), "user_id": found.user_id, "csrf": session.csrf}
    )
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    response.set_cookie(
        COOKIE, value, max_age=SESSION_SECONDS, path="/", httponly=True, samesite="strict", secure=secure
    )
    return response


@router.delete("/console/session")
def sign_out(request: Request) -> Response:
    if not same_origin(request.headers):
        raise HTTPException(403, "sign out from this site's console page")
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
