"""The native WebSocket door `/ws`: binary frames are PCM16LE audio, text frames are JSON events.

docs/protocol.md is the contract. The shared socket loop (doors/socket.py) does the rest; this module
only greets, hands frames to the session and writes the session's events as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket

from .. import events
from ..audio import SUPPORTED_RATES
from ..protocol import PROTOCOL_VERSION
from ..session import Session, SessionError
from .socket import Write, serve_websocket


@dataclass
class NativeTranslation:
    """The native wire is the session's own vocabulary: nothing to translate."""

    session: Session
    write: Write

    @property
    def max_text_chars(self) -> int:
        return self.session.settings.max_message_bytes

    async def greet(self) -> None:
        settings = self.session.settings
        await self.session.send(events.Ready(
            protocol=PROTOCOL_VERSION,
            session_id=self.session.id,
            conversation_id=self.session.id,
            resumed=self.session.resumed,
            session=self.session.config.public(),
            limits={
                "max_message_bytes": settings.max_message_bytes,
                "max_text_chars": settings.max_text_chars,
                "max_utterance_s": settings.vad_max_utterance_s,
                "input_rates": list(SUPPORTED_RATES),
                "output_formats": ["pcm16"],
            },
            engines=self.session.engines.describe(),
            end_of_turn=self.session.engines.end_of_turn(settings),
        ))

    async def on_output(self, item: dict[str, Any] | bytes) -> None:
        self.write(item)

    async def on_event(self, event: dict[str, Any]) -> None:
        await self.session.handle(event)  # parsed and checked by the native registry (client_events.py)

    async def on_bytes(self, data: bytes) -> None:
        await self.session.feed_audio(data)

    def report(self, exc: SessionError, recoverable: bool = True) -> None:
        self.write(events.Error(exc.code, exc.message, recoverable=recoverable).to_dict())


async def native_door(websocket: WebSocket) -> None:
    """Serve one client for the life of its connection."""
    await serve_websocket(websocket, "native", NativeTranslation, resumable=True)
