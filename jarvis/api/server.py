"""Run the API with uvicorn: in the foreground (``jarvis serve``) or in a background thread
(the demo, the client's tests), always on a real socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from jarvis.api import logs
from jarvis.api.app import create_app
from jarvis.config import Settings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(
    settings: Settings,
    *,
    jarvis=None,
    host: str = "127.0.0.1",
    port: int | None = None,
    run_projector: bool = True,
    log_level: str = "warning",
) -> Iterator[str]:
    """Serve the API in a background thread until the block ends; yields its base URL."""
    port = port or free_port(host)
    config = uvicorn.Config(
        create_app(settings, jarvis=jarvis, run_projector=run_projector),
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
    )
    logs.install()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="jarvis-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the API did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
