"""/api/v1/live: a WebSocket streaming the pub/sub channels to authorized clients.

Browsers cannot set headers on a WebSocket, so the key may also come as ``?api_key=``.
Close codes: 4401 without a valid key, 4403 without the read scope, 4422 for an unknown channel.
"""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from jarvis.api.live_ownership import EventOwnership
from jarvis.apikeys import authenticate
from jarvis.stores.redis_keys import CHANNELS

router = APIRouter(tags=["live"])


@router.websocket("/api/v1/live")
async def live(websocket: WebSocket, channels: str | None = None, api_key: str | None = None) -> None:
    jarvis = websocket.app.state.jarvis
    key = websocket.headers.get("x-api-key") or api_key
    found = await run_in_threadpool(authenticate, jarvis.stores.postgres, key) if key else None
    chosen = [c for c in (channels or ",".join(CHANNELS)).split(",") if c]
    if found is None:
        await websocket.close(code=4401, reason="a valid API key is required")
        return
    if not found.allows("read"):
        await websocket.close(code=4403, reason="the key lacks the 'read' scope")
        return
    if not chosen or any(c not in CHANNELS for c in chosen):
        await websocket.close(code=4422, reason=f"channels must be some of {', '.join(CHANNELS)}")
        return
    await websocket.accept()
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

    tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(until_closed())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
        await pubsub.aclose()
        await client.aclose()
