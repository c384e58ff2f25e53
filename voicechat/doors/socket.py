"""One WebSocket loop for every WebSocket door: accept, the session, the writer pump, size limits, JSON
parsing, the idle timeout, drain on shutdown (close code 1001 after the running turn) and the goodbye.

A door plugs in its translation only (`Translation`): how it greets, how a client frame becomes session
calls, how the session's output becomes its frames, and how it words an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..resume import ResumeRefused, follow_jobs, load, restore
from ..security import principal_user
from ..session import Session, SessionError
from . import end_session

log = logging.getLogger(__name__)

Frame = dict[str, Any] | bytes  # what a door writes: a JSON object (a text frame) or binary audio
Write = Callable[[Frame], None]


class Translation(Protocol):
    """A door's wire format around the shared loop."""

    max_text_chars: int  # a text frame above this is refused (`message_too_large`)

    async def greet(self) -> None:
        """The door's first words (the native `ready`, Realtime's `session.created`)."""
        ...

    async def on_output(self, item: dict[str, Any] | bytes) -> None:
        """The session's output (native events as dicts, reply audio as bytes), in the door's frames."""
        ...

    async def on_event(self, event: dict[str, Any]) -> None:
        """A client's JSON object. Raising `SessionError` reports it and keeps the connection."""
        ...

    async def on_bytes(self, data: bytes) -> None:
        """A client's binary frame."""
        ...

    def report(self, exc: SessionError, recoverable: bool = True) -> None:
        """Tell the client about its mistake (or the idle timeout, `recoverable` False)."""
        ...


MakeTranslation = Callable[[Session, Write], Translation]


async def serve(websocket: WebSocket, door: str, make: MakeTranslation,
                subprotocol: str | None = None, resumable: bool = False) -> None:
    """Serve one client of `door` for the life of its connection.

    `resumable`: `?conversation_id=` continues that stored conversation (its owner only), on any node.
    """
    state = websocket.app.state
    settings = state.settings
    await websocket.accept(subprotocol=subprotocol)
    owner = principal_user(websocket.state)
    resumed: dict[str, Any] | None = None
    if resumable and "conversation_id" in websocket.query_params:
        try:
            resumed = await load(state.store, websocket.query_params["conversation_id"], owner)
        except ResumeRefused as refused:
            await websocket.close(refused.code, refused.reason)
            return
    outbox: asyncio.Queue[Frame | None] = asyncio.Queue()
    translation: Translation | None = None

    async def output(item: dict[str, Any] | bytes) -> None:
        if translation is not None:
            await translation.on_output(item)

    session = Session(engines=state.engines, settings=settings, output=output, media=state.media,
                      store=state.store, uploads_dir=state.uploads_dir, door=door, owner=owner,
                      **({"id": resumed["id"], "resumed": True} if resumed else {}))
    if resumed:
        restore(session, resumed)
    translation = make(session, outbox.put_nowait)

    async def pump() -> None:
        # One writer keeps frames in order whatever task produced them.
        while (frame := await outbox.get()) is not None:
            if isinstance(frame, bytes):
                await websocket.send_bytes(frame)
            else:
                await websocket.send_text(json.dumps(frame, ensure_ascii=False))

    writer = asyncio.create_task(pump(), name=f"{session.id}-writer")
    state.sessions.add(session)
    await session.start()
    if resumed:
        await follow_jobs(session, resumed)
    close_code, close_reason = 1000, None
    stop = asyncio.create_task(session.stop_requested.wait())
    try:
        await translation.greet()
        while True:
            receive = asyncio.create_task(websocket.receive())
            await asyncio.wait({receive, stop}, timeout=settings.idle_timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
            if not receive.done():
                receive.cancel()
                if stop.done():  # drained: the running turn has finished
                    close_code, close_reason = 1001, "server shutting down"
                else:
                    idle = f"no message for {settings.idle_timeout_s:g} s; closing"
                    translation.report(SessionError("idle_timeout", idle), recoverable=False)
                break
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                break
            try:
                await _dispatch(translation, message, settings.max_message_bytes)
            except SessionError as exc:
                translation.report(exc)
            if writer.done():
                break
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("session %s: %s door failed", session.id, door)
    finally:
        stop.cancel()
        await end_session(websocket, session, outbox, writer, close_code, close_reason)


async def _dispatch(translation: Translation, message: dict[str, Any], max_bytes: int) -> None:
    data = message.get("bytes")
    if data is not None:
        if len(data) > max_bytes:
            raise SessionError("message_too_large", f"audio frame of {len(data)} bytes exceeds {max_bytes}")
        await translation.on_bytes(data)
        return
    text = message.get("text")
    if text is None:
        return
    limit = translation.max_text_chars
    if len(text) > limit:
        raise SessionError("message_too_large", f"message of {len(text)} characters exceeds {limit}")
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise SessionError("invalid_json", f"not valid JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(event, dict):
        raise SessionError("invalid_event", "an event is a JSON object with a string field `type`")
    await translation.on_event(event)
