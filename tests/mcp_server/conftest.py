"""MCP sessions for the tests: the SDK's own client (``ClientSession``) over stdio and over HTTP."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from jarvis.api.server import running_server
from jarvis.paths import PROJECT_ROOT

Handler = Callable[[Any], Awaitable[None]] | None


@asynccontextmanager
async def http_session(url: str, key: str | None, *, on_message: Handler = None) -> AsyncIterator[ClientSession]:
    """An initialized MCP session with ``{url}/mcp``, sending *key* as X-API-Key."""
    headers = {"X-API-Key": key} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0, read=300.0)) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write, message_handler=on_message) as session:
                await session.initialize()
                yield session


def stdio_parameters(key: str | None) -> StdioServerParameters:
    """`jarvis mcp` from this checkout, on the test stack, with *key* in JARVIS_API_KEY."""
    env = {name: value for name, value in os.environ.items() if name.startswith("JARVIS_") and name != "JARVIS_API_KEY"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    if key:
        env["JARVIS_API_KEY"] = key
    return StdioServerParameters(command=sys.executable, args=["-m", "jarvis", "mcp"], env=env, cwd=str(PROJECT_ROOT))


@asynccontextmanager
async def stdio_session(key: str, errlog) -> AsyncIterator[ClientSession]:
    async with stdio_client(stdio_parameters(key), errlog=errlog) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict:
    """Call *tool*; its structured result, or the REST-shaped error body when the call failed."""
    result = await session.call_tool(tool, arguments)
    if result.is_error:
        return json.loads(result.content[0].text)
    return result.structured_content


@pytest.fixture(scope="module")
def server(settings, api_jarvis):
    """The API on a real socket (uvicorn), with /mcp mounted."""
    with running_server(settings, jarvis=api_jarvis, run_projector=False) as url:
        yield url
