"""Speech to text with faster-whisper: one model per process, shared by all sessions, run off the loop.

Whisper always encodes a 30 s window, padding short audio with silence; on a CPU that padding is most of
the cost of a 2 s utterance. Utterances up to 30 s take a shorter window instead (at least
`stt_min_context_s`, 10 s by default): on the bundled base model that is about 4x faster with the same word
error rate (measured in docs/benchmarks.md). A decode that looks wrong for the short window (it ran out of
its token budget, or loops on a phrase, the known failure of short windows) is redone on the full window.
Language detection (`language=auto`) runs on the same short-window encoding, one decoder step before the
transcript is decoded in the language found: on the bundled base model it picks the same languages as the
full 30 s window on our English and Chinese set, for a fraction of the cost (bench/language.py). When it is
unsure (below `stt_detect_min_probability`), detection and decode are redone on the full window.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import unicodedata
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    language_probability: float | None = None  # whisper's confidence when it detected the language
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


class Abandoned(Exception):
    """Nobody waits for this transcription any more (a wrong guess, a stale partial): it stopped early."""


class SpeechToText(Protocol):
    """What a session needs from an STT engine."""

    description: str
    multilingual: bool

    async def transcribe(
        self, pcm16: bytes, language: str | None, hotwords: str | None = None, *, timestamps: bool = False
    ) -> Transcript: ...


FULL_WINDOW_FRAMES = 3000  # whisper's 30 s window, in 10 ms feature frames
_LOOP = re.compile(r"(.{12,}?)[\s,.]*\1|\b(\w+)(\W+\2\b){3,}")  # a phrase said twice, a word 4 times


def looks_looped(text: str) -> bool:
    """The signature of a decoder stuck in a loop: a repeated phrase, or text that compresses too well."""
    raw = text.encode()
    ratio = len(raw) / max(1, len(zlib.compress(raw)))
    return bool(_LOOP.search(text)) or (len(raw) > 40 and ratio > 2.2)


class WhisperSTT:
    """faster-whisper behind a small thread pool so the event loop never waits on the model."""

    def __init__(self, settings: Settings) -> None:
        from faster_whisper import WhisperModel

        self.source: ModelSource = resolve_whisper(settings.stt_model, settings.models_dir)
        self.beam_size = settings.stt_beam_size
        self.min_context_frames = round(min(30.0, max(1.0, settings.stt_min_context_s)) * 100)
        self.detect_min_probability = settings.stt_detect_min_probability
        self._tokenizers: dict[str, object] = {}
        self._tokenizers_lock = threading.Lock()
        self.short_window_runs = 0
        self.short_window_redone = 0  # decodes the short window got wrong, redone on the full one
        started = time.perf_counter()
        choices = _device_choices(settings.stt_device, settings.stt_compute_type)
        for device, compute_type in choices:
            try:
                self.model = WhisperModel(
                    self.source.path,
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=settings.stt_cpu_threads,
                    num_workers=max(1, settings.stt_workers),
                )
                self.device, self.compute_type = device, compute_type
                self.multilingual = self.model.model.is_multilingual
                # CUDA libraries (cuBLAS, cuDNN) load at the first decode: fail here, not at a user's first
                # words. The first decode is also the slowest; nobody waits on this one.
                self.transcribe_sync(bytes(32000), "en")
                break
            except Exception as exc:
                if (device, compute_type) == choices[-1]:  # nowhere left to fall back to
                    if device == "cuda":
                        raise RuntimeError(
                            f"whisper cannot run on CUDA here: {exc}. Install the CUDA 12 cuBLAS and cuDNN 9 "
                            "libraries, or set VOICECHAT_STT_DEVICE=cpu (or auto)."
                        ) from exc
                    raise
                log.warning("whisper on %s/%s failed (%s); using the CPU instead", device, compute_type, exc)
        self.short_window_runs = self.short_window_redone = 0  # the warm-up is not a user's decode
        self.load_ms = (time.perf_counter() - started) * 1000
        self._pool = ThreadPoolExecutor(max_workers=max(1, settings.stt_workers), thread_name_prefix="stt")
        self.description = (
            f"faster-whisper {settings.stt_model} ({self.device}/{self.compute_type}) "
            f"from {self.source.origin}"
        )

    def transcribe_sync(
        self, pcm16: bytes, language: str | None, hotwords: str | None = None, timestamps: bool = False,
        wanted: Callable[[], bool] | None = None,
    ) -> Transcript:
        """Transcribe 16 kHz mono PCM16. `language=None` or `auto` lets whisper detect it.

        `hotwords` nudges the decoder towards words it would otherwise mishear ("upscale").
        `timestamps` asks for real segment times (subtitles); conversation turns skip them (faster).
        `wanted`: see `transcribe_batch_sync`.
        """
        audio = pcm16_to_float(pcm16)
        language = self.resolve_language(language)
        if not timestamps:
            short = self.transcribe_batch_sync([audio], language, hotwords, wanted)
            if short is not None:
                return short[0]
        return self._transcribe_full(audio, language, hotwords, timestamps)

    def _transcribe_full(
        self, audio: np.ndarray, language: str | None, hotwords: str | None, timestamps: bool
    ) -> Transcript:
        started = time.perf_counter()
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
            language_probability=None if language else float(info.language_probability),
            no_speech_prob=no_speech,
            avg_logprob=logprob,
            audio_ms=len(audio) / 16.0,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            segments=[{"start": s.start, "end": s.end, "text": s.text.strip(), "avg_logprob": s.avg_logprob,
                       "no_speech_prob": s.no_speech_prob} for s in parts],
        )

    def resolve_language(self, language: str | None) -> str | None:
        """The language to decode in: None means detect it (multilingual models only)."""
        if not self.multilingual:
            return "en"
        return None if language in (None, "", "auto") else language

    def _tokenizer(self, language: str) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        with self._tokenizers_lock:
            if language not in self._tokenizers:
                self._tokenizers[language] = Tokenizer(
                    self.model.hf_tokenizer, self.multilingual, task="transcribe", language=language
                )
            return self._tokenizers[language]

    def transcribe_batch_sync(
        self, audios: list[np.ndarray], language: str | None, hotwords: str | None,
        wanted: Callable[[], bool] | None = None,
    ) -> list[Transcript] | None:
        """Several utterances (16 kHz float) in one short-window pass; None when they need the full window.

        One encoder and decoder call for the batch: on a GPU that is much cheaper than one call each; on
        a CPU the decoder gains a little. Each result that looks wrong is redone alone on the full window.
        `language=None`: each utterance's language is detected on the same encoding first.
        `wanted`, asked before the encoder and again before the decoder: False raises `Abandoned`. A
        CTranslate2 call cannot be stopped once begun, so these two points are where a transcription
        nobody waits for any more (a guess speech went on after) gives the model back to the next one.
        """
        if wanted is not None and not wanted():
            raise Abandoned
        if self.min_context_frames >= FULL_WINDOW_FRAMES:
            return None
        from faster_whisper.transcribe import get_ctranslate2_storage, get_suppressed_tokens, pad_or_trim

        started = time.perf_counter()
        features = [self.model.feature_extractor(a)[..., :-1] for a in audios]
        longest = max(f.shape[-1] for f in features)
        if longest + 100 > FULL_WINDOW_FRAMES:
            return None
        window = min(FULL_WINDOW_FRAMES, -(-max(self.min_context_frames, longest + 100) // 100) * 100)
        batch = np.stack([pad_or_trim(f, window) for f in features])
        encoded = self.model.model.encode(get_ctranslate2_storage(batch))
        if wanted is not None and not wanted():
            raise Abandoned
        detected: list[tuple[str, float | None]] = [(language, None)] * len(audios)
        if language is None:  # each: [("<|zh|>", 0.99), …], most likely first
            found = self.model.model.detect_language(encoded)
            detected = [(str(ranked[0][0])[2:-2], float(ranked[0][1])) for ranked in found]
        tokenizers = [self._tokenizer(code) for code, _ in detected]
        prompts = [self.model.get_prompt(t, [], without_timestamps=True, hotwords=hotwords)
                   for t in tokenizers]
        tokenizer = tokenizers[0]  # the tokens suppressed and the end token do not depend on the language
        budgets = [int(20 + 12 * f.shape[-1] / 100) for f in features]  # tokens: ~3x fast speech
        results = self.model.model.generate(
            encoded,
            prompts,
            beam_size=self.beam_size,
            max_length=min(self.model.max_length, max(map(len, prompts)) + max(budgets)),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=list(get_suppressed_tokens(tokenizer, (-1,))),
        )
        elapsed = (time.perf_counter() - started) * 1000
        transcripts: list[Transcript] = []
        for audio, budget, result, (code, probability) in zip(
            audios, budgets, results, detected, strict=True
        ):
            tokens = result.sequences_ids[0]
            text = tokenizer.decode([t for t in tokens if t < tokenizer.eot]).strip()
            self.short_window_runs += 1
            if probability is not None and probability < self.detect_min_probability:
                self.short_window_redone += 1  # unsure of the language: the full window hears it better
                log.info("language %s detected at only %.2f: redone on the full window", code, probability)
                transcripts.append(self._transcribe_full(audio, None, hotwords, False))
                continue
            if len(tokens) >= budget or looks_looped(text):
                self.short_window_redone += 1
                log.info("short-window decode redone on the full window: %r", text[:80])
                transcripts.append(self._transcribe_full(audio, code, hotwords, False))
                transcripts[-1].language_probability = probability
                continue
            transcripts.append(Transcript(
                text=text,
                language=code,
                language_probability=probability,
                no_speech_prob=float(result.no_speech_prob),
                avg_logprob=float(result.scores[0]) * len(tokens) / (len(tokens) + 1),
                audio_ms=len(audio) / 16.0,
                elapsed_ms=elapsed,
                segments=[{"start": 0.0, "end": len(audio) / 16000, "text": text,
                           "avg_logprob": float(result.scores[0]), "no_speech_prob": result.no_speech_prob}],
            ))  # fmt: skip
        return transcripts

    async def transcribe(
        self, pcm16: bytes, language: str | None, hotwords: str | None = None, *, timestamps: bool = False
    ) -> Transcript:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, self.transcribe_sync, pcm16, language, hotwords, timestamps
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _device_choices(device: str, compute_type: str) -> list[tuple[str, str]]:
    """Where to try loading whisper, in order. `auto`: CUDA with float16 when a GPU is seen, then the CPU
    with int8 (a GPU whose CUDA libraries are missing must not stop a server that can run on its CPU)."""
    if device == "auto":
        try:
            import ctranslate2

            found = ctranslate2.get_cuda_device_count() > 0
        except Exception:  # a broken CUDA install must not stop a CPU server
            found = False
        devices = ["cuda", "cpu"] if found else ["cpu"]
    else:
        devices = [device]
    return [(d, compute_type if compute_type != "auto" else "float16" if d == "cuda" else "int8")
            for d in devices]
