"""Chroma for the local stack: the ``chroma run`` server from the chromadb package."""

from __future__ import annotations

import sys

from jarvis.config import Settings
from jarvis.local.process import start_process, stop_process
from jarvis.stores.chroma import STORE, probe

__all__ = ["start", "stop"]


#: ``chroma run`` through this interpreter: the ``chroma`` script need not be on PATH nor beside
#: it (an installed ``jarvis`` run by its full path, a virtualenv that borrows chromadb from another).
CHROMA_CLI = ("-c", "import sys; from chromadb.cli.cli import app; sys.exit(app())")


def start(settings: Settings) -> str:
    if not settings.is_local(STORE):
        return "external"
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        *CHROMA_CLI,
        "run",
        "--path",
        str(path),
        "--host",
        settings.chroma_host,
        "--port",
        str(settings.chroma_port),
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
