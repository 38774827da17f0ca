"""Qdrant for the local stack: Qdrant Edge runs inside the process that uses it.

There is no server to start. ``up`` prepares the shard directory and clears the
``STOPPED`` marker; ``down`` sets the marker, after which no process opens the shards
(a running one sees the store as down on its next reconnect). The collections themselves
are created by ``jarvis migrate``.
"""

from __future__ import annotations

from jarvis.config import Settings
from jarvis.stores.qdrant import STOPPED_MARKER, STORE

__all__ = ["start", "stop"]


def start(settings: Settings) -> str:
    if not settings.is_local(STORE):
        return "external"
    marker = settings.qdrant_path / STOPPED_MARKER
    if settings.qdrant_path.is_dir() and not marker.exists():
        return "already up"
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    return "started"


def stop(settings: Settings) -> str:
    if not settings.is_local(STORE):
        return "external"
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    marker = settings.qdrant_path / STOPPED_MARKER
    if marker.exists():
        return "not running"
    marker.write_text("stopped by `jarvis down`; `jarvis up --store qdrant` clears this\n")
    return "stopped"
