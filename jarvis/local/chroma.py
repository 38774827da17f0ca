"""Chroma for the local stack: the ``chroma run`` server from the chromadb package."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from jarvis.config import Settings
from jarvis.errors import StoreStartError
from jarvis.local.process import start_process, stop_process
from jarvis.stores.chroma import STORE, probe

__all__ = ["start", "stop"]


def _chroma_cli() -> str:
    found = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if not found:
        raise StoreStartError(STORE, "the `chroma` command is missing; is chromadb installed?")
    return found


def start(settings: Settings) -> str:
    if not settings.is_local(STORE):
        return "external"
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    argv = [
        _chroma_cli(), "run",
        "--path", str(path),
        "--host", settings.chroma_host,
        "--port", str(settings.chroma_port),
    ]
    return start_process(
        store=STORE,
        data_dir=settings.data_dir,
        argv=argv,
        env={"ANONYMIZED_TELEMETRY": "False", "CHROMA_TELEMETRY": "False"},
        ready=lambda: probe(settings).up,
        timeout=settings.start_timeout,
    )


def stop(settings: Settings) -> str:
    return stop_process(store=STORE, data_dir=settings.data_dir)
