"""Audio containers and codecs beyond plain WAV, through PyAV (FFmpeg libraries shipped in the wheel).

PyAV comes with faster-whisper, so decoding uploads (mp3, ogg, flac, webm, float WAV, …), encoding mp3
(libmp3lame is in the wheel) and tempo changes need no system library.
"""

from __future__ import annotations

import io
import struct
from fractions import Fraction

import numpy as np

from .audio import read_wav, resample_pcm16


class UndecodableAudio(ValueError):
    """The bytes are not audio any decoder here understands."""


def decode_audio(data: bytes, rate: int = 16000) -> bytes:
    """Any audio file to mono PCM16LE at `rate`. 16-bit WAV takes the fast path (no FFmpeg)."""
    if data[:4] == b"RIFF":
        try:
            pcm, source_rate = read_wav(data)
            return resample_pcm16(pcm, source_rate, rate)
        except Exception:  # float or 24-bit WAV, odd headers: FFmpeg reads those
            pass
    import av

    parts: list[bytes] = []
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.audio:
                raise UndecodableAudio("the file holds no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            for frame in container.decode(container.streams.audio[0]):
                parts.extend(f.to_ndarray().tobytes() for f in resampler.resample(frame))
            parts.extend(f.to_ndarray().tobytes() for f in resampler.resample(None))
    except UndecodableAudio:
        raise
    except Exception as exc:  # FFmpeg's errors are ValueError/OSError subclasses, and a few others
        raise UndecodableAudio(f"cannot decode the audio: {exc}") from exc
    return b"".join(parts)


def _frame(pcm: bytes, rate: int):  # type: ignore[no-untyped-def]
    import av

    samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = rate
    frame.pts = 0
    frame.time_base = Fraction(1, rate)
    return frame


def encode_mp3(pcm: bytes, rate: int, bitrate: int = 64000) -> bytes:
    """Mono PCM16LE to an MP3 file (libmp3lame inside PyAV)."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = bitrate
        if pcm:
            for packet in stream.encode(_frame(pcm, rate)):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def change_tempo(pcm: bytes, rate: int, speed: float) -> bytes:
    """Speak faster or slower without changing the pitch (FFmpeg's atempo; 0.25-4.0)."""
    if abs(speed - 1.0) < 1e-3 or not pcm:
        return pcm
    import av

    # One atempo stage is only exact within 0.5-2.0, so larger changes are split in equal stages.
    stages = 1 if 0.5 <= speed <= 2.0 else 2
    graph = av.filter.Graph()
    source = graph.add_abuffer(format="s16", sample_rate=rate, layout="mono", time_base=Fraction(1, rate))
    node = source
    for _ in range(stages):
        stage = graph.add("atempo", f"{speed ** (1 / stages):.6f}")
        node.link_to(stage)
        node = stage
    node.link_to(graph.add("abuffersink"))
    graph.configure()
    source.push(_frame(pcm, rate))
    source.push(None)
    out: list[bytes] = []
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            break
        out.append(frame.to_ndarray().tobytes())
    return b"".join(out)


class WavStreamParser:
    """Reads PCM16 out of a WAV byte stream as it arrives (remote TTS answers are streamed).

    Streamed WAVs often carry placeholder sizes, so only the `fmt ` chunk is trusted and everything
    after the `data` chunk header is audio. Raw PCM (no RIFF header) is taken as `fallback_rate` mono.
    """

    def __init__(self, fallback_rate: int = 24000) -> None:
        self.rate: int | None = None
        self.channels = 1
        self._head = bytearray()
        self._in_data = False
        self._carry = b""
        self._fallback_rate = fallback_rate

    def feed(self, data: bytes) -> bytes:
        """Bytes in, whole mono PCM16 samples out (possibly none yet)."""
        if not self._in_data:
            self._head += data
            if len(self._head) < 12:
                return b""
            if self._head[:4] != b"RIFF":
                self.rate, self._in_data = self._fallback_rate, True
                data, self._head = bytes(self._head), bytearray()
            else:
                data = self._parse_header()
                if not self._in_data:
                    return b""
        data = self._carry + data
        frame = 2 * self.channels
        cut = len(data) - len(data) % frame
        self._carry = data[cut:]
        pcm = data[:cut]
        if self.channels > 1 and pcm:
            samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, self.channels).astype(np.int32)
            pcm = samples.mean(axis=1).astype("<i2").tobytes()
        return pcm

    def _parse_header(self) -> bytes:
        head = bytes(self._head)
        offset = 12
        while offset + 8 <= len(head):
            kind, size = head[offset : offset + 4], struct.unpack("<I", head[offset + 4 : offset + 8])[0]
            if kind == b"data":
                if self.rate is None:
                    raise UndecodableAudio("WAV stream without a fmt chunk before its data")
                self._in_data = True
                self._head = bytearray()
                return head[offset + 8 :]
            if offset + 8 + size > len(head):
                return b""  # chunk not complete yet
            if kind == b"fmt ":
                fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", head[offset + 8 : offset + 24])
                if bits != 16 or fmt not in (1, 0xFFFE):
                    raise UndecodableAudio(f"WAV stream is not 16-bit PCM (format {fmt}, {bits} bits)")
                self.rate, self.channels = rate, channels
            offset += 8 + size + (size & 1)
        return b""
