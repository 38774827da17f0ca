"""``jarvis mcp``: the MCP server over stdio, for clients that launch it as a subprocess.

The key comes from ``JARVIS_API_KEY`` (never a command-line argument: those are visible to
every user of the machine in the process list). It is checked before the server starts — no
key or a refused key ends the process with a message on stderr — and again on each call, so
revoking it takes effect within 5 s. PostgreSQL is reached as the API's role, so row-level
security applies exactly as it does to ``jarvis serve``. stdout carries only the protocol.
"""

from __future__ import annotations

import asyncio
import os
import sys

from jarvis.config import Settings

KEY_VARIABLE = "JARVIS_API_KEY"


def serve_stdio(settings: Settings) -> int:
    """Serve MCP on stdin/stdout until the client closes them. Exit code 2 without a key, 1 if refused."""
    key = os.environ.get(KEY_VARIABLE, "").strip()
    if not key:
        print(
            f"jarvis mcp: set {KEY_VARIABLE} to an API key (`jarvis keys create --name agent --scopes read,write`)",
            file=sys.stderr,
        )
        return 2

    from jarvis.apikeys import authenticate
    from jarvis.facade import Jarvis
    from jarvis.mcp_server import resources
    from jarvis.mcp_server.server import build_server
    from jarvis.mcp_server.access import Access

    jarvis = Jarvis.from_settings(settings, as_api=True)
    try:
        if authenticate(jarvis.stores.postgres, key) is None:
            print(f"jarvis mcp: {KEY_VARIABLE} is not a valid, unrevoked API key", file=sys.stderr)
            return 1
        server, bus, subscribers = build_server(Access(jarvis=jarvis, stdio_key=key))

        async def main() -> None:
            feed = asyncio.ensure_future(resources.feed(settings, bus, subscribers))
            try:
                await server.run_stdio_async()
            finally:
                feed.cancel()

        asyncio.run(main())
        return 0
    finally:
        jarvis.close()
