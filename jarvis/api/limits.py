"""A request-size limit enforced before the body is read into memory (413 past it)."""

from __future__ import annotations

import json


class BodyLimit:
    """Pure ASGI middleware: refuses a declared Content-Length over the limit at once, and
    answers 413 as soon as a streamed body (chunked, no Content-Length) crosses the limit.

    The streamed case cannot raise into the app: FastAPI turns any error while reading a body
    into a 400. So the 413 is sent from here, the app is told the client went away, and
    whatever the app tries to send after that is dropped.
    """

    def __init__(self, app, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        seen = 0
        refused = False
        started = False

        async def limited_receive():
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes and not started:
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if refused:
                return  # the client already has its 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, send) -> None:
        body = json.dumps(
            {"error": {"code": "too_large", "message": f"the body exceeds {self.max_bytes} bytes", "field": "body"}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
