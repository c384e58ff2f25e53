"""The conversation state machine every door drives.

A session consumes audio and control events and emits events (dicts with a `type`) and reply audio
(PCM16 bytes) through one `send` callable. Turns run one at a time in a worker task:
utterance -> transcript -> chat stream -> sentences -> speech. Speech onset during a reply (barge-in) or a
client cancel stops the reply at once; the history keeps only what the client says it actually played.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .audio import StreamResampler, duration_ms, resample_pcm16
from .engines import Engines
from .history import History
from .llm import ChatError
from .media.bridge import MediaBridge
from .media.router import ActionRoute
from .media.service import MediaService
from .protocol import SessionConfig, SessionUpdate, describe_validation_error
from .settings import Settings
from .smart_turn import trails_off
from .store import ConversationStore, StoreError
from .stt import ignore_reason
from .turn import Turn, TurnInput
from .vad import (
    VAD_RATE,
    EndCheck,
    Segmenter,
    SegmenterConfig,
    SegmentEvent,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
)

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any] | bytes], Awaitable[None]]


class SessionError(Exception):
    """A client mistake the session reports as a typed, recoverable `error` event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Audible:
    """The last reply the client may still be playing."""

    turn: Turn
    deadline: float  # monotonic time its audio would end if played from the first chunk


@dataclass(eq=False)
class Session:
    """One conversation. Doors call `start`, `feed_audio`, `handle`, `close`."""

    engines: Engines
    settings: Settings
    send: Send
    media: MediaService | None = None
    store: ConversationStore | None = None
    door: str = "native"
    owner: str = "local"  # the user this session speaks for; media jobs are shared per user
    uploads_dir: Path | None = None
    id: str = field(default_factory=lambda: "sess_" + uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        self.send = self.engines.metrics.watching(self.send)  # turn and error events feed /metrics
        s = self.settings
        self.config = SessionConfig.defaults(s)
        self.history = History(max_chars=s.history_max_chars)
        self._turn_numbers = itertools.count(1)
        self._queue: asyncio.Queue[TurnInput] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._current: Turn | None = None
        self._audible: _Audible | None = None
        self._closed = False
        self._draining = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.stop_requested = asyncio.Event()  # the server is shutting down: the door should close
        self.closed = asyncio.Event()  # set by the door once the connection is closed
        self._storage_warned = False
        self.last_queued: TurnInput | None = None  # the newest input queued (doors map item ids onto it)
        self._speculative: TurnInput | None = None  # the bet on the current pause, if any
        self._partial_task: asyncio.Task[None] | None = None
        self._partial_mark = 0.0  # voiced ms of the current utterance when the last partial started
        self._utterances = itertools.count(1)
        self._utterance_no = 0
        self.media_bridge: MediaBridge | None = None
        self._end_checks: set[asyncio.Task[None]] = set()
        self._build_input()

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.store is not None:
            try:
                await self.store.open_conversation(self.id, self.owner, self.door)
            except StoreError as exc:
                await self.storage_failed(exc)
        self._worker = asyncio.create_task(self._run_turns(), name=f"{self.id}-turns")
        if self.media is not None:
            self.media_bridge = MediaBridge(self.media, self.owner, self.send, self._notify, self.uploads_dir)

    async def storage_failed(self, exc: StoreError) -> None:
        """The conversation could not be saved (disk full…): say so once, keep talking."""
        log.error("session %s: %s", self.id, exc)
        if not self._storage_warned:
            self._storage_warned = True
            await self.send({"type": "error", "code": "storage_failed", "recoverable": True,
                             "message": "this conversation could not be saved; it continues unsaved"})

    def hotwords(self) -> str:
        """Vocabulary for whisper: the configured words, plus media follow-ups once they make sense."""
        words = [self.settings.stt_hotwords]
        if self.media_bridge is not None:
            words.append(self.media_bridge.vocabulary())
        return " ".join(w for w in words if w)

    def _notify(self, line: str) -> None:
        """Say something unprompted (a media job finished), after any turn in progress."""
        if not self._closed:
            self._enqueue(TurnInput(notice=line, ended_at=time.monotonic()))

    async def close(self) -> None:
        self._closed = True
        for check in list(self._end_checks):
            check.cancel()
        if self.media_bridge is not None:
            await self.media_bridge.close()
        if self._current is not None:
            self._current.cancel("closed")
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass

    def _enqueue(self, item: TurnInput) -> None:
        if self._draining:
            self.last_queued = None
            return  # shutting down: nothing new starts
        self._idle.clear()
        self.last_queued = item
        self._queue.put_nowait(item)

    async def drain(self, timeout: float) -> bool:
        """Let the running and queued turns finish (at most `timeout` s), start nothing new.

        Returns True when the session went idle in time. The door then closes the connection.
        """
        self._draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.stop_requested.set()

    @property
    def busy(self) -> bool:
        """A turn is running or queued."""
        return self._current is not None or not self._queue.empty()

    # --- audio in ---------------------------------------------------------------------------------

    def _build_input(self) -> None:
        s = self.settings
        self._resampler = StreamResampler(self.config.input_rate, VAD_RATE)
        self.segmenter = Segmenter(
            SegmenterConfig(
                aggressiveness=s.vad_aggressiveness,
                frame_ms=s.vad_frame_ms,
                onset_ms=s.vad_onset_ms,
                preroll_ms=s.vad_preroll_ms,
                hangover_ms=s.vad_hangover_ms,
                min_speech_ms=s.vad_min_speech_ms,
                max_utterance_s=s.vad_max_utterance_s,
                speculate_ms=s.vad_speculate_ms if self.config.turn_mode == "vad" else 0,
                check_ms=s.end_of_turn_check_ms if self.engines.turn_end is not None else 0,
                patience_ms=s.end_of_turn_max_ms,
            ),
            hold=self.config.turn_mode == "push_to_talk",
        )

    async def feed_audio(self, pcm: bytes, arrived: float | None = None) -> None:
        """Client audio: PCM16LE mono at the session's input rate."""
        if len(pcm) % 2:
            message = f"audio frames must hold whole 16-bit samples; got {len(pcm)} bytes"
            raise SessionError("bad_audio", message)
        arrived = time.monotonic() if arrived is None else arrived
        for event in self.segmenter.feed(self._resampler.process(pcm), arrived):
            await self._on_segment(event)
        self._maybe_partial()

    async def _on_segment(self, event: SegmentEvent) -> None:
        if isinstance(event, SpeechStarted):
            self._utterance_no = next(self._utterances)
            self._partial_mark = 0.0
            await self.send({"type": "speech.started", "at_ms": round(event.at_ms)})
            if self.config.barge_in:
                await self.interrupt("barge_in")
            return
        if isinstance(event, SpeechPaused):
            # Never jump this session's queue or overlap its reply, and never gamble the model's time
            # while other sessions' finals wait for it.
            if not self.busy and not self._draining and not getattr(self.engines.stt, "backlog", 0):
                utterance = event.utterance
                self._speculative = TurnInput(utterance=utterance, ended_at=utterance.last_voiced_at,
                                              respond=self.config.auto_respond, speculative=True)
                self._enqueue(self._speculative)
                self.engines.counters["speculative_started"] += 1
            return
        if isinstance(event, SpeechResumed):
            self._discard_speculation()
            return
        if isinstance(event, EndCheck):
            # Off the audio path: frames keep flowing (and may resume speech) while the model thinks.
            task = asyncio.create_task(self._check_end(self.segmenter, event), name=f"{self.id}-end-check")
            self._end_checks.add(task)
            task.add_done_callback(self._end_checks.discard)
            return
        self._drop_partial()
        utterance = event.utterance
        bet, self._speculative = self._speculative, None
        if bet is not None and utterance is not None and bet.utterance is not None \
                and utterance.pcm == bet.utterance.pcm:
            self.last_queued = bet  # the speculation was right: that turn is this utterance's
        else:
            if bet is not None:
                self._discard(bet)
            if utterance is not None:  # queued first, so a door can map its own item id onto it
                self._enqueue(TurnInput(utterance=utterance, ended_at=utterance.last_voiced_at,
                                        respond=self.config.auto_respond))
            bet = None
        await self.send({
            "type": "speech.stopped",
            "at_ms": round(event.at_ms),
            "reason": event.reason,
            "duration_ms": round(utterance.duration_ms) if utterance else 0,
            "ignored": None if utterance else "too_short",
        })  # fmt: skip
        if bet is not None:
            await self._confirm(bet)

    # --- speculative finalization -----------------------------------------------------------------

    async def _confirm(self, bet: TurnInput) -> None:
        assert bet.decided is not None
        bet.decided.set()
        self.engines.counters["speculative_confirmed"] += 1
        if (turn := self._running(bet)) is not None:
            await turn.release()

    def _discard(self, bet: TurnInput) -> None:
        """Speech went on: the speculative turn never happened (its output was never sent)."""
        bet.dropped = True
        self.engines.counters["speculative_discarded"] += 1
        if bet.decided is not None:
            bet.decided.set()
        if (turn := self._running(bet)) is not None:
            turn.cancel("discarded")

    def _running(self, item: TurnInput) -> Turn | None:
        """The turn started from `item`, if it is the one running now."""
        turn = self._current
        return turn if turn is not None and turn.item is item else None

    def _discard_speculation(self) -> None:
        bet, self._speculative = self._speculative, None
        if bet is not None:
            self._discard(bet)

    async def _check_end(self, segmenter: Segmenter, check: EndCheck) -> None:
        """Ask the end-of-turn model about this pause and end the utterance if it says complete."""
        model = self.engines.turn_end
        assert model is not None
        bet = self._speculative  # the guess started at this very pause, if any (speech since drops it)
        complete: bool | None
        try:
            complete = await model.is_complete(check.pcm)
        except Exception as exc:  # the hangover still ends the turn: slower, never stuck
            log.warning("session %s: end-of-turn check failed (%s); the %d ms hangover ends this turn",
                        self.id, exc, self.settings.vad_hangover_ms)
            complete = None
        if complete and bet is not None and bet.heard is not None and not bet.dropped:
            # The reply cannot start before this transcript anyway, so reading it costs no time.
            try:
                limit_s = self.settings.end_of_turn_max_ms / 1000
                heard = await asyncio.wait_for(asyncio.shield(bet.heard), limit_s)
            except TimeoutError:
                heard = ""
            if trails_off(heard, self.config.language):
                complete = False
                self.engines.counters["end_of_turn_trailing_words"] += 1
        log.debug("session %s: pause %d judged complete=%s", self.id, check.pause, complete)
        self.engines.counters[{True: "end_of_turn_complete", False: "end_of_turn_incomplete",
                               None: "end_of_turn_failed"}[complete]] += 1
        if segmenter is not self.segmenter or self._closed:
            return  # the input was rebuilt (session.update) or closed meanwhile
        stopped = segmenter.decide(check.pause, complete)
        if stopped is not None:
            try:
                await self._on_segment(stopped)
            except Exception:  # only sending can fail here: the client is gone
                log.debug("session %s: end of turn after the client left", self.id)

    # --- partial transcripts ----------------------------------------------------------------------

    def _maybe_partial(self) -> None:
        """While the user speaks: a transcript of the speech so far, every so much new speech, if the
        speech model has nothing more urgent to do (the scheduler runs finals first)."""
        interval = self.settings.stt_partial_interval_ms
        stt = self.engines.stt
        if interval <= 0 or not getattr(stt, "supports_partials", False) or not self.segmenter.speaking:
            return
        if self._partial_task is not None and not self._partial_task.done():
            return
        chat_wait = getattr(self.engines.chat, "estimated_wait_ms", None)
        if chat_wait is not None and chat_wait() > 0:
            return  # a local model is writing someone's reply: it needs the CPU more than a preview does
        voiced = self.segmenter.voiced_ms
        if voiced - self._partial_mark < interval:
            return
        self._partial_mark = voiced
        pcm = self.segmenter.speech_pcm
        self._partial_task = asyncio.create_task(self._partial(pcm, self._utterance_no),
                                                 name=f"{self.id}-partial")

    async def _partial(self, pcm: bytes, utterance_no: int) -> None:
        language = self.config.language
        try:
            transcript = await self.engines.stt.partial(  # type: ignore[attr-defined]
                pcm, None if language == "auto" else language, self.hotwords(), self.id)
        except Exception:  # a partial is a courtesy: a failure is logged, never reported as an error
            log.debug("session %s: partial transcript failed", self.id, exc_info=True)
            return
        if transcript is None or utterance_no != self._utterance_no or not self.segmenter.speaking:
            return  # skipped, or the utterance it belonged to is over
        if ignore_reason(transcript) is None:
            try:
                await self.send({"type": "transcript.partial", "text": transcript.text,
                                 "audio_ms": round(transcript.audio_ms)})
                self.engines.counters["partials_sent"] += 1
            except Exception:  # the client is gone
                return

    def _drop_partial(self) -> None:
        drop = getattr(self.engines.stt, "drop_partial", None)
        if drop is not None:
            drop(self.id)

    # --- control events ---------------------------------------------------------------------------

    async def handle(self, event: dict[str, Any]) -> None:
        """A parsed JSON control event from the client."""
        kind = event.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise SessionError("unknown_event", f"unknown event type {kind!r}")
        await handler(self, event)

    async def _on_update(self, event: dict[str, Any]) -> None:
        try:
            update = SessionUpdate.model_validate(event.get("session", {}))
        except ValidationError as exc:
            raise SessionError("invalid_session", describe_validation_error(exc)) from exc
        try:
            rebuild = self.config.apply(update, self.settings)
        except ValueError as exc:
            raise SessionError("invalid_session", str(exc)) from exc
        if rebuild:
            self._build_input()
        await self.send({"type": "session.updated", "session": self.config.public()})

    async def _on_commit(self, event: dict[str, Any]) -> None:
        stopped = self.segmenter.commit()
        if stopped is None:
            await self.send({"type": "input.committed", "speech": False})
            return
        # speech.stopped first: a client counting utterances knows them all once `committed` arrives.
        await self._on_segment(stopped)
        await self.send({"type": "input.committed", "speech": stopped.utterance is not None})

    async def _on_clear(self, event: dict[str, Any]) -> None:
        self.segmenter.clear()
        self._discard_speculation()
        self._drop_partial()
        await self.send({"type": "input.cleared"})

    async def _on_cancel(self, event: dict[str, Any]) -> None:
        await self.interrupt("cancel")

    async def _on_text(self, event: dict[str, Any]) -> None:
        text = event.get("text")
        if not isinstance(text, str) or not text.strip():
            raise SessionError("invalid_event", "`text` needs a non-empty string field `text`")
        if len(text) > self.settings.max_text_chars:
            limit = self.settings.max_text_chars
            raise SessionError("text_too_long", f"text is limited to {limit} characters")
        self._enqueue(TurnInput(text=text.strip(), ended_at=time.monotonic()))

    async def _on_playback(self, event: dict[str, Any]) -> None:
        played = event.get("played_ms")
        if not isinstance(played, int | float) or played < 0:
            raise SessionError("invalid_event", "`playback` needs a non-negative number `played_ms`")
        turn = self.find_turn(event.get("turn_id"))
        if turn is None:
            return
        turn.report_played(float(played))
        if turn.finished:
            await turn.persist_heard()
        if self._audible and self._audible.turn is turn and (event.get("done") or played >= turn.audio_ms):
            self._audible = None

    async def _on_history(self, event: dict[str, Any]) -> None:
        await self.send({"type": "conversation", "messages": self.history.messages()})

    async def _on_media_action(self, event: dict[str, Any]) -> None:
        job_id, action, index = event.get("job_id"), event.get("action"), event.get("index", 0)
        if self.media_bridge is None:
            raise SessionError("media_unavailable", "media generation is not enabled on this server")
        if not isinstance(job_id, str) or action not in ("upscale", "variation", "reroll") \
                or not isinstance(index, int) or not 0 <= index <= 4:
            raise SessionError("invalid_event", "`media.action` needs `job_id`, `action` "
                               "(upscale|variation|reroll) and `index` 1-4 (0 for reroll)")
        pressed = ActionRoute(job_id, action, index)
        self._enqueue(TurnInput(action=pressed, ended_at=time.monotonic()))

    async def _on_media_attach(self, event: dict[str, Any]) -> None:
        if self.media_bridge is None:
            raise SessionError("media_unavailable", "media generation is not enabled on this server")
        try:
            count = self.media_bridge.attach(event.get("upload_ids"))  # type: ignore[arg-type]
        except ValueError as exc:
            raise SessionError("invalid_event", str(exc)) from exc
        await self.send({"type": "media.attached", "count": count})

    async def _on_ping(self, event: dict[str, Any]) -> None:
        await self.send({"type": "pong", "id": event.get("id")})

    def find_turn(self, turn_id: Any) -> Turn | None:
        """The running, still audible, or remembered turn with this id (the newest when None)."""
        for candidate in (self._current, self._audible.turn if self._audible else None):
            if candidate is not None and (turn_id is None or candidate.id == turn_id):
                return candidate
        return self.history.turn(turn_id) if isinstance(turn_id, str) else None

    # --- calls for doors whose protocol manages the conversation itself (OpenAI Realtime) ---------

    def add_text(self, text: str, respond: bool) -> TurnInput:
        """A typed user message; with `respond` False it only joins the conversation.

        Returns the queued input: setting its `dropped` withdraws it until its transcript is out.
        """
        item = TurnInput(text=text, ended_at=time.monotonic(), respond=respond)
        self._enqueue(item)
        return item

    def respond(self, instructions: str | None = None) -> None:
        """Answer the conversation as it stands."""
        self._enqueue(TurnInput(reply_only=True, instructions=instructions, ended_at=time.monotonic()))

    # --- barge-in / cancel ------------------------------------------------------------------------

    async def interrupt(self, reason: str) -> None:
        """Stop the reply being produced or played, and tell the client to stop playback now."""
        now = time.monotonic()
        turn = self._current
        if turn is not None and not turn.finished:
            turn.cancel(reason)
            await self.send({"type": "reply.stop", "turn_id": turn.id, "reason": reason})
            self._audible = None
            return
        audible = self._audible
        if audible is not None and now < audible.deadline:
            self._audible = None
            audible.turn.stopped_while_playing(reason, now)
            await self.send({"type": "reply.stop", "turn_id": audible.turn.id, "reason": reason})

    # --- turns ------------------------------------------------------------------------------------

    async def _run_turns(self) -> None:
        while not self._closed:
            if self._queue.empty():
                self._idle.set()
            item = await self._queue.get()
            if item.dropped:
                continue
            turn = Turn(
                id=f"turn_{next(self._turn_numbers)}",
                session=self,
                item=item,
            )
            self._current = turn
            try:
                await turn.run()
            except Exception:  # only sending can fail here: the client is gone
                log.debug("session %s: %s ended without its client", self.id, turn.id)
            finally:
                self._current = None
            if turn.first_audio_at is not None and turn.status == "completed":
                self._audible = _Audible(turn, turn.first_audio_at + turn.audio_ms / 1000)

    # Helpers turns use; kept here so all output goes through one place.

    async def send_audio(self, turn: Turn, pcm: bytes, rate: int) -> None:
        out_rate = self.config.output_rate
        pcm = resample_pcm16(pcm, rate, out_rate)
        frame = out_rate // 5 * 2  # 200 ms frames: small enough to start playback, few enough to be cheap
        for offset in range(0, len(pcm), frame):
            part = pcm[offset : offset + frame]
            await self.send(part)
            turn.audio_ms += duration_ms(len(part), out_rate)

    def chat_error_event(self, turn: Turn, error: ChatError) -> dict[str, Any]:
        return {"type": "error", "code": error.code, "message": error.message, "recoverable": True,
                "turn_id": turn.id}

    def should_ignore(self, turn: Turn) -> str | None:
        assert turn.transcript is not None
        return ignore_reason(turn.transcript)


_HANDLERS: dict[str, Callable[[Session, dict[str, Any]], Awaitable[None]]] = {
    "session.update": Session._on_update,
    "input.commit": Session._on_commit,
    "input.clear": Session._on_clear,
    "reply.cancel": Session._on_cancel,
    "text": Session._on_text,
    "playback": Session._on_playback,
    "conversation.get": Session._on_history,
    "ping": Session._on_ping,
    "media.action": Session._on_media_action,
    "media.attach": Session._on_media_attach,
}
