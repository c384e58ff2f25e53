"""One turn: transcript -> streamed chat reply -> sentence-by-sentence speech, cancellable at any point."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

from . import events
from .audio import duration_ms
from .engines import Engines
from .heard import SpokenPiece, heard_words
from .history import History
from .language import reply_language, with_reply_language
from .llm import ChatError, ToolCall
from .media.bridge import MediaBridge
from .media.routes import ChatRoute
from .media.tools import MEDIA_TOOLS, route_from_tool_call
from .protocol import SessionConfig
from .scheduler import SttBusy
from .sentences import SentenceChunker
from .settings import Settings
from .store import ConversationStore, StoreError
from .stt import Transcript, ignore_reason
from .timeline import Timeline
from .tts import TTSError
from .turn_input import TurnInput
from .wake import strip_wake_word

log = logging.getLogger(__name__)


class TurnContext(Protocol):
    """What a turn sees of its conversation: output, the history, the engines, the config, the store."""

    id: str  # the conversation's
    engines: Engines
    settings: Settings
    config: SessionConfig
    history: History[Turn]
    store: ConversationStore | None
    media_bridge: MediaBridge | None

    async def send(self, event: events.ServerEvent) -> None: ...

    async def send_audio(self, pcm: bytes, rate: int) -> float:
        """Send reply audio at `rate` in the client's format; returns how many ms of audio went out."""
        ...

    def hotwords(self) -> str: ...

    async def storage_failed(self, exc: StoreError, turn_id: str | None = None) -> None: ...

APOLOGY = "Sorry, I can't reach my language model right now. Please try again in a moment."
BUSY_APOLOGY = "Sorry, I'm answering several people at once right now. Please ask me again in a moment."


async def _said(line: str) -> AsyncIterator[str]:
    """A fixed line as a one-delta reply stream."""
    yield line


def _ms(later: float | None, earlier: float) -> int | None:
    return None if later is None else round((later - earlier) * 1000)


class Turn:
    """Runs in its own task so barge-in can cancel it without touching the session's worker."""

    def __init__(self, id: str, session: TurnContext, item: TurnInput) -> None:
        self.id = id
        self.session = session
        self.item = item
        self.status = "running"  # -> completed | interrupted | failed | ignored
        self.stop_reason: str | None = None
        self.transcript: Transcript | None = None
        self.user_text = item.text or ""
        self.reply_text = ""
        self.pieces: list[SpokenPiece] = []
        self.audio_ms = 0.0
        self.played_ms: float | None = None
        self.transcript_at: float | None = None
        self.first_token_at: float | None = None
        self.first_audio_at: float | None = None
        self.tts_engine: str | None = None
        self.tts_voice: str | None = None
        self.language: str | None = None  # the reply's: what the user speaks (voicechat/language.py)
        self.error_code: str | None = None
        self.media_job_id: str | None = None
        self.finished = False
        self._task: asyncio.Task[None] | None = None
        self.timeline = Timeline()  # when the server did each step (turn.done.stages)
        self.timeline.mark("queued", item.queued_at)
        self.timeline.mark("started")
        # While speculative: events and audio the client must not see yet, in order.
        self._held: list[events.ServerEvent | tuple[bytes, int]] | None = [] if item.held else None
        self._persist_held = False

    # --- output, held back while the turn is speculative ------------------------------------------

    async def send(self, event: events.ServerEvent) -> None:
        if self._held is not None:
            self._held.append(event)
        else:
            await self.session.send(event)

    async def send_audio(self, pcm: bytes, rate: int) -> None:
        if self._held is not None:
            self._held.append((pcm, rate))
        else:
            self.timeline.mark("first_audio")
            self.audio_ms += await self.session.send_audio(pcm, rate)

    async def _confirmed(self) -> None:
        """Wait until a speculative turn is confirmed; before side effects the client would notice."""
        if self.item.decided is not None:
            await self.item.decided.wait()
            if self.item.dropped:
                raise asyncio.CancelledError  # discarded while it waited

    async def release(self) -> None:
        """The speculation was right: store what was said, then send everything held, in order."""
        if self._held is None:
            return
        now = time.monotonic()
        self.timeline.mark("released", now)
        # The client learns of it all only now, and the timings say so.
        self.transcript_at = max(self.transcript_at, now) if self.transcript_at else None
        self.first_token_at = max(self.first_token_at, now) if self.first_token_at else None
        self.first_audio_at = max(self.first_audio_at, now) if self.first_audio_at else None
        if self._persist_held:
            self._persist_held = False
            await self._persist()
        while self._held:
            held = self._held.pop(0)
            if isinstance(held, tuple):
                self.timeline.mark("first_audio")
                self.audio_ms += await self.session.send_audio(*held)
            else:
                await self.session.send(held)
        self._held = None

    # --- control ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run to the end; whatever happens, the client gets exactly one `turn.done` for this turn."""
        self._task = asyncio.create_task(self._run(), name=f"{self.session.id}-{self.id}")
        try:
            await asyncio.wait({self._task})
        except asyncio.CancelledError:  # the session itself is closing
            self._task.cancel()
            raise
        finally:
            self.finished = True
        if self.item.decided is not None and not self.item.dropped:
            await self.item.decided.wait()  # finished before the hangover ended: wait for the verdict
        if self.item.dropped and self._held is not None:  # a guess the client never saw: nothing to end
            self.session.history.forget_turn(self.id)
            return
        if self.stop_reason == "resumed":  # a thinking pause: the utterance going on says all of it again
            self.session.history.forget_turn(self.id)
        await self.release()
        if self._task.cancelled():
            if self.stop_reason == "closed":
                return
            self.status = "interrupted"
            if self.played_ms is None:
                self.played_ms = self._estimate_played(time.monotonic())
        elif (exc := self._task.exception()) is not None:
            log.error("session %s %s failed", self.session.id, self.id, exc_info=exc)
            self.status, self.error_code = "failed", "internal"
            await self.send(events.Error("internal", "the turn failed unexpectedly", turn_id=self.id))
        if self.status != "ignored":
            await self._persist()
        await self.send(self._done_event())

    async def persist_heard(self) -> None:
        """The client reported what it played after the turn ended: store the truncated reply."""
        if self.status not in ("ignored", "running"):
            await self._persist()

    async def _persist(self) -> None:
        """Save the turn as it stands; the client is told only after this returns."""
        store = self.session.store
        if store is None:
            return
        try:
            # A taken-back turn (reason resumed) keeps its record but not its half sentence: the turn going on
            # stores the whole utterance, and a resumed conversation must not read the half back in.
            user_text = "" if self.stop_reason == "resumed" else self.user_text
            await store.save_turn(self.session.id, self.id, user_text=user_text,
                                  assistant_text=self.heard_text(), status=self.status,
                                  timings=self._timings(), media_job_id=self.media_job_id)
        except StoreError as exc:
            await self.session.storage_failed(exc, self.id)

    def cancel(self, reason: str) -> None:
        if self._task is not None and not self._task.done():
            self.stop_reason = reason
            self._task.cancel()

    def report_played(self, played_ms: float) -> None:
        """The client's account of how much reply audio it really played."""
        self.played_ms = min(played_ms, self.audio_ms)

    def stopped_while_playing(self, reason: str, now: float) -> None:
        """Barge-in after all audio was sent but before the client finished playing it."""
        self.status = "interrupted"
        self.stop_reason = reason
        if self.played_ms is None:
            self.played_ms = self._estimate_played(now)

    def _estimate_played(self, now: float) -> float:
        if self.first_audio_at is None:
            return 0.0
        return max(0.0, min(self.audio_ms, (now - self.first_audio_at) * 1000))

    def heard_text(self) -> str:
        """The reply as the user heard it: all of it, or what fits in the audio actually played."""
        spoken = [p for p in self.pieces if not p.apology]
        if self.status == "completed" and self.played_ms is None:
            return " ".join(p.text for p in spoken)
        return heard_words(spoken, self.played_ms if self.played_ms is not None else self.audio_ms)

    # --- the work ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        session = self.session
        if self.item.notice is not None:
            await self._reply(_said(self.item.notice), remember=True)
            return
        if self.item.reply_only:
            # A typed item answered by hand ("blend these two pictures", then response.create) is a media
            # request like any other: routed as a text turn would be.
            asked = session.history.unanswered()
            if asked and not self.item.instructions and await self._media(asked, remember=True):
                return
            prompt = self.item.instructions or session.config.system_prompt
            reply = session.engines.chat.stream(session.history.for_model(prompt))
            await self._reply(self._text_only(reply), remember=True)
            return
        if self.item.utterance is not None and not await self._transcribe_telling():
            return
        if self.item.action is None:
            if self._held is not None:
                self._persist_held = True  # stored when the speculation is confirmed, before release
            elif not self.item.dropped:
                await self._persist()
            if self.item.dropped:  # the client deleted it while it was transcribed or stored
                self.status = "completed"
                return
            await self.send(events.Transcript(self.id, self.user_text,
                                              self.transcript.language if self.transcript else None,
                                              "speech" if self.transcript else "text"))
            session.history.add_user(self.user_text, self)
        if not self.item.respond:
            self.status = "completed"
            return
        self.language = reply_language(session.config.language,
                                       self.transcript.language if self.transcript else None, self.user_text)
        if await self._media(self.user_text, remember=self.item.action is None):
            return
        bridge = session.media_bridge
        chat = session.engines.chat
        if chat.remote and not session.settings.speculate_remote_chat:
            await self._confirmed()  # a remote model's reply is a paid call: never for a guess
        messages = session.history.for_model(
            with_reply_language(session.config.system_prompt, self.language, session.config.language))
        if bridge is not None and chat.supports_tools:
            await self._reply(self._with_tools(chat.stream(messages, tools=MEDIA_TOOLS)), remember=True)
        else:
            await self._reply(self._text_only(chat.stream(messages)), remember=True)

    async def _media(self, text: str, remember: bool) -> bool:
        """Run the media request `text` (or the pressed button) makes, if any, and say its line."""
        bridge = self.session.media_bridge
        routed = self.item.action or (await bridge.route(text) if bridge else None)
        if routed is None or bridge is None:
            return False
        await self._confirmed()  # a media job costs money: never on a guess
        line, job = await bridge.run(routed)
        self.media_job_id = job.id if job else None
        await self._reply(_said(line), remember=remember)
        return True

    async def _with_tools(self, stream: AsyncIterator[str | ToolCall]) -> AsyncIterator[str]:
        """Text as it comes; a media tool call becomes the job's acknowledgement, said like any text."""
        bridge = self.session.media_bridge
        assert bridge is not None
        async for piece in stream:
            if not isinstance(piece, ToolCall):
                yield piece
                continue
            try:
                routed = route_from_tool_call(piece.name, piece.arguments,
                                              await bridge.service.list(bridge.owner, limit=10))
            except (ValueError, TypeError):
                log.warning("session %s: unusable tool call %s", self.session.id, piece.name)
                continue
            if isinstance(routed, ChatRoute) or self.media_job_id:
                continue  # one job per turn; a confused call is ignored, not obeyed
            await self._confirmed()
            line, job = await bridge.run(routed)
            self.media_job_id = job.id if job else None
            yield (" " if self.reply_text else "") + line

    @staticmethod
    async def _text_only(stream: AsyncIterator[str | ToolCall]) -> AsyncIterator[str]:
        async for piece in stream:
            if isinstance(piece, str):
                yield piece

    async def _reply(self, deltas: AsyncIterator[str], remember: bool) -> None:
        """Stream reply text to the client and speak it sentence by sentence as it arrives."""
        session = self.session
        if remember:
            session.history.add_assistant(self)
        await self.send(events.ReplyStarted(self.id))
        self.timeline.mark("chat_asked")  # the stream starts on the first read, just below
        pieces: asyncio.Queue[SpokenPiece | None] = asyncio.Queue()
        speaker = asyncio.create_task(self._speak(pieces))
        chunker = SentenceChunker.for_settings(session.settings)
        error: ChatError | None = None
        try:
            try:
                async for delta in deltas:
                    if self.first_token_at is None:
                        self.first_token_at = time.monotonic()
                        self.timeline.mark("first_token", self.first_token_at)
                    self.reply_text += delta
                    await self.send(events.ReplyTextDelta(self.id, delta))
                    for text in chunker.feed(delta):
                        self.timeline.mark("first_piece")
                        pieces.put_nowait(SpokenPiece(text, 0, 0))
            except ChatError as exc:
                error = exc
            for text in chunker.flush():
                self.timeline.mark("first_piece")
                pieces.put_nowait(SpokenPiece(text, 0, 0))
            if error is not None:
                log.warning("session %s %s: %s", session.id, self.id, error.message)
                await self.send(events.Error(error.code, error.message, turn_id=self.id))
                line = BUSY_APOLOGY if error.code == "chat_busy" else APOLOGY
                pieces.put_nowait(SpokenPiece(line, 0, 0, apology=True))
            pieces.put_nowait(None)
            await speaker
        finally:
            speaker.cancel()
        self.status = "failed" if error and not self.reply_text else "completed"
        self.error_code = error.code if error else None

    async def _transcribe_telling(self) -> bool:
        """Transcribe, and tell whoever waits on `item.heard` what was heard (even when it failed)."""
        try:
            return await self._transcribe()
        finally:
            heard = self.item.heard
            if heard is not None and not heard.done():
                heard.set_result(self.transcript.text if self.transcript is not None else "")

    async def _transcribe(self) -> bool:
        session = self.session
        assert self.item.utterance is not None
        language = session.config.language
        try:
            self.transcript = await session.engines.stt.transcribe(
                self.item.utterance.pcm, None if language == "auto" else language, session.hotwords()
            )
        except SttBusy as exc:
            log.warning("session %s %s: transcription refused: %s", session.id, self.id, exc)
            self.status, self.error_code = "failed", "stt_busy"
            message = "the server is too busy to transcribe that; please say it again"
            await self.send(events.Error("stt_busy", message, turn_id=self.id))
            return False
        except Exception as exc:  # a model failure is this turn's problem, not the session's
            log.exception("session %s %s: transcription failed", session.id, self.id)
            self.status, self.error_code = "failed", "stt_failed"
            await self.send(events.Error("stt_failed", f"transcription failed: {type(exc).__name__}",
                                         turn_id=self.id))
            return False
        if self.item.wake_word is not None and session.engines.wake is not None:
            self.transcript = strip_wake_word(self.transcript, self.item.wake_word,
                                              session.engines.wake.phrase(self.item.wake_word))
        self.transcript_at = time.monotonic()
        self.timeline.mark("stt_start", self.transcript_at - self.transcript.elapsed_ms / 1000)
        self.timeline.mark("transcript", self.transcript_at)
        self.user_text = self.transcript.text
        reason = ignore_reason(self.transcript)
        if reason is not None:
            self.status = "ignored"
            await self.send(events.TranscriptIgnored(self.id, reason, self.transcript.text))
            return False
        return True

    async def _speak(self, queue: asyncio.Queue[SpokenPiece | None]) -> None:
        session = self.session
        reported = False
        while (piece := await queue.get()) is not None:
            piece.start_ms = piece.end_ms = self.audio_ms
            self.pieces.append(piece)
            try:
                async for engine, chunk in session.engines.tts.synthesize_with_engine(
                    piece.text, session.config.voice, first=len(self.pieces) == 1, language=self.language
                ):
                    if self.first_audio_at is None:
                        self.first_audio_at = time.monotonic()
                        self.timeline.mark("tts_first_chunk", self.first_audio_at)
                        self.tts_engine, self.tts_voice = engine, chunk.voice
                        await self.send(events.ReplyAudioStart(self.id, session.config.output_format,
                                                               session.config.output_rate))
                    # The piece's length is known before its frames go out, so a cut mid-piece
                    # maps played time onto the right share of its words.
                    piece.end_ms += duration_ms(len(chunk.pcm), chunk.rate)
                    await self.send_audio(chunk.pcm, chunk.rate)
            except TTSError as exc:
                if not reported:  # the text still reaches the client; one error per turn is enough
                    reported = True
                    await self.send(events.Error("tts_failed", str(exc), turn_id=self.id))
            piece.synthesized = True

    def _timings(self) -> dict[str, int | None]:
        ended = self.item.ended_at
        return {
            "transcript_ms": _ms(self.transcript_at, ended),
            "first_token_ms": _ms(self.first_token_at, ended),
            "first_audio_ms": _ms(self.first_audio_at, ended),
            "stt_ms": round(self.transcript.elapsed_ms) if self.transcript else None,
        }

    def _done_event(self) -> events.TurnDone:
        return events.TurnDone(
            turn_id=self.id, status=self.status, user_text=self.user_text, text=self.heard_text(),
            audio_ms=round(self.audio_ms), tts_engine=self.tts_engine, timings=self._timings(),
            reason=self.stop_reason or None, error=self.error_code or None,
            media_job_id=self.media_job_id or None, speculative=True if self.item.speculative else None,
            language=self.language, tts_voice=self.tts_voice, stages=self.timeline.since(self.item.ended_at),
        )
