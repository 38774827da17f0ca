"""The API server's idle size, measured in a process of its own: ``python -m jarvis.bench.serve_rss``.

The benchmark's own process holds torch (it compares the backends) and its data, so it
cannot say what ``jarvis serve`` holds. This child builds the server as ``jarvis serve``
does — the facade as the API's role, the embedder loaded and checked by the lifespan, uvicorn
on a real socket — waits until it serves, and prints one JSON line: its resident size,
whether torch was imported, and the backend serving. It opens no in-process store (Qdrant
Edge stays with the benchmark's process).
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    import psutil

    from jarvis.api.server import running_server
    from jarvis.config import Settings

    settings = Settings.from_env()
    with running_server(settings, run_projector=False):
        from jarvis.embeddings import Embedder

        embedder = Embedder.shared(backend=settings.embedder, cache_dir=settings.cache_dir)
        print(
            json.dumps(
                {
                    "rss_mib": psutil.Process().memory_info().rss / 2**20,
                    "torch": "torch" in sys.modules,
                    "backend": embedder.backend,
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
