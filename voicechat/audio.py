"""PCM helpers: int16 conversions, streaming resampling, WAV in and out, real-time pacing."""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import Callable

import numpy as np
import soxr

SUPPORTED_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def pcm16_to_float(pcm: bytes | np.ndarray) -> np.ndarray:
    """PCM16LE bytes (or int16 samples) to float32 in [-1, 1)."""
    samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, bytes | bytearray | memoryview) else pcm
    return samples.astype(np.float32) / 32768.0


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


# G.711 (telephony) -- the OpenAI Realtime formats `g711_ulaw` / `g711_alaw` (`audio/pcmu`, `audio/pcma`).

def _ulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign, exponent, mantissa = codes & 0x80, (codes >> 4) & 0x07, codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign, exponent, mantissa = codes & 0x80, (codes >> 4) & 0x07, codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


_ULAW_DECODE = _ulaw_table()
_ALAW_DECODE = _alaw_table()
# Encoding by nearest decoded value: exact for every code point and simple to trust.
_ULAW_ORDER = np.argsort(_ULAW_DECODE)
_ALAW_ORDER = np.argsort(_ALAW_DECODE)


def g711_decode(data: bytes, law: str) -> bytes:
    """G.711 bytes (`ulaw` or `alaw`) to PCM16LE at the same rate (8 kHz)."""
    table = _ULAW_DECODE if law == "ulaw" else _ALAW_DECODE
    return table[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def g711_encode(pcm: bytes, law: str) -> bytes:
    """PCM16LE to G.711 bytes (`ulaw` or `alaw`)."""
    table, order = (_ULAW_DECODE, _ULAW_ORDER) if law == "ulaw" else (_ALAW_DECODE, _ALAW_ORDER)
    samples = np.frombuffer(pcm, dtype="<i2")
    sorted_values = table[order]
    index = np.clip(np.searchsorted(sorted_values, samples), 1, 255)
    lower, upper = sorted_values[index - 1], sorted_values[index]
    nearest = np.where(np.abs(samples - lower) <= np.abs(upper - samples), index - 1, index)
    return order[nearest].astype(np.uint8).tobytes()


class Pacer:
    """Real-time pace for PCM16 mono at `rate`, on a fixed schedule from `start` so sends never drift.

    `await wait(n)` returns once the audio counted so far plus `n` bytes would have been spoken: call it
    after sending a chunk (a file streamed at real time) or before (a microphone delivering it).
    """

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.bytes_per_s = rate * 2
        self.clock = clock
        self.restart()

    def restart(self) -> None:
        self.start, self.sent = self.clock(), 0

    @property
    def position_s(self) -> float:
        return self.sent / self.bytes_per_s

    async def wait(self, nbytes: int) -> None:
        self.sent += nbytes
        delay = self.start + self.sent / self.bytes_per_s - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)
