"""One connection loop for every door that holds a connection open (`/ws`, `/v1/realtime`, Wyoming over
TCP): accept, the session, the writer pump, size limits, JSON parsing, the idle timeout, drain on shutdown
(the running turn finishes, then the door's goodbye: close code 1001 on a WebSocket) and the goodbye.

A door plugs in two things: a `Transport` (how frames are read and written on its wire: WebSocket
messages, or Wyoming's JSON lines with payloads) and a `Translation` (how it greets, how a client event
becomes session calls, how the session's output becomes its frames, how it words an error).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ..resume import ResumeRefused, load, restore
from ..security import principal_user
from ..server_state import Served, ServerState, server_state
from ..session import Output, SessionError
from . import new_session

log = logging.getLogger(__name__)

Frame = Any  # what a door writes: a JSON object, binary audio, or its own wire event (Wyoming)
Write = Callable[[Frame], None]
Incoming = dict[str, Any] | bytes  # a client's event (a JSON object) or binary frame (audio)


@dataclass(frozen=True)
class Limits:
    """How big a client's message may be; above, it is refused (`message_too_large`) and nothing is lost."""

    text_chars: int  # a JSON text (a text frame, a Wyoming header or its data)
    binary_bytes: int  # a binary frame, a Wyoming payload


class StreamBroken(SessionError):
    """A client's message the stream cannot be read past (a Wyoming header that is not JSON): reported,
    then the connection closes."""


def check_size(size: int, limit: int, what: str) -> None:
    """Refuse a message over its limit, before it is read or parsed."""
    if size > limit:
        unit = "bytes" if what.endswith(("frame", "payload")) else "characters"
        raise SessionError("message_too_large", f"{what} of {size} {unit} exceeds {limit}")


def parse_object(text: str | bytes, limit: int, what: str = "message") -> dict[str, Any]:
    """A client's JSON object, or a `SessionError` saying why it is not one (too large, not JSON)."""
    check_size(len(text), limit, what)
    try:
        event = json.loads(text)
    except ValueError as exc:
        detail = f"{exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise SessionError("invalid_json", f"not valid JSON: {detail}") from exc
    if not isinstance(event, dict):
        raise SessionError("invalid_event", "an event is a JSON object with a string field `type`")
    return event


class Transport(Protocol):
    """A door's wire: framing only, no meaning."""

    async def accept(self) -> None:
        """Take the connection (the WebSocket handshake)."""
        ...

    async def receive(self, limits: Limits) -> Incoming | None:
        """The client's next message, or None once it is gone. A message over `limits` or not JSON raises
        `SessionError` with the stream still in step, so the loop reports it and reads on."""
        ...

    async def send(self, frame: Frame) -> None:
        """Write one frame (called by the writer pump only, so frames stay in order)."""
        ...

    async def close(self, code: int, reason: str | None) -> None:
        """Say goodbye (1000 normal, 1001 server going away) and close."""
        ...


class Translation(Protocol):
    """A door's wire format around the shared loop."""

    max_text_chars: int  # a JSON text above this is refused (`message_too_large`)

    async def greet(self) -> None:
        """The door's first words (the native `ready`, Realtime's `session.created`; Wyoming: none)."""
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


OpenServed = Callable[[Output], Served]
MakeTranslation = Callable[[Any, Write], Translation]
_GONE = (WebSocketDisconnect, ConnectionError, asyncio.IncompleteReadError)


async def serve(transport: Transport, state: ServerState, door: str, open_served: OpenServed,
                make: MakeTranslation) -> None:
    """Serve one client of `door` for the life of its connection."""
    settings = state.settings
    await transport.accept()
    outbox: asyncio.Queue[Frame | None] = asyncio.Queue()
    translation: Translation | None = None

    async def output(item: dict[str, Any] | bytes) -> None:
        if translation is not None:
            await translation.on_output(item)

    served = open_served(output)
    translation = make(served, outbox.put_nowait)
    limits = Limits(translation.max_text_chars, settings.max_message_bytes)

    async def pump() -> None:
        # One writer keeps frames in order whatever task produced them.
        while (frame := await outbox.get()) is not None:
            await transport.send(frame)

    writer = asyncio.create_task(pump(), name=f"{served.id}-writer")
    state.sessions.add(served)
    await served.start()
    close_code, close_reason = 1000, None
    stop = asyncio.create_task(served.stop_requested.wait())
    try:
        await translation.greet()
        while True:
            receive = asyncio.create_task(transport.receive(limits))
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
            try:
                message = receive.result()
                if message is None:
                    break
                if isinstance(message, bytes):
                    await translation.on_bytes(message)
                else:
                    await translation.on_event(message)
            except StreamBroken as exc:
                translation.report(exc, recoverable=False)
                break
            except SessionError as exc:
                translation.report(exc)
            if writer.done():
                break
    except _GONE:
        pass
    except Exception:
        log.exception("session %s: %s door failed", served.id, door)
    finally:
        stop.cancel()
        await _goodbye(state, transport, served, outbox, writer, close_code, close_reason)


async def _goodbye(state: ServerState, transport: Transport, served: Served, outbox: asyncio.Queue[Any],
                   writer: asyncio.Task[None], code: int, reason: str | None) -> None:
    """The same goodbye for every door: stop the session, flush what it said, close, tell drain."""
    state.sessions.discard(served)
    await served.close()
    outbox.put_nowait(None)
    try:
        await asyncio.wait_for(writer, timeout=2)
    except Exception:  # the client is gone or too slow: what is left is dropped
        writer.cancel()
    try:
        await transport.close(code, reason)
    except Exception:
        pass
    served.closed.set()


# --- WebSocket doors --------------------------------------------------------------------------------

@dataclass
class WebSocketTransport:
    """A WebSocket: text frames hold JSON objects, binary frames hold audio."""

    websocket: WebSocket
    subprotocol: str | None = None

    async def accept(self) -> None:
        if self.websocket.application_state == WebSocketState.CONNECTING:  # not yet (a resume check may)
            await self.websocket.accept(subprotocol=self.subprotocol)

    async def receive(self, limits: Limits) -> Incoming | None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            data, text = message.get("bytes"), message.get("text")
            if data is not None:
                check_size(len(data), limits.binary_bytes, "audio frame")
                return bytes(data)
            if text is not None:
                return parse_object(text, limits.text_chars)

    async def send(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            await self.websocket.send_bytes(frame)
        else:
            await self.websocket.send_text(json.dumps(frame, ensure_ascii=False))

    async def close(self, code: int, reason: str | None) -> None:
        if self.websocket.client_state == WebSocketState.CONNECTED:
            await self.websocket.close(code, reason)


async def serve_websocket(websocket: WebSocket, door: str, make: MakeTranslation,
                          subprotocol: str | None = None, resumable: bool = False) -> None:
    """A WebSocket door: a Session per connection, for the user the security middleware let in.

    `resumable`: `?conversation_id=` continues that stored conversation (its owner only, on any node);
    a refusal closes with 4403 (another user's) or 4404 (unknown) before any session starts.
    """
    state = server_state(websocket.app)
    owner = principal_user(websocket.state)
    transport = WebSocketTransport(websocket, subprotocol)
    resumed: dict[str, Any] | None = None
    if resumable and "conversation_id" in websocket.query_params:
        await transport.accept()  # a close code needs an accepted socket
        try:
            resumed = await load(state.store, websocket.query_params["conversation_id"], owner)
        except ResumeRefused as refused:
            await websocket.close(refused.code, refused.reason)
            return

    def open_session(output: Output) -> Served:
        if resumed is None:
            return new_session(state, door=door, output=output, owner=owner)
        session = new_session(state, door=door, output=output, owner=owner, id=resumed["id"], resumed=True)
        restore(session, resumed)
        return session

    await serve(transport, state, door, open_session, make)
