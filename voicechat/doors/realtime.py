"""The OpenAI Realtime door `/v1/realtime`: OpenAI's JSON events in, the same Session as every door inside.

GA event names by default; beta names (`response.audio.delta`, `conversation.item.created`…) when the
client connects with `OpenAI-Beta: realtime=v1`. Audio is base64 PCM16 at 24 kHz, or G.711 μ-law/A-law
at 8 kHz. Client events in are translated here (`RealtimeTranslator`), session events out in
doors/realtime_output.py (`RealtimeOutput`, its base); neither holds conversation logic.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from starlette.websockets import WebSocket

from .. import client_events as native
from ..audio import g711_decode
from ..client_events import EventError
from ..session import Session, SessionError
from . import realtime_client as rc
from .realtime_client import REALTIME, attach_pictures
from .realtime_events import (
    VoiceRefused,
    check_response_voice,
    check_voice,
    session_object,
    session_update_from,
    voice_param,
)
from .realtime_output import RealtimeOutput, new_id
from .socket import Write, serve_websocket

log = logging.getLogger(__name__)


class RealtimeTranslator(RealtimeOutput):
    """Realtime client events -> session calls; the way out (native events -> Realtime events) is
    `RealtimeOutput`'s (doors/realtime_output.py)."""

    @property
    def max_text_chars(self) -> int:
        return self.session.settings.max_message_bytes * 2  # base64 audio is a third larger than PCM

    async def greet(self) -> None:
        pcm24k = {"format": "pcm16", "rate": 24000}
        self.greeting = True
        try:
            await self.session.handle(native.SessionUpdate({"input_audio": pcm24k, "output_audio": pcm24k}))
        finally:
            self.greeting = False
        self.emit("session.created", session=session_object(self.session, self.fmt, self.model, self.beta))

    async def on_bytes(self, data: bytes) -> None:
        raise SessionError("invalid_event", "Realtime events are JSON text frames")

    async def on_event(self, event: dict[str, Any]) -> None:
        kind, event_id = event.get("type"), event.get("event_id")
        try:
            await REALTIME.dispatch(self, event)
        except EventError as exc:
            self.error(exc.code, exc.message, event_id, param="type" if exc.code == "unknown_event" else None)
        except SessionError as exc:
            self.error(exc.code, exc.message, event_id)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A field of the wrong shape (a string where an object belongs…): the client's mistake.
            self.error("invalid_event", f"malformed {kind}: {type(exc).__name__}: {exc}", event_id)
        except Exception:  # a bug of ours: report it, keep the connection
            log.exception("realtime session %s: %s failed", self.session.id, kind)
            self.error("internal", f"{kind} failed inside the server", event_id, kind="server_error")

    @REALTIME.handles(rc.SessionUpdate)
    async def _client_session_update(self, event: rc.SessionUpdate) -> None:
        client = event.session or {}
        try:
            update, fmt = session_update_from(client, self.fmt)
            if update.get("voice"):  # the native door's check: a voice no engine has is refused
                check_voice(self.session, update["voice"], voice_param(client))
        except VoiceRefused as exc:  # nothing of this update applies; the session goes on as it was
            self.error("invalid_value", str(exc), event.event_id, param=exc.param)
            return
        previous, self.fmt = self.fmt, fmt  # session.updated (sent inside handle) shows the new format
        try:
            await self.session.handle(native.SessionUpdate(update))
        except BaseException:
            self.fmt = previous  # refused by the session: the client's wire stays as it was
            raise

    @REALTIME.handles(rc.InputAudioBufferAppend)
    async def _client_input_audio_buffer_append(self, event: rc.InputAudioBufferAppend) -> None:
        try:
            data = base64.b64decode(event.audio, validate=True)
        except (binascii.Error, TypeError) as exc:
            raise SessionError("invalid_audio", "`audio` must be base64") from exc
        pcm = g711_decode(data, self.fmt.input_law) if self.fmt.input_law else data
        await self.session.feed_audio(pcm)

    @REALTIME.handles(rc.InputAudioBufferCommit)
    async def _client_input_audio_buffer_commit(self, event: rc.InputAudioBufferCommit) -> None:
        await self.session.handle(native.InputCommit())

    @REALTIME.handles(rc.InputAudioBufferClear)
    async def _client_input_audio_buffer_clear(self, event: rc.InputAudioBufferClear) -> None:
        await self.session.handle(native.InputClear())

    @REALTIME.handles(rc.ConversationItemCreate)
    async def _client_conversation_item_create(self, event: rc.ConversationItemCreate) -> None:
        item = event.item or {}
        if item.get("type", "message") != "message" or item.get("role") != "user":
            raise SessionError("unsupported_item", "only user messages can be added to the conversation")
        parts = [p for p in item.get("content", []) if isinstance(p, dict)]
        images = [p.get("image_url") for p in parts if p.get("type") == "input_image"]
        text = " ".join(p.get("text") or p.get("transcript") or "" for p in parts
                        if p.get("type") != "input_image").strip()
        if not text and not images:
            raise SessionError("invalid_event", "the item has no text and no picture")
        pictures = await attach_pictures(self.session, images) if images else ()
        item_id = item.get("id") or new_id("item")
        self.typed_items.add(item_id)
        announced = self.item(item_id, "user", "completed", text, typed=True, pictures=pictures)
        self.announce(announced)
        self.item_done(announced)
        if text:  # pictures alone wait for the request that uses them; they are not chat
            self.pending[item_id] = self.session.add_text(text, respond=False)

    @REALTIME.handles(rc.ConversationItemRetrieve)
    async def _client_conversation_item_retrieve(self, event: rc.ConversationItemRetrieve) -> None:
        item_id = event.item_id
        queued = self.pending.get(item_id) if isinstance(item_id, str) else None
        if queued is not None:  # not transcribed yet: typed text is known, speech is not
            role, text = "user", queued.text or ""
        else:
            turn_id, role = self._known(item_id)
            entry = self.session.history.entry(turn_id, role)
            text = entry.content if entry else ""
        self.emit("conversation.item.retrieved", item=self.item(item_id, role, "completed", text,
                                                                typed=item_id in self.typed_items))

    @REALTIME.handles(rc.ConversationItemTruncate)
    async def _client_conversation_item_truncate(self, event: rc.ConversationItemTruncate) -> None:
        item_id, audio_end_ms = event.item_id, event.audio_end_ms
        turn_id, role = self._known(item_id)
        turn = self.session.find_turn(turn_id)
        valid_end = isinstance(audio_end_ms, int | float) and audio_end_ms >= 0
        if role != "assistant" or turn is None or not valid_end:
            raise SessionError("invalid_event", "only assistant items can be truncated, at audio_end_ms >= 0")
        await self.session.handle(native.Playback(played_ms=audio_end_ms, turn_id=turn_id))
        self.emit("conversation.item.truncated", item_id=item_id, content_index=event.content_index,
                  audio_end_ms=audio_end_ms)

    @REALTIME.handles(rc.ConversationItemDelete)
    async def _client_conversation_item_delete(self, event: rc.ConversationItemDelete) -> None:
        item_id = event.item_id
        queued = self.pending.pop(item_id, None) if isinstance(item_id, str) else None
        if queued is not None:  # not transcribed yet: it never reaches the conversation
            queued.dropped = True
        else:
            turn_id, role = self._known(item_id)
            self.session.history.remove(turn_id, role)
            del self.items[item_id]
        if item_id in self.order:
            self.order.remove(item_id)
        self.emit("conversation.item.deleted", item_id=item_id)

    @REALTIME.handles(rc.ResponseCreate)
    async def _client_response_create(self, event: rc.ResponseCreate) -> None:
        options = event.response or {}
        try:
            check_response_voice(options, self.fmt)
        except VoiceRefused as exc:  # said, not spoken in another voice than asked
            self.error("invalid_value", str(exc), event.event_id, param=exc.param)
            return
        self.session.respond(options.get("instructions"))

    @REALTIME.handles(rc.ResponseCancel)
    async def _client_response_cancel(self, event: rc.ResponseCancel) -> None:
        wanted = event.response_id
        active = [r for r in self.responses.values() if self.session.find_turn(r.turn_id) is not None
                  and not self.session.find_turn(r.turn_id).finished]  # type: ignore[union-attr]
        if not active or (wanted and all(r.id != wanted for r in active)):
            self.error("response_cancel_not_active", "there is no active response to cancel",
                       event.event_id)
            return
        await self.session.interrupt("cancel")

    def _known(self, item_id: Any) -> tuple[str, str]:
        if not isinstance(item_id, str) or item_id not in self.items:
            raise SessionError("item_not_found", f"no item with id {item_id!r}")
        return self.items[item_id]


async def realtime_door(websocket: WebSocket) -> None:
    """Serve one Realtime client."""
    offered = websocket.scope.get("subprotocols") or []
    beta = "realtime=v1" in websocket.headers.get("openai-beta", "")
    model = websocket.query_params.get("model") or "voicechat"

    def translation(session: Session, write: Write) -> RealtimeTranslator:
        return RealtimeTranslator(session=session, write=write, beta=beta, model=model)

    subprotocol = "realtime" if "realtime" in offered else None
    await serve_websocket(websocket, "realtime", translation, subprotocol=subprotocol)
