"""Secrets never leave their owner: lease tokens go only to the worker that dequeued the task,
API keys are never taken from a URL nor written to a log, and a revoked key's live socket closes.

The live socket is tested through a real uvicorn server with a real WebSocket client
(``websockets``): close codes must reach a client on the wire, not only the test transport.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from jarvis.api.server import running_server

RECHECK_SECONDS = 0.3


@pytest.fixture(scope="module")
def server(settings, api_jarvis) -> Iterator[str]:
    """The API on a real socket, re-checking an open socket's key every RECHECK_SECONDS."""
    quick = settings.model_copy(update={"api_key_recheck_seconds": RECHECK_SECONDS})
    with running_server(quick, jarvis=api_jarvis, run_projector=False, log_level="info") as url:
        yield url


def _ws(server: str, path: str, **headers: str):
    return connect(server.replace("http://", "ws://") + path, additional_headers=headers, proxy=None, open_timeout=10)


def _closed_with(ws, *, within: float = 10.0) -> tuple[int, str]:
    """Read until the server closes; the close code and reason the client received."""
    deadline = time.monotonic() + within
    with pytest.raises(ConnectionClosed) as closed:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(deadline - time.monotonic(), 0.01))
    return closed.value.rcvd.code, closed.value.rcvd.reason


# -- lease tokens --------------------------------------------------------------------------


def test_the_lease_token_is_only_in_the_workers_dequeue_answer(api, make_key, jarvis, name) -> None:
    writer, reader = make_key("read", "write"), make_key("read")
    created = api.post("/api/v1/tasks", headers=writer, json={"name": name, "type": "chat", "priority": 10})
    assert created.status_code == 201 and "lease_token" not in created.json()
    delivered = None
    for _ in range(50):  # other tests' tasks may be queued ahead of ours
        got = api.post("/api/v1/tasks/dequeue", headers=writer, json={"worker": name, "visibility_timeout": 30}).json()
        if got is None or got["task"]["id"] == created.json()["id"]:
            delivered = got
            break
    assert delivered is not None, "our task was never delivered"
    token = delivered["lease"]["token"]
    assert token and "lease_token" not in delivered["task"]
    with jarvis.stores.postgres.pool.connection() as conn:  # the row does hold it: PostgreSQL decides who finishes
        stored = conn.execute("SELECT lease_token FROM tasks WHERE id = %s", (created.json()["id"],)).fetchone()[0]
    assert stored == token

    for headers in (reader, writer):
        seen = api.get(f"/api/v1/tasks/{created.json()['id']}", headers=headers)
        assert seen.status_code == 200 and seen.json()["status"] == "running"
        assert "lease_token" not in seen.json() and token not in seen.text
    done = api.post(
        f"/api/v1/tasks/{created.json()['id']}/complete",
        headers=writer,
        json={"lease": delivered["lease"], "output": {}},
    )
    assert done.status_code == 200 and token not in done.text


def test_a_read_only_key_cannot_dequeue(api, make_key) -> None:
    refused = api.post("/api/v1/tasks/dequeue", headers=make_key("read"), json={"worker": "nosy"})
    assert refused.status_code == 403


# -- the live socket -----------------------------------------------------------------------


def test_the_socket_takes_the_key_from_the_header_or_the_first_message(server, make_key, jarvis) -> None:
    key = make_key("read")["X-API-Key"]
    with _ws(server, "/api/v1/live?channels=status_update", **{"X-API-Key": key}) as ws:
        assert json.loads(ws.recv(timeout=10)) == {"subscribed": ["status_update"]}
        jarvis.publish("status_update", {"agent_id": "a1", "status": "busy"})
        assert json.loads(ws.recv(timeout=10))["data"] == {"agent_id": "a1", "status": "busy"}
    with _ws(server, "/api/v1/live?channels=system_monitoring") as ws:  # a browser: no headers
        ws.send(json.dumps({"api_key": key}))
        assert json.loads(ws.recv(timeout=10)) == {"subscribed": ["system_monitoring"]}


def test_a_key_in_the_url_is_refused_with_4401(server, make_key) -> None:
    key = make_key("read")["X-API-Key"]
    with _ws(server, f"/api/v1/live?api_key={key}") as ws:
        code, reason = _closed_with(ws)
    assert code == 4401 and "URL" in reason


@pytest.mark.parametrize(
    ("scopes", "first", "path", "code"),
    [
        ((), "hello", "/api/v1/live", 4401),  # no header, no key in the first message
        ((), json.dumps({"api_key": "jm_000000000000_nothere"}), "/api/v1/live", 4401),  # an unknown key
        (("write",), None, "/api/v1/live", 4403),  # a key without the read scope
        (("read",), None, "/api/v1/live?channels=gossip", 4422),  # an unknown channel
    ],
)
def test_close_codes_reach_a_real_client(server, make_key, scopes, first, path, code) -> None:
    headers = make_key(*scopes) if scopes else {}
    with _ws(server, path, **headers) as ws:
        if first is not None:
            ws.send(first)
        assert _closed_with(ws)[0] == code


def test_revoking_a_key_closes_its_open_socket_within_the_recheck_interval(server, make_key, jarvis) -> None:
    key = make_key("read")["X-API-Key"]
    with _ws(server, "/api/v1/live", **{"X-API-Key": key}) as ws:
        assert "subscribed" in json.loads(ws.recv(timeout=10))
        # As another process would (`jarvis keys revoke`): this process's key cache knows nothing of it.
        with jarvis.stores.postgres.pool.connection() as conn:
            conn.execute("UPDATE api_keys SET revoked_at = now() WHERE prefix = %s", (key.split("_")[1],))
        revoked_at = time.monotonic()
        code, reason = _closed_with(ws, within=5)
        waited = time.monotonic() - revoked_at
    assert code == 4401 and "revoked" in reason
    assert waited < RECHECK_SECONDS + 1.0


# -- logs ----------------------------------------------------------------------------------


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_no_key_reaches_the_access_log_even_when_a_client_puts_it_in_a_url(server, make_key, name) -> None:
    key = make_key("read")["X-API-Key"]
    secret = key.split("_", 2)[2]
    captured = _Lines()
    loggers = [logging.getLogger(n) for n in ("uvicorn.access", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(captured)
    try:
        httpx.get(f"{server}/api/v1/agents?api_key={key}&mark={name}", headers={"X-API-Key": key}, trust_env=False)
        httpx.get(f"{server}/api/v1/agents/{key}", headers={"X-API-Key": key}, trust_env=False)
        with _ws(server, f"/api/v1/live?api_key={key}&mark={name}") as ws:
            _closed_with(ws)
        time.sleep(0.2)  # the access log line is written after the response
    finally:
        for logger in loggers:
            logger.removeHandler(captured)
    ours = [line for line in captured.lines if name in line or "/api/v1/agents/jm_" in line]
    assert len(ours) >= 3, captured.lines  # the requests were logged...
    assert not any(secret in line for line in captured.lines)  # ...without the key
    assert any("api_key=[redacted]" in line for line in ours)
