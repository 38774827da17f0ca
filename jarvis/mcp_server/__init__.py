"""JARVIS Memory as a Model Context Protocol server (the official ``mcp`` SDK).

Two transports, one server: ``jarvis mcp`` speaks MCP over stdio (the key from
``JARVIS_API_KEY``), and ``jarvis serve`` mounts the streamable HTTP transport at ``/mcp``
behind the same ``X-API-Key`` check, scopes and rate limit as the REST API. Tools are in
:mod:`~jarvis.mcp_server.tools`, resources and their change notices in
:mod:`~jarvis.mcp_server.resources`, who may do what in :mod:`~jarvis.mcp_server.access`,
the server itself in :mod:`~jarvis.mcp_server.server`.
"""
