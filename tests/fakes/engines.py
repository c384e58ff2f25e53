"""Scripted STT, chat and TTS engines for the fast test layer: Session and Turn logic without models.

They implement the engine protocols (`SpeechToText`, `ChatEngine`, `TextToSpeech`) and nothing of ours is
patched: a test builds a real `Session` on them. "Speech" here is the text itself as bytes (`speech()`),
so the scripted STT hears exactly what the test said. Each engine can be held at a gate (an
`asyncio.Event`) so a test decides what has happened when, without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from voicechat.llm import ChatError, ToolCall
from voicechat.stt import Transcript
from voicechat.tts import AudioChunk, TTSError
from voicechat.wake import Detection

RATE = 16000
MS_PER_WORD = 100  # every spoken word is 100 ms of audio, one chunk per word


def speech(text: str) -> bytes:
    """An utterance's "audio" for the scripted STT: the text, padded to whole 16-bit samples."""
    data = text.encode()
    return data + b" " * (len(data) % 2)


class ScriptedSTT:
    """Hears the text `speech()` encoded; `fail` raises instead, `gate` holds every call until set."""

    description = "scripted speech-to-text"
    multilingual = False

    def __init__(self) -> None:
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.heard: list[str] = []

    async def transcribe(self, pcm16: bytes, language: str | None, hotwords: str | None = None, *,
                         timestamps: bool = False) -> Transcript:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        text = pcm16.decode().strip()
        self.heard.append(text)
        return Transcript(text=text, language=language or "en", audio_ms=len(pcm16) / 32)


class ScriptedChat:
    """Answers with the next scripted reply (or `default`), one word per delta; records what it was asked.

    `fail_after` words into a reply, a `ChatError` is raised; `gate` holds the stream before each delta
    after the first `gate_after` deltas.
    """

    description = "scripted chat"
    supports_tools = False
    remote = False

    def __init__(self, default: str = "Hello there. How can I help?") -> None:
        self.default = default
        self.replies: list[str] = []
        self.asked: list[list[dict[str, Any]]] = []
        self.fail_after: int | None = None
        self.gate: asyncio.Event | None = None
        self.gate_after = 0
        self.started = asyncio.Event()  # set when a reply stream has begun
        self.stalled = asyncio.Event()  # set when a reply waits at the gate

    async def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
                     ) -> AsyncIterator[str | ToolCall]:
        self.asked.append(messages)
        reply = self.replies.pop(0) if self.replies else self.default
        self.started.set()
        for index, word in enumerate(reply.split(" ")):
            if self.fail_after is not None and index >= self.fail_after:
                raise ChatError("chat_failed", "the scripted chat model failed")
            if self.gate is not None and index >= self.gate_after:
                self.stalled.set()
                await self.gate.wait()
            yield word if index == 0 else " " + word


class ScriptedTTS:
    """`MS_PER_WORD` of silence per word, one chunk per word. A sentence containing a word in `hold_at`
    stops before that word until `release` is set (it is being synthesized meanwhile); `fail` raises."""

    name = "scripted"
    description = "scripted text-to-speech"

    def __init__(self) -> None:
        self.fail = False
        self.hold_at: str | None = None
        self.holding = asyncio.Event()  # set once synthesis has stopped at `hold_at`
        self.release = asyncio.Event()
        self.spoken: list[str] = []

    async def synthesize(self, text: str, voice: str | None = None, first: bool = False
                         ) -> AsyncIterator[AudioChunk]:
        if self.fail:
            raise TTSError("the scripted voice failed")
        self.spoken.append(text)
        for word in text.split():
            if self.hold_at is not None and word.strip(".,?!") == self.hold_at:
                self.holding.set()
                await self.release.wait()
            yield AudioChunk(pcm=bytes(RATE * MS_PER_WORD // 1000 * 2), rate=RATE)


class ScriptedWake:
    """Wake word "models" whose detectors hear the word when the test says so (`fire()`), at the next
    audio they are fed; `fed` counts the bytes that reached a detector."""

    names = ["hey_jarvis"]

    def __init__(self) -> None:
        self.fed = 0
        self._fire = False

    def fire(self) -> None:
        self._fire = True

    def check(self, name: str) -> str:
        if name not in self.names:
            raise ValueError(f"unknown wake word {name!r}; available: {', '.join(self.names)}")
        return name

    def phrase(self, name: str) -> str:
        return "Hey Jarvis"

    def detector(self, name: str) -> ScriptedWakeDetector:
        return ScriptedWakeDetector(self, self.check(name))


class ScriptedWakeDetector:
    def __init__(self, models: ScriptedWake, word: str) -> None:
        self.models, self.word = models, word

    def feed(self, pcm16: bytes) -> Detection | None:
        self.models.fed += len(pcm16)
        if self.models._fire:
            self.models._fire = False
            return Detection(self.word, 0.99)
        return None

    def reset(self) -> None:
        pass


class ScriptedTurnEnd:
    """An end-of-turn "model" that says `complete`; `on_ask` (if set) is called as it is asked, so a test
    can see what else had happened by then. `asked` is set at the first question."""

    threshold = 0.5
    description = "scripted end-of-turn model"

    def __init__(self, complete: bool = True) -> None:
        self.complete = complete
        self.asked = asyncio.Event()
        self.questions = 0
        self.on_ask: Any = None
        self.seen: list[Any] = []  # what `on_ask` returned, per question

    async def is_complete(self, pcm16: bytes) -> bool:
        self.questions += 1
        if self.on_ask is not None:
            self.seen.append(self.on_ask())
        self.asked.set()
        return self.complete
