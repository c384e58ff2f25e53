"""PCM helpers: int16 conversions, streaming resampling, WAV in and out."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np
import soxr

SUPPORTED_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


@dataclass(frozen=True)
class AudioFormat:
    """A PCM stream's shape as announced on the wire."""

    rate: int
    format: str = "pcm16"
    channels: int = 1

    def to_dict(self) -> dict[str, object]:
        return {"format": self.format, "rate": self.rate, "channels": self.channels}


def pcm16_to_float(pcm: bytes | np.ndarray) -> np.ndarray:
    """PCM16LE bytes (or int16 samples) to float32 in [-1, 1)."""
    samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, bytes | bytearray | memoryview) else pcm
    return samples.astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 samples to PCM16LE bytes, clipped."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class StreamResampler:
    """Resamples a PCM16 stream chunk by chunk without clicks at chunk borders."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16")
        )

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        if self._stream is None:
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2")
        return self._stream.resample_chunk(samples, last=last).astype("<i2").tobytes()


def resample_pcm16(pcm: bytes, in_rate: int, out_rate: int) -> bytes:
    """Resample a whole PCM16 buffer."""
    if in_rate == out_rate or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2")
    return soxr.resample(samples, in_rate, out_rate).astype("<i2").tobytes()


def read_wav(data: bytes | str) -> tuple[bytes, int]:
    """Read a 16-bit PCM WAV (path or bytes) as mono PCM16LE and its rate; stereo is mixed down."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with wave.open(source, "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError("only 16-bit PCM WAV files are supported")
        rate, channels = wav.getframerate(), wav.getnchannels()
        frames = wav.readframes(wav.getnframes())
    if channels > 1:
        samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(np.int32)
        frames = samples.mean(axis=1).astype("<i2").tobytes()
    return frames, rate


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    """Wrap mono PCM16LE in a WAV container."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


def duration_ms(pcm_len: int, rate: int) -> float:
    """Milliseconds of mono PCM16 audio in `pcm_len` bytes."""
    return pcm_len / 2 / rate * 1000.0


def rms_dbfs(pcm: bytes) -> float:
    """Loudness of PCM16 audio in dBFS (-inf for digital silence)."""
    samples = pcm16_to_float(pcm)
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return 20 * np.log10(rms) if rms > 0 else float("-inf")
