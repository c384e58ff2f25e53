"""Speech to text with faster-whisper: one model per process, shared by all sessions, run off the loop."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .audio import pcm16_to_float
from .models import ModelSource, resolve_whisper
from .settings import Settings

log = logging.getLogger(__name__)

# What whisper writes when it hears silence or noise: trained on subtitles, it fills quiet with their
# boilerplate. Matched after normalisation (lower case, no punctuation).
_ALWAYS_HALLUCINATED = (
    "subtitles by the amara org community",
    "thanks for watching",
    "thank you for watching",
    "please subscribe",
    "like and subscribe",
    "transcription by castingwords",
    "字幕由amaraorg社区提供",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "字幕byソフトシンク",
    "ご視聴ありがとうございました",
    "sous titrage st 501",
    "untertitel im auftrag des zdf",
)
# Short courtesy words whisper also invents from noise; a person may really say them, so they are
# dropped only when whisper itself is unsure there was speech.
_SUSPECT_SHORT = ("thank you", "thanks", "you", "bye", "okay", "so", "hmm", "uh", "um", "谢谢", "谢谢观看")


@dataclass
class Transcript:
    """What was said, with whisper's own confidence figures."""

    text: str
    language: str
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    audio_ms: float = 0.0
    elapsed_ms: float = 0.0
    segments: list[dict[str, float | str]] = field(default_factory=list)


def normalise(text: str) -> str:
    """Lower case, punctuation and spacing removed: for comparing transcripts with known phrases."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return re.sub(r"\s+", " ", text).strip()


def ignore_reason(transcript: Transcript) -> str | None:
    """Why a transcript must not start a turn, or None when it should."""
    norm = normalise(transcript.text)
    if not norm:
        return "empty"
    squashed = norm.replace(" ", "")
    if any(squashed == p.replace(" ", "") or norm.startswith(p) for p in _ALWAYS_HALLUCINATED):
        return "hallucination"
    unsure = transcript.no_speech_prob > 0.3 or transcript.avg_logprob < -0.8
    if norm in _SUSPECT_SHORT and unsure:
        return "hallucination"
    if transcript.no_speech_prob > 0.8 and transcript.avg_logprob < -0.5:
        return "no_speech"
    return None


class SpeechToText(Protocol):
    """What a session needs from an STT engine."""

    description: str

    async def transcribe(
        self, pcm16: bytes, language: str | None, hotwords: str | None = None
    ) -> Transcript: ...


class WhisperSTT:
    """faster-whisper behind a small thread pool so the event loop never waits on the model."""

    def __init__(self, settings: Settings) -> None:
        from faster_whisper import WhisperModel

        self.source: ModelSource = resolve_whisper(settings.stt_model, settings.models_dir)
        self.device, self.compute_type = _pick_device(settings.stt_device, settings.stt_compute_type)
        started = time.perf_counter()
        self.model = WhisperModel(
            self.source.path,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=settings.stt_cpu_threads,
            num_workers=max(1, settings.stt_workers),
        )
        self.load_ms = (time.perf_counter() - started) * 1000
        self.beam_size = settings.stt_beam_size
        self.multilingual = self.model.model.is_multilingual
        self._pool = ThreadPoolExecutor(max_workers=max(1, settings.stt_workers), thread_name_prefix="stt")
        self.description = (
            f"faster-whisper {settings.stt_model} ({self.device}/{self.compute_type}) "
            f"from {self.source.origin}"
        )

    def transcribe_sync(
        self, pcm16: bytes, language: str | None, hotwords: str | None = None, timestamps: bool = False
    ) -> Transcript:
        """Transcribe 16 kHz mono PCM16. `language=None` or `auto` lets whisper detect it.

        `hotwords` nudges the decoder towards words it would otherwise mishear ("upscale").
        `timestamps` asks for real segment times (subtitles); conversation turns skip them (faster).
        """
        started = time.perf_counter()
        audio = pcm16_to_float(pcm16)
        if language in (None, "", "auto") or not self.multilingual:
            language = None if self.multilingual else "en"
        segments, info = self.model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            condition_on_previous_text=False,
            without_timestamps=not timestamps,
            vad_filter=False,
            hotwords=hotwords or None,
        )
        parts = list(segments)
        text = " ".join(s.text.strip() for s in parts).strip()
        weights = np.array([max(1e-3, s.end - s.start) for s in parts]) if parts else np.ones(1)
        no_speech = float(np.average([s.no_speech_prob for s in parts], weights=weights)) if parts else 1.0
        logprob = float(np.average([s.avg_logprob for s in parts], weights=weights)) if parts else -10.0
        return Transcript(
            text=text,
            language=info.language,
            no_speech_prob=no_speech,
            avg_logprob=logprob,
            audio_ms=len(audio) / 16.0,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            segments=[{"start": s.start, "end": s.end, "text": s.text.strip(), "avg_logprob": s.avg_logprob,
                       "no_speech_prob": s.no_speech_prob} for s in parts],
        )

    async def transcribe(
        self, pcm16: bytes, language: str | None, hotwords: str | None = None, *, timestamps: bool = False
    ) -> Transcript:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, self.transcribe_sync, pcm16, language, hotwords, timestamps
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _pick_device(device: str, compute_type: str) -> tuple[str, str]:
    """`auto` means CUDA with float16 when a GPU is usable, else CPU with int8."""
    if device == "auto":
        try:
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        except Exception:  # a broken CUDA install must not stop a CPU server
            device = "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type
