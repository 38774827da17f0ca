"""/api/v1/live: a WebSocket streaming the pub/sub channels to authorized clients.

The key comes in the ``X-API-Key`` header or, from a browser (which cannot set headers on a
WebSocket), as the first message ``{"api_key": "..."}`` within :data:`AUTH_MESSAGE_SECONDS`.
Never in the URL: URLs end up in access logs and browser history, so a URL carrying
``api_key`` is refused. The key is checked again every ``JARVIS_API_KEY_RECHECK_SECONDS``
(5 s) against PostgreSQL, so revoking it closes the socket within that interval.

The socket is accepted before any check: a close before the handshake completes reaches the
client as a bare HTTP 403, never as a close code. Close codes: 4401 without a valid key (or
once it is revoked), 4403 without the read scope, 4422 for an unknown channel, 4429 after
too many failed key lookups from the client's address, 1013 while PostgreSQL is down.
"""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis
from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from jarvis.api.keycheck import check_key, client_address
from jarvis.api.live_ownership import EventOwnership
from jarvis.apikeys import ApiKey, authenticate
from jarvis.errors import JarvisError
from jarvis.stores.redis_keys import CHANNELS

router = APIRouter(tags=["live"])

#: How long a client without the header has to send its key as the first message.
AUTH_MESSAGE_SECONDS = 5.0
CLOSE_CODES = {401: 4401, 403: 4403, 429: 4429}


@router.websocket("/api/v1/live")
async def live(websocket: WebSocket, channels: str | None = None) -> None:
    jarvis = websocket.app.state.jarvis
    await websocket.accept()
    if "api_key" in websocket.query_params:
        await _close(
            websocket,
            4401,
            'API keys are not accepted in URLs: use the X-API-Key header or send {"api_key": ...} as the first message',
        )
        return
    key = websocket.headers.get("x-api-key") or await _first_message_key(websocket)
    try:
        found = await check_key(websocket.app, key, address=client_address(websocket.client))
    except HTTPException as refused:
        await _close(websocket, CLOSE_CODES.get(refused.status_code, 4401), str(refused.detail))
        return
    except JarvisError:  # PostgreSQL down: nobody's key can be checked
        await _close(websocket, 1013, "PostgreSQL is unavailable; try again later")
        return
    chosen = [c for c in (channels or ",".join(CHANNELS)).split(",") if c]
    if not found.allows("read"):
        await _close(websocket, 4403, "the key lacks the 'read' scope")
        return
    if not chosen or any(c not in CHANNELS for c in chosen):
        await _close(websocket, 4422, f"channels must be some of {', '.join(CHANNELS)}")
        return
    client = aioredis.Redis.from_url(jarvis.settings.redis_connection_url, decode_responses=True)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(*chosen)
    await websocket.send_json({"subscribed": chosen})

    ownership = EventOwnership(jarvis, found.user_id)  # a user-bound key gets its user's events only

    async def pump() -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None:
                data = json.loads(message["data"])
                if await ownership.allows(data):
                    await websocket.send_json({"channel": message["channel"], "data": data})

    async def until_closed() -> None:
        while True:
            if (await websocket.receive())["type"] == "websocket.disconnect":
                return

    tasks = [
        asyncio.ensure_future(pump()),
        asyncio.ensure_future(until_closed()),
        asyncio.ensure_future(_until_revoked(websocket, found, key)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
        await pubsub.aclose()
        await client.aclose()


async def _first_message_key(websocket: WebSocket) -> str | None:
    """The key a client without the header sends first: ``{"api_key": "..."}``; None otherwise."""
    try:
        message = await asyncio.wait_for(websocket.receive_text(), timeout=AUTH_MESSAGE_SECONDS)
        key = json.loads(message).get("api_key")
    except (asyncio.TimeoutError, WebSocketDisconnect, KeyError, ValueError, AttributeError, RuntimeError):
        return None
    return key if isinstance(key, str) else None


async def _until_revoked(websocket: WebSocket, found: ApiKey, key: str) -> None:
    """Re-check the key in PostgreSQL every interval; close the socket (4401) once it is revoked."""
    settings = websocket.app.state.settings
    postgres = websocket.app.state.jarvis.stores.postgres
    while True:
        await asyncio.sleep(settings.api_key_recheck_seconds)
        try:
            still = await run_in_threadpool(authenticate, postgres, key, fresh=True)
        except JarvisError:
            continue  # PostgreSQL down: nobody can revoke the key meanwhile either
        if still is None or still.id != found.id:
            await _close(websocket, 4401, "the API key was revoked")
            return


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with *code* (a close frame's reason holds at most 123 bytes); harmless if the client left."""
    try:
        await websocket.close(code=code, reason=reason.encode()[:123].decode(errors="ignore"))
    except (RuntimeError, WebSocketDisconnect):
        pass
