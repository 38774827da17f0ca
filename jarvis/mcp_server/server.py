"""The MCP server: the SDK's ``MCPServer`` with our tools, resources and error shape."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from jarvis import __version__
from jarvis.mcp_server import resources, tools
from jarvis.mcp_server.access import Access, ToolFailure

__all__ = ["JarvisMCP", "build_server"]

INSTRUCTIONS = (
    "JARVIS Memory: long-term memory and knowledge for agents. `remember` stores a memory of an agent and "
    "`recall` finds it again by meaning; `remember_message` keeps a conversation; `search` looks across "
    "knowledge, conversations, code and more; `add_knowledge`, `relate_knowledge` and `traverse_knowledge` "
    "build and walk the knowledge graph; `create_task`, `dequeue_task`, `complete_task` and `fail_task` run "
    'work through priority queues with leases. Errors are JSON: {"error": {"code", "message", "field"}}.'
)


def _cause(exc: BaseException, kind: type) -> Any:
    """The first exception of *kind* in *exc*'s chain of causes."""
    while exc is not None:
        if isinstance(exc, kind):
            return exc
        exc = exc.__cause__
    return None


class JarvisMCP(MCPServer):
    """The SDK's server, with errors told the way the REST API tells them (code, message, field)."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            raise _as_failure(exc) from None

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        try:
            return await super().read_resource(uri, context)
        except ResourceError as exc:
            failure = _cause(exc, ToolFailure)
            if failure is None:
                raise
            raise ResourceError(str(failure)) from None
        except MCPError:
            raise
        except Exception as exc:  # the SDK wraps what a resource raised; keep our message, hide the rest
            failure = _cause(exc, ToolFailure)
            raise ResourceError(
                str(failure) if failure else str(ToolFailure("internal_error", "an unexpected error occurred"))
            ) from None


def _as_failure(exc: ToolError) -> ToolError:
    if (failure := _cause(exc, ToolFailure)) is not None:
        return failure
    if (invalid := _cause(exc, ValidationError)) is not None:
        # The arguments did not fit the tool's schema: name the field as REST does ("field: message").
        error = invalid.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "arguments"
        return ToolFailure("invalid_input", f"{field}: {error['msg']}", field)
    if isinstance(exc, UnexpectedToolError):
        return ToolFailure("internal_error", "an unexpected error occurred; it has been logged")
    return ToolFailure("not_found", str(exc)) if str(exc).startswith("Unknown tool") else exc


def build_server(access: Access) -> tuple[JarvisMCP, InMemorySubscriptionBus, resources.Subscribers]:
    """The MCP server over *access*'s facade, with the bus and the subscribers its change feed fills."""
    bus = InMemorySubscriptionBus()
    server = JarvisMCP(
        "jarvis-memory",
        title="JARVIS Memory",
        version=__version__,
        instructions=INSTRUCTIONS,
        subscriptions=bus,
        log_level="WARNING",
    )
    tools.register(server, access)
    resources.register(server, access)
    subscribers = resources.Subscribers()
    subscribers.install(server)
    return server, bus, subscribers
