"""A thin test client for the native door: waits for events by type, collects reply audio."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets


class NativeClient:
    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.audio = bytearray()
        self.ready: dict[str, Any] = {}

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> NativeClient:
        # No receive queue limit: a test that stops reading must not stall the close handshake.
        ws = await websockets.connect(url, max_size=None, max_queue=None, **kwargs)
        client = cls(ws)
        client.ready = await client.expect("ready")
        return client

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def update(self, **session: Any) -> dict[str, Any]:
        await self.send({"type": "session.update", "session": session})
        return await self.expect("session.updated")

    async def stream(self, pcm: bytes, rate: int = 16000, chunk_ms: int = 20) -> None:
        """Send audio as fast as the socket takes it (the server timestamps arrival)."""
        step = rate * 2 * chunk_ms // 1000
        for offset in range(0, len(pcm), step):
            await self.ws.send(pcm[offset : offset + step])

    async def next(self, timeout: float = 60.0) -> dict[str, Any]:
        """The next JSON event; binary frames on the way are collected into `audio`."""
        while True:
            message = await asyncio.wait_for(self.ws.recv(), timeout=timeout)
            if isinstance(message, bytes):
                self.audio += message
                continue
            event = json.loads(message)
            self.events.append(event)
            return event

    async def expect(self, kind: str, timeout: float = 60.0, **match: Any) -> dict[str, Any]:
        """Skip events until one of `kind` (matching `match`) arrives."""
        while True:
            event = await self.next(timeout)
            if event.get("type") == kind and all(event.get(k) == v for k, v in match.items()):
                return event

    async def find(self, kind: str, timeout: float = 60.0, after: int = 0, **match: Any) -> dict[str, Any]:
        """The first event of `kind` matching `match` among those received since index `after`,
        reading more as needed. Unlike `expect`, order relative to other events does not matter."""
        checked = after
        while True:
            for event in self.events[checked:]:
                if event.get("type") == kind and all(event.get(k) == v for k, v in match.items()):
                    return event
            checked = len(self.events)
            await self.next(timeout)

    async def close(self) -> None:
        await self.ws.close()
