"""The native protocol's server vocabulary (docs/protocol.md is the contract): every server event as a
dataclass, registered under its wire `type`. Client events are in client_events.py.

Session, turns and the listening chain build these; `Session.send` turns them into the JSON objects every
door translates. A test checks that the events documented in docs/protocol.md and these are the same set.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar


@dataclass
class ServerEvent:
    """One server -> client event. Fields named in `optional` are left out while None."""

    type: ClassVar[str]
    optional: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in self.optional:
                continue
            data[f.name] = value
        return data


SERVER_EVENTS: dict[str, type[ServerEvent]] = {}
E = TypeVar("E", bound=type[ServerEvent])


def _server(kind: str) -> Any:
    def register(cls: E) -> E:
        cls.type = kind
        SERVER_EVENTS[kind] = cls
        return cls

    return register


# --- the session --------------------------------------------------------------------------------------

@_server("ready")
@dataclass
class Ready(ServerEvent):
    protocol: int
    session_id: str
    conversation_id: str  # give it back as /ws?conversation_id= to continue this conversation
    resumed: bool  # this connection continues a stored conversation
    session: dict[str, Any]
    limits: dict[str, Any]
    engines: dict[str, Any]
    end_of_turn: dict[str, Any]  # which detector ends a turn: the silence hangover or a model


@_server("session.updated")
@dataclass
class SessionUpdated(ServerEvent):
    session: dict[str, Any]


@_server("conversation")
@dataclass
class Conversation(ServerEvent):
    messages: list[dict[str, Any]]


@_server("pong")
@dataclass
class Pong(ServerEvent):
    id: Any


@_server("error")
@dataclass
class Error(ServerEvent):
    """Every error a client hears, whoever raised it; `recoverable` False: the connection closes."""

    code: str
    message: str
    recoverable: bool = True
    turn_id: str | None = None
    optional: ClassVar[tuple[str, ...]] = ("turn_id",)


# --- listening ----------------------------------------------------------------------------------------

@_server("speech.started")
@dataclass
class SpeechStarted(ServerEvent):
    at_ms: int


@_server("speech.stopped")
@dataclass
class SpeechStopped(ServerEvent):
    at_ms: int
    reason: str
    duration_ms: int
    ignored: str | None


@_server("wake.detected")
@dataclass
class WakeDetected(ServerEvent):
    """The wake word was heard: what follows is listened to (voicechat/wake.py)."""

    word: str
    probability: float


@_server("wake.armed")
@dataclass
class WakeArmed(ServerEvent):
    """The follow-up window passed: only the wake word is listened for again."""

    word: str


@_server("input.committed")
@dataclass
class InputCommitted(ServerEvent):
    speech: bool


@_server("input.cleared")
@dataclass
class InputCleared(ServerEvent):
    pass


@_server("transcript.partial")
@dataclass
class TranscriptPartial(ServerEvent):
    text: str
    audio_ms: int


# --- a turn -------------------------------------------------------------------------------------------

@_server("transcript")
@dataclass
class Transcript(ServerEvent):
    turn_id: str
    text: str
    language: str | None
    source: str  # speech | text


@_server("transcript.ignored")
@dataclass
class TranscriptIgnored(ServerEvent):
    turn_id: str
    reason: str
    text: str


@_server("reply.started")
@dataclass
class ReplyStarted(ServerEvent):
    turn_id: str


@_server("reply.text.delta")
@dataclass
class ReplyTextDelta(ServerEvent):
    turn_id: str
    delta: str


@_server("reply.audio.start")
@dataclass
class ReplyAudioStart(ServerEvent):
    turn_id: str
    format: str
    rate: int
    channels: int = 1


@_server("reply.stop")
@dataclass
class ReplyStop(ServerEvent):
    turn_id: str
    reason: str  # barge_in | cancel


@_server("turn.done")
@dataclass
class TurnDone(ServerEvent):
    turn_id: str
    status: str  # completed | interrupted | failed | ignored
    user_text: str
    text: str  # the reply as heard
    audio_ms: int
    tts_engine: str | None
    timings: dict[str, int | None]
    reason: str | None = None
    error: str | None = None
    media_job_id: str | None = None
    speculative: bool | None = None  # True: started at a pause, before the hangover confirmed the end
    language: str | None = None  # the reply's language (what the user speaks), when known
    tts_voice: str | None = None  # the voice that spoke the reply's first piece, when the engine names it
    stages: dict[str, int] | None = None  # when the server did each step, ms from the end of speech
    optional: ClassVar[tuple[str, ...]] = ("reason", "error", "media_job_id", "speculative", "language",
                                           "tts_voice", "stages")


# --- media --------------------------------------------------------------------------------------------

@_server("media.job")
@dataclass
class MediaJob(ServerEvent):
    """Built by the media service (`MediaService` publishes it to every connection of the job's user)."""

    event: str  # submitted | progress | succeeded | failed
    job: dict[str, Any]
    message: str | None


@_server("media.attached")
@dataclass
class MediaAttached(ServerEvent):
    count: int


# --- HTTP ---------------------------------------------------------------------------------------------

def openai_error(status: int, code: str | None, message: str, param: str | None = None) -> dict[str, Any]:
    """The error body of every HTTP route (OpenAI's shape, so one client-side handler fits them all)."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
