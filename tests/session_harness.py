"""Drive a real `Session` on scripted engines: push speech and events in, read the events that come out.

The session, its turns, history and listening chain are the real ones; only the engines are scripted
(tests/fakes/engines.py). Speech enters as the segmenter's own events (speech started / paused / resumed /
stopped), so Session and Turn logic runs in milliseconds with no VAD, model or socket in the way.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.fakes.engines import ScriptedChat, ScriptedSTT, ScriptedTTS, speech
from voicechat.engines import Engines
from voicechat.media.service import MediaService
from voicechat.resume import restore
from voicechat.session import Session
from voicechat.settings import Settings
from voicechat.store import ConversationStore
from voicechat.tts import FallbackTTS
from voicechat.vad import EndCheck, SpeechPaused, SpeechResumed, SpeechStarted, SpeechStopped, Utterance

WAIT_S = 5.0  # a safety net so a broken session fails the test instead of hanging it


def settings(**overrides: Any) -> Settings:
    # Replies at the scripted voice's own rate, so audio lengths are exact (no resampling).
    base: dict[str, Any] = {"output_rate": 16000, "stt_partial_interval_ms": 0}
    return Settings(_env_file=None, **{**base, **overrides})  # type: ignore[call-arg]


class Harness:
    """One session on scripted engines, with everything it sent kept in order."""

    def __init__(self, wake: Any = None, store: ConversationStore | None = None,
                 media: MediaService | None = None, resume: dict[str, Any] | None = None,
                 turn_end: Any = None, **overrides: Any) -> None:
        """`media`: a media service (real, on the fake providers); `resume`: a conversation as
        voicechat/resume.py's `load` read it, continued as `/ws?conversation_id=` would; `turn_end`: an
        end-of-turn model (tests/fakes/engines.py's ScriptedTurnEnd)."""
        self.stt, self.chat, self.tts = ScriptedSTT(), ScriptedChat(), ScriptedTTS()
        self.engines = Engines(stt=self.stt, chat=self.chat, tts=FallbackTTS([self.tts], 30.0), wake=wake,
                               turn_end=turn_end)
        named = {"id": resume["id"], "resumed": True} if resume is not None else {}
        self.session = Session(engines=self.engines, settings=settings(**overrides),
                               output=self._collect, store=store, media=media, **named)
        if resume is not None:
            restore(self.session, resume)
        self.events: list[dict[str, Any]] = []
        self.audio_bytes = 0
        self._cursor = 0
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> Harness:
        await self.session.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def _collect(self, item: dict[str, Any] | bytes) -> None:
        if isinstance(item, bytes):
            self.audio_bytes += len(item)
        else:
            self.events.append(item)
        self._arrived.set()

    # --- in ---------------------------------------------------------------------------------------

    async def send(self, kind: str, **fields: Any) -> None:
        await self.session.handle({"type": kind, **fields})

    def utterance(self, text: str) -> Utterance:
        return Utterance(pcm=speech(text), start_ms=0.0, end_ms=100.0 * len(text.split()),
                         voiced_ms=100.0 * len(text.split()), last_voiced_at=time.monotonic())

    async def speech_started(self) -> None:
        await self.session.listening.on_segment(SpeechStarted(at_ms=0.0))

    async def paused(self, utterance: Utterance) -> None:
        await self.session.listening.on_segment(SpeechPaused(at_ms=utterance.end_ms, utterance=utterance))

    async def resumed(self) -> None:
        await self.session.listening.on_segment(SpeechResumed(at_ms=0.0))

    async def stopped(self, utterance: Utterance) -> None:
        await self.session.listening.on_segment(SpeechStopped(at_ms=utterance.end_ms, utterance=utterance))

    async def say(self, text: str) -> None:
        """A whole utterance: speech starts, then the hangover ends it."""
        await self.speech_started()
        await self.stopped(self.utterance(text))

    # --- out --------------------------------------------------------------------------------------

    async def next(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The next event of `kind` (with these fields) after the last one returned; waits for it."""

        async def found() -> dict[str, Any]:
            while True:
                for index in range(self._cursor, len(self.events)):
                    event = self.events[index]
                    if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                        self._cursor = index + 1
                        return event
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(found(), WAIT_S)

    async def until(self, happened: asyncio.Event) -> None:
        """Wait for an engine's signal (bounded: a broken turn fails the test, it does not hang it)."""
        await asyncio.wait_for(happened.wait(), WAIT_S)

    def kinds(self) -> list[str]:
        return [e["type"] for e in self.events]

    async def end_check(self, utterance: Utterance, pause: int = 1) -> None:
        """The segmenter asks the end-of-turn model about the pause after `utterance`."""
        await self.session.listening.on_segment(EndCheck(at_ms=utterance.end_ms, pcm=utterance.pcm,
                                                         pause=pause))

    async def checks_done(self) -> None:
        """Every end-of-turn check started so far has finished."""
        await asyncio.wait_for(asyncio.gather(*self.session.listening._end_checks), WAIT_S)

    async def idle(self) -> None:
        """Every queued turn has finished."""
        await asyncio.wait_for(self.session.until_idle(), WAIT_S)
