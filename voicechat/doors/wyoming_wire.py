"""Wyoming's wire under the shared connection loop (doors/socket.py): the transport and what a connection is.

A Wyoming event is one JSON line (the header: `type`, optional `data`, `data_length`, `payload_length`),
then `data_length` bytes of more JSON data, then `payload_length` bytes of payload (audio). The `wyoming`
package's own reader trusts both lengths and ends the connection on any bad line; this one checks them
against the loop's limits before reading, and skips what it refuses, so the stream stays in step and the
client hears why. Writing uses the package's own framing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from wyoming.event import Event, async_write_event

from ..session import SessionError
from .socket import Incoming, Limits, StreamBroken, check_size, parse_object

HEADER_LIMIT = 64 * 1024  # asyncio's default line limit: a header is a few hundred bytes
_SKIP_CHUNK = 64 * 1024


class WyomingTransport:
    """One TCP or Unix-socket connection speaking Wyoming."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def accept(self) -> None:
        """Nothing to shake hands on: the listener's bind check is Wyoming's only admission."""

    async def receive(self, limits: Limits) -> Incoming | None:
        """The next event as `{"type", "data", "payload"}`, or None at the end of the stream."""
        try:
            line = await self.reader.readline()
        except ValueError:  # a line over HEADER_LIMIT
            raise StreamBroken("message_too_large", f"an event header over {HEADER_LIMIT} bytes") from None
        if not line:
            return None
        try:  # without a header the lengths of what follows are unknown: the stream is lost
            header = parse_object(line, min(limits.text_chars, HEADER_LIMIT), "event header")
        except SessionError as exc:
            raise StreamBroken(exc.code, exc.message) from None
        data_length, payload_length = header.get("data_length") or 0, header.get("payload_length") or 0
        if not _length(data_length) or not _length(payload_length):
            raise StreamBroken("bad_event", "data_length and payload_length are byte counts (integers >= 0)")
        refused: SessionError | None = None
        data = header.get("data") or {}
        try:
            check_size(data_length, limits.text_chars, "event data")
        except SessionError as exc:
            refused = exc
            await self._skip(data_length)
        else:
            if data_length:
                extra = parse_object(await self.reader.readexactly(data_length), limits.text_chars,
                                     "event data")
                data = {**data, **extra} if isinstance(data, dict) else data
        try:
            check_size(payload_length, limits.binary_bytes, "event payload")
        except SessionError as exc:
            refused = refused or exc
            await self._skip(payload_length)
            payload_length = 0
        payload = await self.reader.readexactly(payload_length) if payload_length else None
        if refused is not None:
            raise refused
        kind = header.get("type")
        if not isinstance(kind, str) or not isinstance(data, dict):
            raise SessionError("bad_event", "a Wyoming event has a string `type` and an object `data`")
        return {"type": kind, "data": data, "payload": payload}

    async def _skip(self, size: int) -> None:
        while size > 0:
            size -= len(await self.reader.readexactly(min(size, _SKIP_CHUNK)))

    async def send(self, frame: Any) -> None:
        assert isinstance(frame, Event)
        await async_write_event(frame, self.writer)

    async def close(self, code: int, reason: str | None) -> None:
        """Wyoming has no close frame: what was written is flushed, then the socket closes (for a
        shutdown, after the running request was answered: the door's 1001)."""
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def _length(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class WyomingConnection:
    """What the loop keeps alive for a Wyoming connection: its requests, one at a time.

    Wyoming's requests (transcribe, synthesize, handle) are answered in full before the next event is
    read, so drain waits for the one in progress, then asks the loop to close.
    """

    def __init__(self) -> None:
        self.id = "wyo_" + uuid.uuid4().hex[:12]
        self.stop_requested = asyncio.Event()
        self.closed = asyncio.Event()
        self._quiet = asyncio.Event()
        self._quiet.set()

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        """Around one event's handling: drain waits until it is answered."""
        self._quiet.clear()
        try:
            yield
        finally:
            self._quiet.set()

    async def start(self) -> None:
        pass

    async def drain(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._quiet.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.stop_requested.set()

    async def close(self) -> None:
        pass
