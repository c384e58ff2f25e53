"""The listening chain: what happens to the client's audio before a turn starts.

    client PCM -> resample to 16 kHz -> wake gate (wake.py, when a wake word is set) -> VAD segmenter
        armed           -> audio goes to the wake word detector only; heard -> `wake.detected`, gate opens
        speech started  -> `speech.started`, barge-in; or, within the pause after a turn the model ended and
                           before its reply is heard, the same utterance going on: that turn is taken back
        speech paused   -> end-of-turn guess: a speculative turn on the utterance so far
        speech resumed  -> the guess was wrong: discard it
        end check       -> the end-of-turn model (smart_turn.py) judges the pause, off the audio path
        speech stopped  -> end of turn: confirm the guess, or queue the utterance; `speech.stopped`
    while speaking     -> partial transcripts, when the speech model has time

Every stage is one method below, in that order; the end-of-turn model answers in `_check_end`. The chain
talks to its session only through `ListeningHost`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, Protocol

from . import events
from .audio import StreamResampler
from .capabilities import PartialTranscripts, backlog, chat_wait_ms
from .engines import Engines
from .protocol import SessionConfig
from .settings import Settings
from .smart_turn import trails_off
from .stt import ignore_reason
from .turn import Turn
from .turn_input import TurnInput
from .vad import (
    VAD_RATE,
    EndCheck,
    Segmenter,
    SegmenterConfig,
    SegmentEvent,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    Utterance,
)
from .wake import Detection, WakeGate

log = logging.getLogger(__name__)


class ListeningHost(Protocol):
    """What the listening chain needs from its session."""

    id: str
    settings: Settings
    engines: Engines
    config: SessionConfig
    last_queued: TurnInput | None

    @property
    def busy(self) -> bool: ...

    @property
    def draining(self) -> bool: ...

    @property
    def audible_until(self) -> float:
        """Monotonic time the last reply ends on the client if played in full (0: nothing playing)."""
        ...

    async def send(self, event: events.ServerEvent) -> None: ...

    def enqueue(self, item: TurnInput) -> None: ...

    def hotwords(self) -> str: ...

    async def interrupt(self, reason: str) -> None: ...

    def running(self, item: TurnInput) -> Turn | None:
        """The turn started from `item`, if it is the one running now."""
        ...


def segmenter_config(s: Settings, hands_free: bool, checking: bool, **overrides: Any) -> SegmenterConfig:
    """The segmenter `s` asks for: speculation only hands-free, end-of-turn checks only with a model."""
    return SegmenterConfig(**{
        "aggressiveness": s.vad_aggressiveness, "frame_ms": s.vad_frame_ms, "onset_ms": s.vad_onset_ms,
        "preroll_ms": s.vad_preroll_ms, "hangover_ms": s.vad_hangover_ms,
        "min_speech_ms": s.vad_min_speech_ms, "max_utterance_s": s.vad_max_utterance_s,
        "speculate_ms": s.vad_speculate_ms if hands_free else 0,
        "check_ms": s.end_of_turn_check_ms if checking else 0, "patience_ms": s.end_of_turn_max_ms,
        **overrides})


class ListeningChain:
    """One session's audio in: segmentation, speculation and partial transcripts."""

    def __init__(self, host: ListeningHost) -> None:
        self.host = host
        self._speculative: TurnInput | None = None  # the bet on the current pause, if any
        # The input of the turn the end-of-turn model ended last, while speech may still resume it.
        self._ended: TurnInput | None = None
        self._ended_ran = False  # its turn was seen running
        self._partial_task: asyncio.Task[None] | None = None
        self._partial_mark = 0.0  # voiced ms of the current utterance when the last partial started
        self._utterances = itertools.count(1)
        self._utterance_no = 0
        self._end_checks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.wake: WakeGate | None = None
        self._after_wake = False  # the next utterance follows the wake word (and may start with it)
        self._speech_told: float | None = None  # at_ms of a `speech.started` not yet stopped
        self.rebuild()

    def close(self) -> None:
        self._closed = True
        for check in list(self._end_checks):
            check.cancel()

    def rebuild(self) -> None:
        """(Re)build resampler and segmenter for the session's input rate and turn mode."""
        s, config = self.host.settings, self.host.config
        self._resampler = StreamResampler(config.input_rate, VAD_RATE)
        self.segmenter = Segmenter(
            segmenter_config(s, hands_free=config.turn_mode == "vad",
                             checking=self.host.engines.turn_end is not None),
            hold=config.turn_mode == "push_to_talk",
            detector=voice.stream() if (voice := self.host.engines.voice) is not None else None,
        )
        self.wake = None
        wake = self.host.engines.wake
        if config.wake_word and config.turn_mode == "vad":  # push-to-talk: the button is the wake word
            if wake is None:
                raise RuntimeError("a wake word is set but no wake word models are loaded")
            self.wake = WakeGate(wake.detector(config.wake_word), s.wake_followup_s)

    # --- audio in ---------------------------------------------------------------------------------

    async def feed(self, pcm: bytes, arrived: float) -> None:
        """PCM16LE mono at the session's input rate, arrived at monotonic time `arrived`."""
        pcm16 = self._resampler.process(pcm)
        if self.wake is not None:
            pcm16 = await self._through_wake_gate(pcm16, arrived)
        self._seal_if_heard()
        for event in self.segmenter.feed(pcm16, arrived):
            await self.on_segment(event)
        self._maybe_partial()

    async def commit(self) -> bool | None:
        """Push-to-talk release (or a client's commit): the speech so far ends the turn.

        Returns None when there was no speech, else whether it was long enough to count.
        """
        stopped = self.segmenter.commit()
        if stopped is None:
            return None
        await self.on_segment(stopped)
        return stopped.utterance is not None

    def clear(self) -> None:
        """Forget the audio heard so far, and any bet on it."""
        self._ended = None
        self.segmenter.clear()
        self._discard_speculation()
        self._drop_partial()

    async def drop(self) -> None:
        """Forget the audio heard so far (`input.clear`, or a session update that changes how audio is
        heard). An utterance the client was told had started is told stopped, ignored `cleared`: every
        `speech.started` gets its `speech.stopped`, and a page showing "hearing you" does not stay stuck."""
        started, self._speech_told = self._speech_told, None
        end_ms = self.segmenter.speech_end_ms
        self.clear()
        if started is not None:
            await self.host.send(events.SpeechStopped(
                at_ms=round(max(started, end_ms or 0.0)), reason="cleared", duration_ms=0, ignored="cleared"))

    async def reconfigure(self) -> None:
        """The session's input rate, turn mode or wake word changed: drop what was heard, then rebuild."""
        await self.drop()
        self.rebuild()

    async def on_segment(self, event: SegmentEvent) -> None:
        if self.wake is not None and self.wake.armed:
            return  # nothing the user says gets past an armed gate
        if isinstance(event, SpeechStarted):
            await self._on_started(event)
        elif isinstance(event, SpeechPaused):
            self._on_paused(event)
        elif isinstance(event, SpeechResumed):
            self._discard_speculation()
        elif isinstance(event, EndCheck):
            # Off the audio path: frames keep flowing (and may resume speech) while the model thinks.
            # The guess started at this very pause, if any: taken now, as speech may drop it before the
            # task first runs.
            task = asyncio.create_task(self._check_end(self.segmenter, event, self._speculative),
                                       name=f"{self.host.id}-end-check")
            self._end_checks.add(task)
            task.add_done_callback(self._end_checks.discard)
        else:
            await self._on_stopped(event)

    # --- the stages -------------------------------------------------------------------------------

    async def _through_wake_gate(self, pcm: bytes, now: float) -> bytes:
        """The audio that gets past the wake gate: none while it is armed, until the wake word is heard."""
        gate, host = self.wake, self.host
        assert gate is not None
        if not gate.armed:
            if gate.still_open(now, host.busy or self.segmenter.speaking, host.audible_until):
                return pcm
            self.clear()
            self._after_wake = False
            await host.send(events.WakeArmed(gate.word))
        detection = gate.listen(pcm)
        if detection is None:
            return b""
        await self.wake_heard(detection, now)
        return detection.preroll  # the wake phrase and what followed it: the request may be in there

    async def wake_heard(self, detection: Detection, now: float) -> None:
        """The wake word was heard: open the gate and tell the client."""
        assert self.wake is not None
        self.wake.open(now)
        self._after_wake = True
        self.host.engines.counters["wake_detected"] += 1
        await self.host.send(events.WakeDetected(detection.word, detection.probability))

    def _wake_word(self) -> str | None:
        """The wake word the utterance may start with (stripped from its transcript)."""
        return self.wake.word if self.wake is not None and self._after_wake else None

    async def _on_started(self, event: SpeechStarted) -> None:
        self._utterance_no = next(self._utterances)
        self._partial_mark = 0.0
        ended, self._ended = self._ended, None
        self._speech_told = event.at_ms
        await self.host.send(events.SpeechStarted(round(event.at_ms)))
        if event.resumed and ended is not None:
            await self._take_back(ended)
        elif self.host.config.barge_in:
            await self.host.interrupt("barge_in")

    def _seal_if_heard(self) -> None:
        """Once the reply to a turn the model ended is heard (or its turn is over), speech is a new turn."""
        item = self._ended
        if item is None:
            return
        turn = self.host.running(item)
        if turn is not None:
            self._ended_ran = True
        if item.dropped or (turn is not None and turn.audio_ms > 0) or (turn is None and self._ended_ran):
            self._ended = None
            self.segmenter.seal()

    async def _take_back(self, item: TurnInput) -> None:
        """The user went on before hearing the reply: the turn the model ended was a thinking pause. Its turn
        stops (`turn.done` status interrupted, reason `resumed`), and the utterance now going on, which
        starts with the same audio, is answered instead."""
        item.dropped = True
        self.host.engines.counters["end_of_turn_resumed"] += 1
        if self.host.running(item) is not None:
            await self.host.interrupt("resumed")

    def _on_paused(self, event: SpeechPaused) -> None:
        """A short pause: bet that the turn is over and start on it, output held back until it is known."""
        host = self.host
        # Never jump this session's queue or overlap its reply, and never gamble the model's time
        # while other sessions' finals wait for it.
        if host.busy or host.draining or backlog(host.engines.stt):
            return
        utterance = event.utterance
        self._drop_partial()  # the guess's final needs the speech model more than a look at the same speech
        self._speculative = TurnInput(utterance=utterance, ended_at=utterance.last_voiced_at,
                                      respond=host.config.auto_respond, speculative=True,
                                      wake_word=self._wake_word())
        host.enqueue(self._speculative)
        host.engines.counters["speculative_started"] += 1

    def _utterance_ends_turn(self, utterance: Utterance | None) -> TurnInput | None:
        """The hangover passed: the utterance ends the user's turn. Returns the input that answers it
        (the confirmed bet, or a newly queued one), None when nothing counts (too short)."""
        host = self.host
        bet, self._speculative = self._speculative, None
        if bet is not None and utterance is not None and bet.utterance is not None \
                and utterance.pcm == bet.utterance.pcm:
            host.last_queued = bet  # the speculation was right: that turn is this utterance's
            return bet
        if bet is not None:
            self._discard(bet)
        if utterance is not None:  # queued first, so a door can map its own item id onto it
            host.enqueue(TurnInput(utterance=utterance, ended_at=utterance.last_voiced_at,
                                   respond=host.config.auto_respond, wake_word=self._wake_word()))
        return None

    async def _on_stopped(self, event: SpeechStopped) -> None:
        self._drop_partial()
        utterance = event.utterance
        bet = self._utterance_ends_turn(utterance)
        if event.reason == "end_of_turn" and utterance is not None:  # speech may still resume it
            self._ended, self._ended_ran = self.host.last_queued, False
        self._after_wake = self._after_wake and utterance is None  # a too-short blip is not the request
        self._speech_told = None
        await self.host.send(events.SpeechStopped(
            at_ms=round(event.at_ms), reason=event.reason,
            duration_ms=round(utterance.duration_ms) if utterance else 0,
            ignored=None if utterance else "too_short",
        ))
        if bet is not None:
            await self._confirm(bet)

    async def _check_end(self, segmenter: Segmenter, check: EndCheck, bet: TurnInput | None) -> None:
        """Ask the end-of-turn model about this pause (`bet`: the guess started at it, if any) and end the
        utterance if it says complete."""
        host = self.host
        model = host.engines.turn_end
        assert model is not None
        heard: str | None = None
        if bet is not None and bet.heard is not None:
            # The check waits for the guess's transcript: a "complete" is read with it anyway (below), and
            # run beside whisper on a 2-core box the check slowed the transcript every reply waits for by
            # more than the check costs alone. Speech resuming meanwhile drops the guess and the question.
            try:
                limit_s = host.settings.end_of_turn_max_ms / 1000
                heard = await asyncio.wait_for(asyncio.shield(bet.heard), limit_s)
            except TimeoutError:
                heard = ""
            if bet.dropped:
                host.engines.counters["end_of_turn_moot"] += 1
                return
        complete: bool | None
        try:
            complete = await model.is_complete(check.pcm)
        except Exception as exc:  # the hangover still ends the turn: slower, never stuck
            log.warning("session %s: end-of-turn check failed (%s); the %d ms hangover ends this turn",
                        host.id, exc, host.settings.vad_hangover_ms)
            complete = None
        if complete and heard is not None and trails_off(heard, host.config.language):
            complete = False
            host.engines.counters["end_of_turn_trailing_words"] += 1
        log.debug("session %s: pause %d judged complete=%s", host.id, check.pause, complete)
        host.engines.counters[{True: "end_of_turn_complete", False: "end_of_turn_incomplete",
                               None: "end_of_turn_failed"}[complete]] += 1
        if segmenter is not self.segmenter or self._closed:
            return  # the input was rebuilt (session.update) or closed meanwhile
        stopped = segmenter.decide(check.pause, complete)
        if stopped is not None:
            try:
                await self.on_segment(stopped)
            except Exception:  # only sending can fail here: the client is gone
                log.debug("session %s: end of turn after the client left", host.id)

    # --- speculative finalization -----------------------------------------------------------------

    async def _confirm(self, bet: TurnInput) -> None:
        assert bet.decided is not None
        bet.decided.set()
        self.host.engines.counters["speculative_confirmed"] += 1
        if (turn := self.host.running(bet)) is not None:
            await turn.release()

    def _discard(self, bet: TurnInput) -> None:
        """Speech went on: the speculative turn never happened (its output was never sent)."""
        bet.dropped = True
        self.host.engines.counters["speculative_discarded"] += 1
        if bet.decided is not None:
            bet.decided.set()
        if bet.heard is not None and not bet.heard.done():  # an end-of-turn check may wait on it
            bet.heard.set_result("")
        if (turn := self.host.running(bet)) is not None:
            turn.cancel("discarded")

    def _discard_speculation(self) -> None:
        bet, self._speculative = self._speculative, None
        if bet is not None:
            self._discard(bet)

    # --- partial transcripts ----------------------------------------------------------------------

    def _maybe_partial(self) -> None:
        """While the user speaks: a transcript of the speech so far, every so much new speech, if the
        speech model has nothing more urgent to do (the scheduler runs finals first)."""
        host = self.host
        interval = host.settings.stt_partial_interval_ms
        stt = host.engines.stt
        if interval <= 0 or not isinstance(stt, PartialTranscripts) or not self.segmenter.speaking:
            return
        if self._partial_task is not None and not self._partial_task.done():
            return
        if chat_wait_ms(host.engines.chat) > 0:
            return  # a local model is writing someone's reply: it needs the CPU more than a preview does
        voiced = self.segmenter.voiced_ms
        if voiced - self._partial_mark < interval:
            return
        self._partial_mark = voiced
        pcm = self.segmenter.speech_pcm
        self._partial_task = asyncio.create_task(self._partial(stt, pcm, self._utterance_no),
                                                 name=f"{host.id}-partial")

    async def _partial(self, stt: PartialTranscripts, pcm: bytes, utterance_no: int) -> None:
        host = self.host
        language = host.config.language
        try:
            transcript = await stt.partial(pcm, None if language == "auto" else language, host.hotwords(),
                                           host.id)
        except Exception:  # a partial is a courtesy: a failure is logged, never reported as an error
            log.debug("session %s: partial transcript failed", host.id, exc_info=True)
            return
        if transcript is None or utterance_no != self._utterance_no or not self.segmenter.speaking:
            return  # skipped, or the utterance it belonged to is over
        if ignore_reason(transcript) is None:
            try:
                await host.send(events.TranscriptPartial(transcript.text, round(transcript.audio_ms)))
                host.engines.counters["partials_sent"] += 1
            except Exception:  # the client is gone
                return

    def _drop_partial(self) -> None:
        stt = self.host.engines.stt
        if isinstance(stt, PartialTranscripts):
            stt.drop_partial(self.host.id)
