"""The engines a server process loads once and shares with every session."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .bundles import ModelFileError
from .capabilities import Counted, Queued, Reporting
from .cpu import GATE
from .llm import ChatEngine, create_chat
from .metrics import Metrics
from .remote import RemoteSTT, RemoteTTS
from .scheduler import SttScheduler
from .settings import Settings
from .silero_vad import SileroVAD
from .smart_turn import SmartTurn
from .smart_turn import load as load_smart_turn
from .stt import SpeechToText, WhisperSTT
from .tts import FallbackTTS, PiperTTS, create_tts
from .wake import WakeModels, wake_models_for

log = logging.getLogger(__name__)


@dataclass
class Engines:
    """STT, chat and TTS as one bundle, described for logs and `/health`."""

    stt: SpeechToText
    chat: ChatEngine
    tts: FallbackTTS
    turn_end: SmartTurn | None = None  # the end-of-turn model; None: the silence hangover decides
    voice: SileroVAD | None = None  # the Silero voice detector; None: each segmenter runs webrtcvad
    wake: WakeModels | None = None  # the bundled wake words; None: not installed (wake_word refused)
    # What this server's sessions did with them (speculative turns started / confirmed / discarded…).
    counters: Counter[str] = field(default_factory=Counter)
    metrics: Metrics = field(default_factory=Metrics)  # what `/metrics` shows of these sessions' turns

    def __post_init__(self) -> None:
        self.tts.metrics = self.metrics  # sentence synthesis times and fallbacks

    def overloaded(self) -> str | None:
        """Why a new session should be refused now (an engine's queue is too long), or None."""
        for engine in (self.stt, self.chat):
            if isinstance(engine, Queued) and (reason := engine.overloaded()):
                return str(reason)
        return None

    def load(self) -> dict[str, Any]:
        """The speech model's queue and the counters, for `/health` and benchmarks."""
        chat = self.chat
        return {"stt": self.stt.snapshot() if isinstance(self.stt, Reporting) else None,
                "counters": dict(self.counters),
                "chat_wait_ms": round(chat.estimated_wait_ms()) if isinstance(chat, Queued) else None,
                "chat": dict(chat.stats) if isinstance(chat, Counted) else None,
                "cpu_priority": GATE.snapshot()}

    def end_of_turn(self, settings: Settings) -> dict[str, Any]:
        """Which end-of-turn detector is in force, for `ready` and `/health`."""
        if self.turn_end is None:
            return {"detector": "hangover", "hangover_ms": settings.vad_hangover_ms}
        return {"detector": "smart_turn", "check_ms": settings.end_of_turn_check_ms,
                "max_ms": settings.end_of_turn_max_ms, "threshold": self.turn_end.threshold,
                "fallback_hangover_ms": settings.vad_hangover_ms}

    def describe(self) -> dict[str, Any]:
        return {
            "stt": self.stt.description,
            "chat": self.chat.description,
            "tts": self.tts.description,
            "end_of_turn": self.turn_end.description if self.turn_end is not None else "silence hangover",
            "vad": self.voice.description if self.voice is not None else "webrtcvad",
        }


_cache: dict[tuple[Any, ...], Any] = {}
_cache_lock = threading.Lock()


def _shared(key: tuple[Any, ...], build: Any) -> Any:
    """One instance per configuration per process: models are big, and several apps may live in one
    process (tests, or a server that also serves Wyoming)."""
    with _cache_lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


def load_engines(settings: Settings) -> Engines:
    """Load (or reuse) the engines the settings ask for, logging what is used and where it came from."""
    stt: SpeechToText
    if settings.stt_url:
        stt = RemoteSTT(settings)  # no local whisper is loaded for a remote STT
    else:
        whisper = _shared(
            ("stt", settings.stt_model, settings.stt_device, settings.stt_compute_type,
             settings.stt_cpu_threads, settings.stt_workers, settings.stt_beam_size,
             settings.stt_min_context_s, settings.stt_detect_min_probability,
             str(settings.models_dir)),
            lambda: WhisperSTT(settings),
        )  # fmt: skip
        stt = SttScheduler(whisper, settings)  # the model is shared; each server has its own queue
    if settings.openai_api_base_url:
        chat = create_chat(settings)  # a remote client is cheap; its settings may differ per app
    else:
        chat = _shared(
            ("chat", settings.local_model, str(settings.models_dir), settings.local_max_sentences,
             settings.system_prompt, settings.local_context, settings.local_threads,
             settings.chat_admission_wait_ms, settings.chat_max_wait_ms,
             settings.chat_max_tokens, settings.local_temperature, settings.chat_brief_when_busy,
             settings.local_examples),
            lambda: create_chat(settings),
        )  # fmt: skip
    tts = create_tts_shared(settings)
    GATE.enabled = settings.cpu_priority  # one CPU per process: the last app loaded decides
    turn_end = None
    if settings.end_of_turn == "smart_turn":
        turn_end = _shared(("smart_turn", str(settings.models_dir), settings.end_of_turn_threshold),
                           lambda: load_smart_turn(settings.models_dir, settings.end_of_turn_threshold))
    voice = None
    if settings.vad == "silero":
        voice = _shared(("silero", settings.vad_silero_threshold),
                        lambda: SileroVAD(settings.vad_silero_threshold))
    wake = _shared(("wake", str(settings.models_dir), settings.wake_word), lambda: wake_models_for(settings))
    engines = Engines(stt=stt, chat=chat, tts=tts, turn_end=turn_end, voice=voice, wake=wake)
    for role, text in engines.describe().items():
        log.info("%s: %s", role, text)
    return engines


def create_tts_shared(settings: Settings) -> FallbackTTS:
    """The fallback chain is per app (it holds failure state); the Piper voice inside is shared."""
    piper = None
    if settings.tts_engine != "espeak":
        try:
            piper = _shared(("piper", settings.piper_voice), lambda: PiperTTS(settings))
        except ModelFileError:  # an altered bundled voice is refused, never replaced by another one
            raise
        except Exception as exc:  # espeak-ng still speaks
            log.warning("Piper voice unavailable: %s", exc)
    chain = create_tts(settings, piper=piper)
    if settings.tts_url:  # the remote voice first, the local chain behind it
        chain = FallbackTTS([RemoteTTS(settings), *chain.engines], settings.tts_retry_s)
    return chain
