"""Doors translate a wire format into Session calls and back; they hold no conversation logic."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.websockets import WebSocket, WebSocketState


async def end_session(
    websocket: WebSocket,
    session: Any,
    outbox: asyncio.Queue[Any],
    writer: asyncio.Task[None],
    code: int = 1000,
    reason: str | None = None,
) -> None:
    """The same goodbye for every WebSocket door: stop the session, flush what it said, close, tell drain."""
    websocket.app.state.sessions.discard(session)
    await session.close()
    outbox.put_nowait(None)
    try:
        await asyncio.wait_for(writer, timeout=2)
    except Exception:  # the client is gone or too slow: what is left is dropped
        writer.cancel()
    if websocket.client_state == WebSocketState.CONNECTED:
        try:
            await websocket.close(code, reason)
        except Exception:
            pass
    session.closed.set()
