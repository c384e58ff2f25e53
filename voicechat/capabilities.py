"""Optional engine features, as protocols: an engine has a feature when it has these methods.

The engine protocols (`SpeechToText`, `ChatEngine`, `TextToSpeech`) say what every engine does; these say
what only some do (a local model with a queue, whisper in this process with partial transcripts, a voice
or model with a name to list). Callers ask `isinstance(engine, Queued)` instead of probing attribute names
one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .models import ModelSource
from .stt import Transcript


@runtime_checkable
class PartialTranscripts(Protocol):
    """A speech engine that can look at speech still in progress (whisper run by our scheduler)."""

    async def partial(self, pcm16: bytes, language: str | None, hotwords: str | None, owner: str
                      ) -> Transcript | None:
        """A transcript of the speech so far; None when it was skipped for more urgent work."""
        ...

    def drop_partial(self, owner: str) -> None:
        """`owner`'s speech ended: its waiting partial is no longer worth running."""
        ...


@runtime_checkable
class Queued(Protocol):
    """An engine in this process that serves requests one (batch) at a time, so requests wait."""

    def estimated_wait_ms(self) -> float:
        """How long a request made now would wait before the engine starts on it."""
        ...

    def overloaded(self) -> str | None:
        """Why a new session should be refused now (the queue is too long), or None."""
        ...


@runtime_checkable
class Backlogged(Protocol):
    """A speech engine whose finals can be counted while they wait."""

    @property
    def backlog(self) -> int:
        """Finals waiting for the model."""
        ...


@runtime_checkable
class Counted(Protocol):
    """A chat engine that counts what it refused or cut short, for `/health`."""

    stats: Counter[str]


@runtime_checkable
class Reporting(Protocol):
    """An engine with figures for `/health`: a queue snapshot or counters."""

    def snapshot(self) -> Mapping[str, Any]: ...


def chat_wait_ms(engine: object) -> float:
    """How long a reply asked for now would wait (0 for an engine without a queue of its own)."""
    return engine.estimated_wait_ms() if isinstance(engine, Queued) else 0.0


def backlog(engine: object) -> int:
    """Finals waiting for the speech model (0 for an engine without a queue of its own)."""
    return engine.backlog if isinstance(engine, Backlogged) else 0


@runtime_checkable
class NamedVoice(Protocol):
    """A speech engine whose voice is a model file with a name (Piper: `en_US-joe-medium`)."""

    voice_name: str


@runtime_checkable
class ConfiguredVoice(Protocol):
    """A speech engine with a voice setting (espeak-ng `en-us`, edge-tts `en-US-AriaNeural`)."""

    voice: str


def voice_name(engine: Any) -> str:
    """The voice a speech engine speaks with, as clients list it (the engine's name when it has none)."""
    if isinstance(engine, NamedVoice) and engine.voice_name:
        return str(engine.voice_name)
    if isinstance(engine, ConfiguredVoice) and engine.voice:
        return str(engine.voice)
    return str(engine.name)


@runtime_checkable
class NamedModel(Protocol):
    """A chat engine that asks a server for a model by name (OpenAI-compatible)."""

    model: str


@runtime_checkable
class LocalModelFile(Protocol):
    """A chat engine that runs a model file in this process (llama.cpp on a GGUF)."""

    source: ModelSource


def chat_model_name(engine: object) -> str:
    """The chat model as clients list it: the remote model's name, or the local file's name."""
    if isinstance(engine, NamedModel) and engine.model:
        return str(engine.model)
    if isinstance(engine, LocalModelFile):
        return Path(engine.source.path).name
    return "local"
