"""Audio containers and codecs the REST door and the remote engines rely on."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest

from tests.speech import piper_speech
from voicechat.audio import wav_bytes
from voicechat.codecs import UndecodableAudio, WavStreamParser, change_tempo, decode_audio, encode_mp3


def tone(seconds: float, rate: int) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()


def test_wav_stream_parser_reads_byte_by_byte_with_placeholder_sizes():
    pcm = tone(0.2, 22050)
    wav = bytearray(wav_bytes(pcm, 22050))
    wav[4:8] = wav[40:44] = struct.pack("<I", 0xFFFFFFFF)  # a streamed WAV does not know its length
    parser = WavStreamParser()
    out = b"".join(parser.feed(bytes([b])) for b in wav)
    assert parser.rate == 22050 and out == pcm


def test_wav_stream_parser_mixes_stereo_and_takes_raw_pcm_at_the_fallback_rate():
    left = np.frombuffer(tone(0.05, 16000), dtype="<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(np.stack([left, left], axis=1).tobytes())
    parser = WavStreamParser()
    data = buffer.getvalue()
    out = parser.feed(data[:45]) + parser.feed(data[45:])  # split inside a sample frame
    assert parser.rate == 16000 and out == left.tobytes()
    raw = WavStreamParser(fallback_rate=24000)
    assert raw.feed(b"\x01\x00" * 10 + b"\x02") == b"\x01\x00" * 10 and raw.rate == 24000


def test_wav_stream_parser_refuses_float_audio():
    buffer = bytearray(wav_bytes(tone(0.01, 8000), 8000))
    buffer[20:22] = struct.pack("<H", 3)  # IEEE float
    with pytest.raises(UndecodableAudio):
        WavStreamParser().feed(bytes(buffer))


def test_decode_float_wav_and_mp3_to_16k():
    speech = piper_speech("Hello there.", 24000)
    samples = np.frombuffer(speech, dtype="<i2").astype("<f4") / 32768
    buffer = io.BytesIO()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + samples.nbytes, b"WAVE", b"fmt ", 16, 3, 1,
                         24000, 24000 * 4, 4, 32, b"data", samples.nbytes)
    buffer.write(header + samples.tobytes())
    as_float = decode_audio(buffer.getvalue(), 16000)
    assert abs(len(as_float) / 32000 - len(speech) / 48000) < 0.05
    as_mp3 = decode_audio(encode_mp3(speech, 24000), 16000)
    assert abs(len(as_mp3) / 32000 - len(speech) / 48000) < 0.1
    with pytest.raises(UndecodableAudio):
        decode_audio(b"RIFF" + bytes(100))


@pytest.mark.parametrize("speed", [0.25, 0.5, 2.0, 4.0])
def test_tempo_changes_length_not_rate(speed):
    pcm = tone(1.0, 24000)
    out = change_tempo(pcm, 24000, speed)
    assert abs(len(out) / len(pcm) * speed - 1) < 0.05
