"""Speech segmentation over a voice detector: onset with pre-roll, silence hangover, minimum and maximum
length.

The detector is webrtcvad by default, or Silero VAD (silero_vad.py, `VOICECHAT_VAD=silero`), which tells
speech from steady noise where webrtcvad hears voice all along. The segmenter is fed 16 kHz PCM16 in any
chunk size and returns events. Each frame carries the
monotonic time its chunk arrived, so "end of speech" is the arrival of the last *voiced* audio: the
silence hangover counts towards what the user waits through, which is what latency figures report.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Protocol

import webrtcvad

VAD_RATE = 16000


class VoiceDetector(Protocol):
    """One stream's voiced/unvoiced verdict per fixed-size frame of 16 kHz PCM16."""

    frame_ms: int

    def is_speech(self, frame: bytes) -> bool: ...


class WebrtcDetector:
    """webrtcvad: 2.6 µs per frame, no state worth keeping, but steady noise reads as voice."""

    def __init__(self, aggressiveness: int, frame_ms: int) -> None:
        self.frame_ms = frame_ms
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: bytes) -> bool:
        return self._vad.is_speech(frame, VAD_RATE)


@dataclass
class Utterance:
    """One segmented stretch of speech, ready for transcription."""

    pcm: bytes
    start_ms: float
    end_ms: float
    voiced_ms: float
    last_voiced_at: float  # monotonic arrival time of the last voiced frame
    forced: bool = False  # cut at the maximum utterance length, not by silence

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) / 2 / VAD_RATE * 1000.0


@dataclass
class SpeechStarted:
    at_ms: float
    # Speech went on within `patience_ms` after the end-of-turn model ended the utterance: the new one
    # continues it (its audio starts with the ended one's), and the turn started on the ended one is void.
    resumed: bool = False


@dataclass
class SpeechStopped:
    at_ms: float
    utterance: Utterance | None  # None when the speech was too short to count
    reason: str = "silence"


@dataclass
class SpeechPaused:
    """A short silence: if no speech follows before the hangover ends, `utterance` is the final one."""

    at_ms: float
    utterance: Utterance


@dataclass
class SpeechResumed:
    """Speech went on after a `SpeechPaused`: the bet on that utterance is off."""

    at_ms: float


@dataclass
class EndCheck:
    """Silence reached `check_ms`: an end-of-turn model should judge `pcm` and answer `Segmenter.decide`.

    Until it answers (or says "incomplete") the utterance waits up to `patience_ms` of silence, not the
    hangover; a failed check falls back to the hangover.
    """

    at_ms: float
    pcm: bytes  # the utterance so far, this pause included: the model hears how the speech stopped
    pause: int  # which pause: an answer about an earlier one is ignored


SegmentEvent = SpeechStarted | SpeechStopped | SpeechPaused | SpeechResumed | EndCheck


@dataclass
class SegmenterConfig:
    aggressiveness: int = 2
    frame_ms: int = 30
    onset_ms: int = 90
    preroll_ms: int = 300
    hangover_ms: int = 600
    min_speech_ms: int = 250
    max_utterance_s: float = 30.0
    tail_ms: int = 150  # silence kept after the last voiced frame; whisper ends words cleaner with it
    speculate_ms: int = 0  # silence that announces a pause (speculative finalization); 0 = never
    check_ms: int = 0  # silence after which an end-of-turn model is asked (EndCheck); 0 = hangover only
    patience_ms: int = 2500  # longest silence while the model says "incomplete" (or has not answered)

    @property
    def kept_tail_ms(self) -> int:
        """The tail an utterance keeps; no longer than the pause, so a paused and a final cut match."""
        return min(self.tail_ms, self.speculate_ms) if self.speculating else self.tail_ms

    @property
    def speculating(self) -> bool:
        return 0 < self.speculate_ms < self.hangover_ms


@dataclass
class _Frame:
    pcm: bytes
    voiced: bool
    arrived: float


@dataclass
class _Ended:
    """An utterance the end-of-turn model ended, and every frame heard since: resumed speech continues it."""

    frames: list[_Frame]
    start_position: int
    silent_frames: int  # since its last voiced frame


@dataclass
class Segmenter:
    """Turns a PCM stream into speech started / stopped events.

    In `hold` mode (push-to-talk) silence never ends the utterance: everything since the last
    `commit()` is the utterance, and onsets are still reported so a reply can be interrupted.
    """

    config: SegmenterConfig = field(default_factory=SegmenterConfig)
    hold: bool = False
    detector: VoiceDetector | None = None  # None: webrtcvad at the config's aggressiveness and frame length

    def __post_init__(self) -> None:
        if self.detector is None:
            self.detector = WebrtcDetector(self.config.aggressiveness, self.config.frame_ms)
        elif self.detector.frame_ms != self.config.frame_ms:  # the detector's frame is the segmenter's step
            self.config = replace(self.config, frame_ms=self.detector.frame_ms)
        self._detector = self.detector
        cfg = self.config
        self._frame_bytes = VAD_RATE * cfg.frame_ms // 1000 * 2
        self._onset_frames = max(1, -(-cfg.onset_ms // cfg.frame_ms))
        self._window: deque[bool] = deque(maxlen=self._onset_frames * 2)
        preroll_frames = max(self._onset_frames * 2, cfg.preroll_ms // cfg.frame_ms)
        self._preroll: deque[_Frame] = deque(maxlen=preroll_frames)
        self._pending = b""
        self._position = 0  # frames seen since creation
        self._pause = 0  # end-of-turn checks asked so far
        self._ended: _Ended | None = None  # an utterance the model ended, while speech may still resume it
        self._reset_speech()

    def _reset_speech(self) -> None:
        self.speaking = False
        self._frames: list[_Frame] = []
        self._context_from = 0  # first frame an end-of-turn check hears
        self._start_position = self._position
        self._last_voiced_index = -1
        self._voiced_frames = 0
        self._silent_run = 0
        self._last_voiced_at = 0.0
        self._paused = False
        self._verdict: str | None = None  # this pause's check: None (not asked), pending, incomplete, failed

    @property
    def position_ms(self) -> float:
        return self._position * self.config.frame_ms

    @property
    def speech_pcm(self) -> bytes:
        """The utterance so far (pre-roll included), for a partial transcript."""
        return b"".join(f.pcm for f in self._frames) if self.speaking else b""

    @property
    def speech_end_ms(self) -> float | None:
        """End of the last voiced audio of the utterance in progress; None when there is none."""
        return self._end_ms() if self.speaking and self._last_voiced_index >= 0 else None

    @property
    def voiced_ms(self) -> float:
        return self._voiced_frames * self.config.frame_ms

    def feed(self, pcm: bytes, arrived: float) -> list[SegmentEvent]:
        """Add 16 kHz PCM16 audio that arrived at monotonic time `arrived`."""
        data = self._pending + pcm
        usable = len(data) - len(data) % self._frame_bytes
        self._pending = data[usable:]
        events: list[SegmentEvent] = []
        for offset in range(0, usable, self._frame_bytes):
            chunk = data[offset : offset + self._frame_bytes]
            frame = _Frame(chunk, self._detector.is_speech(chunk), arrived)
            self._position += 1
            event = self._step(frame)
            if event is not None:
                events.append(event)
        return events

    def _step(self, frame: _Frame) -> SegmentEvent | None:
        cfg = self.config
        if not self.speaking:
            self._window.append(frame.voiced)
            if self.hold:
                self._frames.append(frame)
                self._note(frame, len(self._frames) - 1)
                if self._too_long():
                    return self._finish("max_length")
            else:
                self._preroll.append(frame)
                self._keep_ended(frame)
            if sum(self._window) >= self._onset_frames:
                self.speaking = True
                self._window.clear()
                onset = self._position - self._onset_frames * 2
                if not self.hold and self._ended is not None:
                    return self._resume(onset)
                if not self.hold:
                    self._frames = list(self._preroll)
                    self._preroll.clear()
                    self._start_position = self._position - len(self._frames)
                    self._voiced_frames = 0
                    for index, old in enumerate(self._frames):
                        self._note(old, index)
                return SpeechStarted(at_ms=max(onset, self._start_position) * cfg.frame_ms)
            return None
        self._frames.append(frame)
        self._note(frame, len(self._frames) - 1)
        if self._too_long():
            return self._finish("max_length")
        if frame.voiced and self._verdict is not None:
            # Speech went on after a judged pause: the next check hears from shortly before it resumed. With
            # the long pause inside its window the model calls even a finished sentence unfinished (measured:
            # 0.16 against 0.99 for the same ending alone; bench/turn_end.py).
            self._verdict = None
            lead = self.config.preroll_ms // self.config.frame_ms
            self._context_from = max(0, len(self._frames) - 1 - lead)
        if not self.hold and self._silent_run * cfg.frame_ms >= self._silence_limit_ms():
            return self._finish("silence")
        if self._wants_check():
            self._verdict = "pending"
            self._pause += 1
            heard = b"".join(f.pcm for f in self._frames[self._context_from :])
            return EndCheck(at_ms=self._end_ms(), pcm=heard, pause=self._pause)
        if self.hold or not cfg.speculating:
            return None
        if frame.voiced and self._paused:
            self._paused = False
            return SpeechResumed(at_ms=self.position_ms)
        if not self._paused and self._silent_run * cfg.frame_ms >= cfg.speculate_ms:
            utterance = self._utterance("silence")
            if utterance is not None:
                self._paused = True
                return SpeechPaused(at_ms=utterance.end_ms, utterance=utterance)
        return None

    def _keep_ended(self, frame: _Frame) -> None:
        """While an utterance the model ended may still resume: keep this frame for it, until the silence
        since its last voiced frame reaches `patience_ms` (the longest pause an "incomplete" waits out)."""
        ended = self._ended
        if ended is None:
            return
        ended.frames.append(frame)
        ended.silent_frames = 0 if frame.voiced else ended.silent_frames + 1
        if ended.silent_frames * self.config.frame_ms >= max(self.config.patience_ms, self.config.check_ms):
            self._ended = None

    def _resume(self, onset: int) -> SpeechStarted:
        """Speech within the pause after a model-ended utterance: the utterance goes on, pause included."""
        ended, self._ended = self._ended, None
        assert ended is not None
        self._frames = ended.frames
        self._start_position = ended.start_position
        self._voiced_frames = 0
        for index, old in enumerate(self._frames):
            self._note(old, index)
        # The next check hears from just before the speech resumed, as after a judged pause (see _step).
        self._context_from = max(0, len(self._frames) - len(self._preroll))
        self._preroll.clear()
        return SpeechStarted(at_ms=max(onset, self._start_position) * self.config.frame_ms, resumed=True)

    def seal(self) -> None:
        """The utterance the model ended is final now (its reply is being heard): speech starts a new one."""
        self._ended = None

    def _checking(self) -> bool:
        """An end-of-turn model judges this utterance (it is long enough to count)."""
        cfg = self.config
        return cfg.check_ms > 0 and not self.hold and self._voiced_frames * cfg.frame_ms >= cfg.min_speech_ms

    def _silence_limit_ms(self) -> int:
        cfg = self.config
        if not self._checking() or self._verdict == "failed":
            return cfg.hangover_ms
        return max(cfg.patience_ms, cfg.check_ms)

    def _wants_check(self) -> bool:
        return self._checking() and self._verdict is None \
            and self._silent_run * self.config.frame_ms >= self.config.check_ms

    def decide(self, pause: int, complete: bool | None) -> SpeechStopped | None:
        """The model's answer to `EndCheck` number `pause`: True ends the utterance now; False keeps
        listening up to `patience_ms`; None (the check failed) falls back to the hangover."""
        if not self.speaking or pause != self._pause or self._verdict != "pending":
            return None  # speech went on, or the utterance already ended: the answer is stale
        if complete:
            return self._finish("end_of_turn")
        self._verdict = "incomplete" if complete is False else "failed"
        if self._silent_run * self.config.frame_ms >= self._silence_limit_ms():
            return self._finish("silence")
        return None

    def _too_long(self) -> bool:
        return len(self._frames) * self.config.frame_ms >= self.config.max_utterance_s * 1000

    def _note(self, frame: _Frame, index: int) -> None:
        if frame.voiced:
            self._voiced_frames += 1
            self._last_voiced_index = index
            self._last_voiced_at = frame.arrived
            self._silent_run = 0
        else:
            self._silent_run += 1

    def _end_ms(self) -> float:
        return (self._start_position + self._last_voiced_index + 1) * self.config.frame_ms

    def _utterance(self, reason: str) -> Utterance | None:
        """The speech so far as an utterance, or None when it is too short to count."""
        cfg = self.config
        tail = cfg.kept_tail_ms // cfg.frame_ms
        keep = self._frames if reason == "max_length" else self._frames[: self._last_voiced_index + 1 + tail]
        voiced_ms = self._voiced_frames * cfg.frame_ms
        if not keep or voiced_ms < cfg.min_speech_ms:
            return None
        return Utterance(
            pcm=b"".join(f.pcm for f in keep),
            start_ms=self._start_position * cfg.frame_ms,
            end_ms=self._end_ms(),
            voiced_ms=voiced_ms,
            last_voiced_at=self._last_voiced_at,
            forced=reason == "max_length",
        )

    def _finish(self, reason: str) -> SpeechStopped:
        utterance = self._utterance(reason)
        at_ms = self._end_ms()
        resumable = reason == "end_of_turn" and utterance is not None
        ended = _Ended(self._frames, self._start_position, self._silent_run) if resumable else None
        self._reset_speech()
        self._ended = ended
        return SpeechStopped(at_ms=at_ms, utterance=utterance, reason=reason)

    def commit(self) -> SpeechStopped | None:
        """End the current utterance now (push-to-talk release, or end of input in VAD mode).

        Returns None when there was nothing that could hold speech.
        """
        self._ended = None
        if not self.speaking and not (self.hold and self._frames):
            self._preroll.clear()
            self._window.clear()
            return None
        self._window.clear()
        return self._finish("commit")

    def clear(self) -> None:
        """Drop buffered audio without producing an utterance."""
        self._pending = b""
        self._preroll.clear()
        self._window.clear()
        self._ended = None
        self._reset_speech()
