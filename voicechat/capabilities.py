"""Optional engine features, as protocols: an engine has a feature when it has these methods.

The engine protocols (`SpeechToText`, `ChatEngine`, `TextToSpeech`) say what every engine does; these say
what only some do (a local model with a queue, whisper in this process with partial transcripts). Callers
ask `isinstance(engine, Queued)` instead of probing attribute names one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

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
