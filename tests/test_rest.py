"""The OpenAI-shaped REST door, driven by the official `openai` SDK against a real server."""

from __future__ import annotations

import io
import socket
import wave

import httpx
import miniaudio
import numpy as np
import openai
import pytest

from tests.speech import MAX_WER, piper_speech, silence, wer
from voicechat.audio import read_wav, rms_dbfs, wav_bytes
from voicechat.codecs import encode_mp3

SAID = "Please remind me to water the plants tomorrow morning."
@pytest.fixture
def client(remote_server) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-unused", base_url=remote_server.http + "/v1", max_retries=0)


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def spoken_wav() -> bytes:
    return wav_bytes(silence(200) + piper_speech(SAID) + silence(300), 16000)


def stereo_44k(pcm16k: bytes) -> bytes:
    """The same speech as a 44.1 kHz stereo WAV, as a phone or a DAW would save it."""
    from voicechat.audio import resample_pcm16

    mono = np.frombuffer(resample_pcm16(pcm16k, 16000, 44100), dtype="<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(np.repeat(mono, 2).tobytes())
    return buffer.getvalue()


def test_transcription_json_and_verbose_json(client, spoken_wav):
    plain = client.audio.transcriptions.create(model="whisper-1", file=("q.wav", spoken_wav))
    assert wer(SAID, plain.text) <= MAX_WER, plain.text
    verbose = client.audio.transcriptions.create(
        model="whisper-1", file=("q.wav", spoken_wav), response_format="verbose_json", language="en",
        prompt="plants", temperature=0.0,
    )
    assert wer(SAID, verbose.text) <= MAX_WER, verbose.text
    assert verbose.language == "en" and 2.5 < verbose.duration < 4.0
    assert verbose.segments and verbose.segments[-1].end <= verbose.duration + 0.1
    assert all(s.no_speech_prob < 0.5 for s in verbose.segments)


@pytest.mark.parametrize("response_format", ["text", "srt", "vtt"])
def test_transcription_text_formats(client, spoken_wav, response_format):
    out = client.audio.transcriptions.create(model="whisper-1", file=("q.wav", spoken_wav),
                                             response_format=response_format)
    assert isinstance(out, str)
    lines = out.strip().splitlines()
    if response_format == "text":
        assert wer(SAID, out) <= MAX_WER, out
    elif response_format == "srt":
        assert lines[0] == "1" and " --> " in lines[1] and "," in lines[1]
        assert wer(SAID, " ".join(lines[2:])) <= MAX_WER, out
    else:
        assert lines[0] == "WEBVTT" and " --> " in lines[2] and "." in lines[2]
        assert wer(SAID, " ".join(lines[3:])) <= MAX_WER, out


def test_transcription_of_other_rates_channels_and_mp3(client, spoken_wav):
    pcm, _ = read_wav(spoken_wav)
    stereo = client.audio.transcriptions.create(model="whisper-1", file=("q.wav", stereo_44k(pcm)))
    assert wer(SAID, stereo.text) <= MAX_WER, stereo.text
    mp3 = client.audio.transcriptions.create(model="whisper-1", file=("q.mp3", encode_mp3(pcm, 16000)))
    assert wer(SAID, mp3.text) <= MAX_WER, mp3.text


@pytest.mark.parametrize("response_format", ["wav", "pcm", "mp3"])
def test_speech_formats_decode_to_audible_speech(client, response_format):
    text = "The kitchen timer is done."
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=text,
                                          response_format=response_format)
    data = response.content
    if response_format == "wav":
        pcm, rate = read_wav(data)
    elif response_format == "pcm":
        assert response.response.headers["content-type"] == "audio/pcm"
        pcm, rate = data, 24000
    else:
        assert response.response.headers["content-type"] == "audio/mpeg"
        rate = miniaudio.mp3_get_info(data).sample_rate
        decoded = miniaudio.decode(data, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1,
                                   sample_rate=rate)
        pcm = decoded.samples.tobytes()
    assert rate == 24000
    seconds = len(pcm) / 2 / rate
    assert 1.0 < seconds < 5.0 and rms_dbfs(pcm) > -35


def test_speech_speed_changes_duration_and_round_trips_through_transcription(client):
    text = "Turn off the bedroom lights."
    normal = client.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format="pcm")
    fast = client.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format="wav",
                                      speed=2.0)
    fast_pcm, rate = read_wav(fast.content)
    ratio = (len(fast_pcm) / 2 / rate) / (len(normal.content) / 2 / 24000)
    assert 0.4 < ratio < 0.62, ratio
    heard = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", fast.content))
    assert wer(text, heard.text) <= 0.4, heard.text


def test_models_list_what_is_served(client, remote_server):
    ids = [m.id for m in client.models.list()]
    assert {"whisper-1", "tts-1", "faster-whisper-base", "piper:en_US-joe-medium"} <= set(ids)
    assert remote_server.settings.chat_model in ids
    assert client.models.retrieve("whisper-1").id == "whisper-1"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9-ultra")


def test_errors_have_openai_shape(client, remote_server, spoken_wav):
    with pytest.raises(openai.BadRequestError) as empty:
        client.audio.speech.create(model="tts-1", voice="alloy", input="  ")
    assert empty.value.param == "input" and empty.value.code == "empty_input"
    too_long = "word " * 1000
    with pytest.raises(openai.BadRequestError) as long_input:
        client.audio.speech.create(model="tts-1", voice="alloy", input=too_long)
    assert long_input.value.code == "string_above_max_length"
    with pytest.raises(openai.BadRequestError, match="opus"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hi.", response_format="opus")
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hi.", speed=9)
    with pytest.raises(openai.BadRequestError, match="espeak-ng") as voice:
        client.audio.speech.create(model="tts-1", voice="no-such-voice", input="Hi.")  # type: ignore[arg-type]
    assert voice.value.param == "voice"
    with pytest.raises(openai.BadRequestError) as empty_file:
        client.audio.transcriptions.create(model="whisper-1", file=("q.wav", b""))
    assert empty_file.value.param == "file"
    with pytest.raises(openai.APIStatusError) as garbage:
        client.audio.transcriptions.create(model="whisper-1", file=("q.wav", b"not audio at all" * 64))
    assert garbage.value.status_code == 415
    with pytest.raises(openai.BadRequestError):
        client.audio.transcriptions.create(model="whisper-1", file=("q.wav", spoken_wav),
                                           response_format="xml")  # type: ignore[arg-type]
    # No file at all: the body names the missing field.
    raw = httpx.post(remote_server.http + "/v1/audio/transcriptions", data={"model": "whisper-1"},
                     files={"other": ("x.txt", b"x")})
    assert raw.status_code == 400
    assert raw.json()["error"] == {"message": "the `file` field (an audio file) is required",
                                   "type": "invalid_request_error", "param": "file", "code": "missing_file"}


def test_upload_limit_is_413(start_server, fake_chat, spoken_wav):
    small = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                         rest_max_upload_bytes=20_000)
    client = openai.OpenAI(api_key="x", base_url=small.http + "/v1", max_retries=0)
    with pytest.raises(openai.APIStatusError) as big:
        client.audio.transcriptions.create(model="whisper-1", file=("q.wav", spoken_wav))
    assert big.value.status_code == 413 and big.value.code == "file_too_large"


def test_engine_failure_is_500(start_server, fake_chat, spoken_wav, unused_port):
    broken = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          stt_url=f"http://127.0.0.1:{unused_port}", remote_timeout_s=2.0)
    client = openai.OpenAI(api_key="x", base_url=broken.http + "/v1", max_retries=0)
    with pytest.raises(openai.InternalServerError) as failed:
        client.audio.transcriptions.create(model="whisper-1", file=("q.wav", spoken_wav))
    assert failed.value.code == "stt_failed"
    assert failed.value.body["type"] == "server_error"  # type: ignore[index]
