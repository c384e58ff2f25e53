"""The OpenAI Realtime door's way out: the session's native events -> Realtime server events.

`RealtimeOutput` holds what a Realtime connection knows of its conversation (items, responses, the
wire format) and turns each native event (`transcript`, `reply.text.delta`, `turn.done`…) and each piece
of reply audio into OpenAI's events, GA or beta names. The way in (client events -> session calls) is
`RealtimeTranslator` in doors/realtime.py, built on this class.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..audio import g711_encode
from ..session import Session, SessionError
from ..turn_input import TurnInput
from .realtime_events import RealtimeFormat, session_object
from .socket import Write


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
class RealtimeOutput:
    """A Realtime connection's conversation state, and native session events -> Realtime server events."""

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


# Native event type -> its translation (client events: the REALTIME registry, handlers in doors/realtime.py).
_NATIVE_HANDLERS: dict[str, Callable[[RealtimeOutput, dict[str, Any]], None]] = {
    "transcript.partial": RealtimeOutput._on_transcript_partial,
    "speech.started": RealtimeOutput._on_speech_started,
    "speech.stopped": RealtimeOutput._on_speech_stopped,
    "input.committed": RealtimeOutput._on_input_committed,
    "input.cleared": RealtimeOutput._on_input_cleared,
    "transcript": RealtimeOutput._on_transcript,
    "transcript.ignored": RealtimeOutput._on_transcript_ignored,
    "reply.started": RealtimeOutput._on_reply_started,
    "reply.text.delta": RealtimeOutput._on_reply_text_delta,
    "turn.done": RealtimeOutput._on_turn_done,
    "error": RealtimeOutput._on_error,
    "session.updated": RealtimeOutput._on_session_updated,
}
