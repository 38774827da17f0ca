"""The console's sealed cookie and the middleware that hands its key to the API's routes
(no store needed: a tiny app behind the middleware echoes the key it was given)."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from pydantic import SecretStr

from jarvis.console.session import COOKIE, ConsoleSession, SessionSeal

KEY = "jm_0123456789ab_" + "s" * 43


@pytest.fixture
def seal() -> SessionSeal:
    return SessionSeal(SecretStr("server-secret"))


@pytest.fixture
def client(seal) -> TestClient:
    app = FastAPI()

    @app.api_route("/api/v1/echo", methods=["GET", "POST"])
    @app.api_route("/mcp", methods=["GET", "POST"])
    def echo(request: Request) -> dict:
        return {"key": request.headers.get("x-api-key")}

    app.add_middleware(ConsoleSession, seal=seal)
    return TestClient(app, base_url="http://console.test")


def test_the_cookie_opens_only_with_the_secret_that_sealed_it_and_never_shows_the_key(seal) -> None:
    value, session = seal.seal(KEY)
    assert KEY not in value and "s" * 20 not in value
    assert seal.open(value) == session
    assert SessionSeal(SecretStr("another-secret")).open(value) is None
    flipped = value[:20] + ("A" if value[20] != "A" else "B") + value[21:]
    assert seal.open(flipped) is None
    assert seal.open(value, now=session.expires + 1) is None
    for junk in ("", "x", "%%%", "A" * 5000):
        assert seal.open(junk) is None


def test_a_signed_in_browser_reads_with_its_cookie_and_writes_only_with_the_csrf_token(client, seal) -> None:
    value, session = seal.seal(KEY)
    client.cookies.set(COOKIE, value)
    assert client.get("/api/v1/echo").json() == {"key": KEY}
    refused = client.post("/api/v1/echo")
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "x-csrf-token"
    assert client.post("/api/v1/echo", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    token = {"X-CSRF-Token": session.csrf}
    assert client.post("/api/v1/echo", headers=token).json() == {"key": KEY}
    assert client.post("/api/v1/echo", headers={**token, "Origin": "http://console.test"}).json() == {"key": KEY}
    assert client.post("/api/v1/echo", headers={**token, "Origin": "https://evil.example"}).status_code == 403
    assert client.post("/api/v1/echo", headers={**token, "Origin": "null"}).status_code == 403


def test_the_cookie_is_no_key_outside_the_apis_paths_nor_over_an_explicit_header(client, seal) -> None:
    value, _ = seal.seal(KEY)
    client.cookies.set(COOKIE, value)
    assert client.get("/mcp").json() == {"key": None}
    assert client.get("/api/v1/echo", headers={"X-API-Key": "jm_other_key"}).json() == {"key": "jm_other_key"}
    client.cookies.set(COOKIE, seal.seal(KEY, now=time.time() - 10 * 3600)[0])  # expired
    assert client.get("/api/v1/echo").json() == {"key": None}


def test_a_live_socket_gets_the_key_only_from_this_hosts_pages(seal) -> None:
    app = FastAPI()

    @app.websocket("/api/v1/live")
    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"key": websocket.headers.get("x-api-key")})
        await websocket.close()

    app.add_middleware(ConsoleSession, seal=seal)
    client = TestClient(app, base_url="http://console.test")
    client.cookies.set(COOKIE, seal.seal(KEY)[0])
    # (the test client sends Host: testserver on a WebSocket)
    for origin, expected in (("http://testserver", KEY), ("https://evil.example", None), (None, None)):
        headers = {"Origin": origin} if origin else {}
        with client.websocket_connect("/api/v1/live", headers=headers) as ws:
            assert ws.receive_json() == {"key": expected}, origin
