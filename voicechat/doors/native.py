"""The native WebSocket door `/ws`: binary frames are PCM16LE audio, text frames are JSON events.

docs/protocol.md is the contract; this module only parses, checks limits and serializes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import events
from ..audio import SUPPORTED_RATES
from ..protocol import PROTOCOL_VERSION
from ..security import principal_user
from ..session import Session, SessionError
from . import end_session

log = logging.getLogger(__name__)


async def native_door(websocket: WebSocket) -> None:
    """Serve one client for the life of its connection."""
    state = websocket.app.state
    settings = state.settings
    await websocket.accept()
    outbox: asyncio.Queue[dict[str, Any] | bytes | None] = asyncio.Queue()

    async def send(item: dict[str, Any] | bytes) -> None:
        outbox.put_nowait(item)

    async def pump() -> None:
        # One writer keeps frames in order whatever task produced them.
        while (item := await outbox.get()) is not None:
            if isinstance(item, bytes):
                await websocket.send_bytes(item)
            else:
                await websocket.send_text(json.dumps(item, ensure_ascii=False))

    session = Session(engines=state.engines, settings=settings, output=send, media=state.media,
                      store=state.store, uploads_dir=state.uploads_dir, owner=principal_user(websocket.state))
    writer = asyncio.create_task(pump(), name=f"{session.id}-writer")
    state.sessions.add(session)
    await session.start()
    close_code, close_reason = 1000, None
    await session.send(events.Ready(
        protocol=PROTOCOL_VERSION,
        session_id=session.id,
        session=session.config.public(),
        limits={
            "max_message_bytes": settings.max_message_bytes,
            "max_text_chars": settings.max_text_chars,
            "max_utterance_s": settings.vad_max_utterance_s,
            "input_rates": list(SUPPORTED_RATES),
            "output_formats": ["pcm16"],
        },
        engines=state.engines.describe(),
    ))
    try:
        stop = asyncio.create_task(session.stop_requested.wait())
        while True:
            receive = asyncio.create_task(websocket.receive())
            await asyncio.wait({receive, stop}, timeout=settings.idle_timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
            if not receive.done():
                receive.cancel()
                if stop.done():
                    close_code, close_reason = 1001, "server shutting down"
                else:
                    idle = f"no message for {settings.idle_timeout_s:g} s; closing"
                    await session.send(events.Error("idle_timeout", idle, recoverable=False))
                break
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                break
            try:
                await _dispatch(session, message, settings.max_message_bytes)
            except SessionError as exc:
                await session.send(exc.event())
            if writer.done():
                break
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("session %s: door failed", session.id)
    finally:
        if "stop" in locals():
            stop.cancel()
        await end_session(websocket, session, outbox, writer, close_code, close_reason)


async def _dispatch(session: Session, message: dict[str, Any], max_bytes: int) -> None:
    data = message.get("bytes")
    if data is not None:
        if len(data) > max_bytes:
            raise SessionError("message_too_large", f"audio frame of {len(data)} bytes exceeds {max_bytes}")
        await session.feed_audio(data)
        return
    text = message.get("text")
    if text is None:
        return
    if len(text) > max_bytes:
        raise SessionError("message_too_large", f"message of {len(text)} characters exceeds {max_bytes}")
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise SessionError("invalid_json", f"not valid JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise SessionError("invalid_event", "an event is a JSON object with a string field `type`")
    await session.handle(event)
