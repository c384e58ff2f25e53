"""The OpenAI Realtime door `/v1/realtime`: OpenAI's JSON events in, the same Session as every door inside.

GA event names by default; beta names (`response.audio.delta`, `conversation.item.created`…) when the
client connects with `OpenAI-Beta: realtime=v1`. Audio is base64 PCM16 at 24 kHz, or G.711 μ-law/A-law
at 8 kHz. The translation both ways lives in `RealtimeTranslator`; this module holds no conversation logic.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

from .. import client_events as native
from ..audio import g711_decode, g711_encode
from ..client_events import EventError
from ..session import Session, SessionError
from ..turn_input import TurnInput
from . import realtime_client as rc
from .realtime_client import REALTIME, attach_pictures
from .realtime_events import (
    RealtimeFormat,
    VoiceRefused,
    check_response_voice,
    check_voice,
    session_object,
    session_update_from,
    voice_param,
)
from .socket import Write, serve_websocket

log = logging.getLogger(__name__)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass
class _Response:
    id: str
    item_id: str
    turn_id: str
    transcript: str = ""
    audio_bytes: int = 0


@dataclass
class RealtimeTranslator:
    """Native session events -> Realtime server events, and Realtime client events -> session calls."""

    session: Session
    write: Write
    beta: bool
    model: str
    fmt: RealtimeFormat = field(default_factory=RealtimeFormat)
    pending: dict[str, TurnInput] = field(default_factory=dict)  # user items not yet transcribed -> input
    typed_items: set[str] = field(default_factory=set)  # announced when created, not when transcribed
    items: dict[str, tuple[str, str]] = field(default_factory=dict)  # item_id -> (turn_id, role)
    turn_items: dict[tuple[str, str], str] = field(default_factory=dict)  # (turn_id, role) -> item_id
    order: list[str] = field(default_factory=list)  # item ids in conversation order
    responses: dict[str, _Response] = field(default_factory=dict)  # turn_id -> response
    speech_item: str | None = None
    partial_text: str = ""  # what the transcription deltas of the current speech item have said so far
    greeting: bool = False  # applying our own defaults: their session.updated is not the client's business

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

    # --- out ------------------------------------------------------------------------------------

    def emit(self, kind: str, **fields: Any) -> None:
        self.write({"type": kind, "event_id": new_id("event"), **fields})

    def name(self, ga: str, beta: str) -> str:
        return beta if self.beta else ga

    def report(self, exc: SessionError, recoverable: bool = True) -> None:
        """A mistake found by the shared socket loop (too large, not JSON, idle)."""
        self.error(exc.code, exc.message)

    def error(self, code: str, message: str, event_id: str | None = None, kind: str = "invalid_request_error",
              param: str | None = None) -> None:
        self.emit("error", error={"type": kind, "code": code, "message": message, "param": param,
                                  "event_id": event_id})

    def item(self, item_id: str, role: str, status: str, text: str = "",
             typed: bool = False, pictures: tuple[str, ...] = ()) -> dict[str, Any]:
        if role == "user":
            part = {"type": "input_text", "text": text} if typed else \
                {"type": "input_audio", "transcript": text or None}
        else:
            part = {"type": self.name("output_audio", "audio"), "transcript": text}
        images = [{"type": "input_image", "image_url": url} for url in pictures]
        return {"id": item_id, "object": "realtime.item", "type": "message", "status": status, "role": role,
                "content": [part, *images] if text or not images else images}

    def announce(self, item: dict[str, Any]) -> None:
        previous = self.order[-1] if self.order else None
        self.order.append(item["id"])
        if self.beta:
            self.emit("conversation.item.created", previous_item_id=previous, item=item)
        else:
            self.emit("conversation.item.added", previous_item_id=previous, item=item)

    def item_done(self, item: dict[str, Any]) -> None:
        if not self.beta:
            self.emit("conversation.item.done", item=item)

    async def on_output(self, event: dict[str, Any] | bytes) -> None:
        """The session's output, translated."""
        if isinstance(event, bytes):
            self._audio(event)
            return
        handler = _NATIVE_HANDLERS.get(event["type"])
        if handler is not None:
            handler(self, event)

    def _audio(self, pcm: bytes) -> None:
        response = next(reversed(self.responses.values()), None)
        if response is None:
            return
        data = g711_encode(pcm, self.fmt.output_law) if self.fmt.output_law else pcm
        response.audio_bytes += len(data)
        if "audio" in self.fmt.modalities:
            self.emit(self.name("response.output_audio.delta", "response.audio.delta"),
                      response_id=response.id, item_id=response.item_id, output_index=0, content_index=0,
                      delta=base64.b64encode(data).decode())

    def _on_transcript_partial(self, event: dict[str, Any]) -> None:
        """Words heard so far, as transcription deltas of the item being spoken (only ever appended:
        a partial that rewrites earlier words adds nothing until the final transcript)."""
        text = event["text"]
        if self.speech_item is None or not text.startswith(self.partial_text) or text == self.partial_text:
            return
        delta, self.partial_text = text[len(self.partial_text):], text
        self.emit("conversation.item.input_audio_transcription.delta", item_id=self.speech_item,
                  content_index=0, delta=delta)

    def _on_speech_started(self, event: dict[str, Any]) -> None:
        self.partial_text = ""
        self.speech_item = new_id("item")
        self.emit("input_audio_buffer.speech_started", audio_start_ms=event["at_ms"],
                  item_id=self.speech_item)

    def _on_speech_stopped(self, event: dict[str, Any]) -> None:
        item_id = self.speech_item or new_id("item")
        self.speech_item = None
        if event.get("reason") != "commit":
            self.emit("input_audio_buffer.speech_stopped", audio_end_ms=event["at_ms"], item_id=item_id)
        if event.get("ignored"):
            return
        previous = self.order[-1] if self.order else None
        self.emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        if self.session.last_queued is not None:
            self.pending[item_id] = self.session.last_queued
        item = self.item(item_id, "user", "completed")
        self.announce(item)

    def _on_input_committed(self, event: dict[str, Any]) -> None:
        if not event.get("speech"):
            self.error("input_audio_buffer_commit_empty", "the audio buffer holds no speech to commit")

    def _on_input_cleared(self, event: dict[str, Any]) -> None:
        self.emit("input_audio_buffer.cleared")

    def _bind_user_item(self, turn_id: str) -> str | None:
        turn = self.session.find_turn(turn_id)
        item_id = next((i for i, queued in self.pending.items() if turn and queued is turn.item), None)
        if item_id is None:
            return None
        del self.pending[item_id]
        self.items[item_id] = (turn_id, "user")
        self.turn_items[(turn_id, "user")] = item_id
        return item_id

    def _on_transcript(self, event: dict[str, Any]) -> None:
        item_id = self._bind_user_item(event["turn_id"])
        if item_id is None or item_id in self.typed_items:
            return
        self.emit("conversation.item.input_audio_transcription.completed", item_id=item_id, content_index=0,
                  transcript=event["text"])
        self.item_done(self.item(item_id, "user", "completed", event["text"]))

    def _on_transcript_ignored(self, event: dict[str, Any]) -> None:
        item_id = self._bind_user_item(event["turn_id"])
        if item_id is not None:
            self.emit("conversation.item.input_audio_transcription.completed", item_id=item_id,
                      content_index=0, transcript="")

    def _on_reply_started(self, event: dict[str, Any]) -> None:
        response = _Response(new_id("resp"), new_id("item"), event["turn_id"])
        self.responses[event["turn_id"]] = response
        self.items[response.item_id] = (event["turn_id"], "assistant")
        self.turn_items[(event["turn_id"], "assistant")] = response.item_id
        self.emit("response.created", response=self._response_object(response, "in_progress", []))
        item = self.item(response.item_id, "assistant", "in_progress")
        self.emit("response.output_item.added", response_id=response.id, output_index=0, item=item)
        self.announce(item)
        self.emit("response.content_part.added", response_id=response.id, item_id=response.item_id,
                  output_index=0, content_index=0, part=item["content"][0])

    def _on_reply_text_delta(self, event: dict[str, Any]) -> None:
        response = self.responses.get(event["turn_id"])
        if response is None:
            return
        response.transcript += event["delta"]
        if "audio" in self.fmt.modalities:
            kind = self.name("response.output_audio_transcript.delta", "response.audio_transcript.delta")
        else:
            kind = self.name("response.output_text.delta", "response.text.delta")
        self.emit(kind, response_id=response.id, item_id=response.item_id, output_index=0, content_index=0,
                  delta=event["delta"])

    def _on_turn_done(self, event: dict[str, Any]) -> None:
        if event.get("status") == "failed" and event.get("error") == "stt_failed":
            item_id = self._bind_user_item(event["turn_id"])
            if item_id is not None:
                self.emit("conversation.item.input_audio_transcription.failed", item_id=item_id,
                          content_index=0, error={"type": "transcription_error", "code": "stt_failed",
                                                  "message": "transcription failed"})
        response = self.responses.get(event["turn_id"])
        if response is None:
            return
        ids = {"response_id": response.id, "item_id": response.item_id, "output_index": 0, "content_index": 0}
        text = event.get("text", "") if event["status"] == "interrupted" else response.transcript
        if "audio" in self.fmt.modalities:
            self.emit(self.name("response.output_audio.done", "response.audio.done"), **ids)
            self.emit(self.name("response.output_audio_transcript.done", "response.audio_transcript.done"),
                      transcript=response.transcript, **ids)
        else:
            self.emit(self.name("response.output_text.done", "response.text.done"),
                      text=response.transcript, **ids)
        item = self.item(response.item_id, "assistant", "completed" if event["status"] == "completed"
                         else "incomplete", text)
        self.emit("response.content_part.done", part=item["content"][0], **ids)
        self.emit("response.output_item.done", response_id=response.id, output_index=0, item=item)
        self.item_done(item)
        status = {"completed": "completed", "interrupted": "cancelled"}.get(event["status"], "failed")
        details = None
        if status == "cancelled":
            # "resumed": the user went on after a pause the end-of-turn model had ended the turn at
            reason = "turn_detected" if event.get("reason") in ("barge_in", "resumed") else "client_cancelled"
            details = {"type": "cancelled", "reason": reason}
        elif status == "failed":
            details = {"type": "failed", "error": {"type": "server_error", "code": event.get("error")}}
        self.emit("response.done", response=self._response_object(response, status, [item], details))

    def _on_error(self, event: dict[str, Any]) -> None:
        code = event.get("code", "error")
        kind = "server_error" if code.startswith(("chat_", "stt_", "tts_", "storage", "internal")) \
            else "invalid_request_error"
        self.error(code, event.get("message", ""), kind=kind)

    def _response_object(self, response: _Response, status: str, output: list[dict[str, Any]],
                         details: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"id": response.id, "object": "realtime.response", "status": status, "status_details": details,
                "output": output, "conversation_id": self.session.id,
                self.name("output_modalities", "modalities"): list(self.fmt.modalities),
                "usage": None, "metadata": None}

    def _on_session_updated(self, event: dict[str, Any]) -> None:
        if self.greeting:
            return
        self.emit("session.updated", session=session_object(self.session, self.fmt, self.model, self.beta))

    # --- in -------------------------------------------------------------------------------------

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


# Native event type -> its translation (client events: the REALTIME registry, handlers marked above).
_NATIVE_HANDLERS: dict[str, Callable[[RealtimeTranslator, dict[str, Any]], None]] = {
    "transcript.partial": RealtimeTranslator._on_transcript_partial,
    "speech.started": RealtimeTranslator._on_speech_started,
    "speech.stopped": RealtimeTranslator._on_speech_stopped,
    "input.committed": RealtimeTranslator._on_input_committed,
    "input.cleared": RealtimeTranslator._on_input_cleared,
    "transcript": RealtimeTranslator._on_transcript,
    "transcript.ignored": RealtimeTranslator._on_transcript_ignored,
    "reply.started": RealtimeTranslator._on_reply_started,
    "reply.text.delta": RealtimeTranslator._on_reply_text_delta,
    "turn.done": RealtimeTranslator._on_turn_done,
    "error": RealtimeTranslator._on_error,
    "session.updated": RealtimeTranslator._on_session_updated,
}

async def realtime_door(websocket: WebSocket) -> None:
    """Serve one Realtime client."""
    offered = websocket.scope.get("subprotocols") or []
    beta = "realtime=v1" in websocket.headers.get("openai-beta", "")
    model = websocket.query_params.get("model") or "voicechat"

    def translation(session: Session, write: Write) -> RealtimeTranslator:
        return RealtimeTranslator(session=session, write=write, beta=beta, model=model)

    subprotocol = "realtime" if "realtime" in offered else None
    await serve_websocket(websocket, "realtime", translation, subprotocol=subprotocol)
