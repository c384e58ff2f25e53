"""`voicechat assistant` with files for the microphone and the speaker, as a real subprocess."""

from __future__ import annotations

import asyncio
import sys

import httpx
import numpy as np

from tests.conftest import ROOT
from tests.speech import conversation
from voicechat.audio import read_wav, rms_dbfs, wav_bytes
from voicechat.stt import normalise


async def run_assistant(*args: str, timeout: float = 90) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicechat.cli", "assistant", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode()


def voiced_stretches(pcm: bytes, rate: int, gap_ms: int = 400) -> int:
    """How many separate stretches of sound (split by at least `gap_ms` of near silence)."""
    frame = rate // 50
    samples = np.frombuffer(pcm, dtype="<i2")[: len(pcm) // 2 // frame * frame].reshape(-1, frame)
    loud = np.sqrt((samples.astype(np.float64) ** 2).mean(axis=1)) > 300
    stretches, quiet = 0, gap_ms
    for is_loud in loud:
        if is_loud and quiet >= gap_ms:
            stretches += 1
        quiet = 0 if is_loud else quiet + 20
    return stretches


async def test_two_utterances_give_two_spoken_replies(remote_server, tmp_path):
    said = ["What time is it in Tokyo?", "Turn off the bedroom lights."]
    mic, speaker = tmp_path / "mic.wav", tmp_path / "speaker.wav"
    mic.write_bytes(wav_bytes(conversation(*said, gap_ms=1200), 16000))
    code, out = await run_assistant("--url", remote_server.ws, "--input-wav", str(mic),
                                    "--output-wav", str(speaker), "--fast")
    assert code == 0, out
    turn_lines = [line for line in out.splitlines() if line.startswith("turn_") and " completed" in line]
    assert len(turn_lines) == 2, out
    assert "Tokyo" in turn_lines[0] and "lights" in turn_lines[1] and "first_audio=" in turn_lines[0]
    pcm, rate = read_wav(str(speaker))
    assert rate == 24000 and rms_dbfs(pcm) > -35
    # Both replies were played, whole: what the speaker got is heard back by whisper.
    async with httpx.AsyncClient(timeout=60) as http:
        heard = (await http.post(remote_server.http + "/v1/audio/transcriptions",
                                 files={"file": ("speaker.wav", speaker.read_bytes())})).json()["text"]
    heard = normalise(heard)
    assert heard.count("fine thing to say") == 2 and "tokyo" in heard and "bedroom lights" in heard, heard


async def test_wake_phrase_answers_only_what_is_addressed(remote_server, tmp_path):
    mic, speaker = tmp_path / "mic.wav", tmp_path / "speaker.wav"
    mic.write_bytes(wav_bytes(conversation("What a lovely day it is.", "Hey computer, turn off the lights.",
                                           gap_ms=1200), 16000))
    code, out = await run_assistant("--url", remote_server.ws, "--input-wav", str(mic), "--output-wav",
                                    str(speaker), "--fast", "--wake-phrase", "hey computer")
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.startswith("turn_")]
    assert len(lines) == 2 and "not answered" in lines[0] and "not answered" not in lines[1], out
    pcm, rate = read_wav(str(speaker))
    assert voiced_stretches(pcm, rate) >= 1 and 1.5 < len(pcm) / 2 / rate < 7.0


async def test_wake_word_on_the_server_answers_only_what_follows_it(remote_server, fake_chat, tmp_path):
    mic, speaker = tmp_path / "mic.wav", tmp_path / "speaker.wav"
    said = conversation("Draw a red fox in the snow.", "Hey Jarvis, what time is it in Tokyo?", gap_ms=1200)
    mic.write_bytes(wav_bytes(said, 16000))
    code, out = await run_assistant("--url", remote_server.ws, "--input-wav", str(mic), "--output-wav",
                                    str(speaker), "--fast", "--wake-word", "hey_jarvis")
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.startswith("turn_")]
    assert len(lines) == 1 and " completed" in lines[0] and "tokyo" in lines[0].lower(), out
    assert "jarvis" not in lines[0].split("| you:")[1].split("|")[0].lower(), out  # the phrase was cut
    assert "wake word heard (hey_jarvis" in out
    assert all("fox" not in str(r["body"]) for r in fake_chat.requests)  # never reached the chat model


async def test_an_unknown_wake_word_stops_the_assistant_with_the_words_there_are(remote_server, tmp_path):
    mic = tmp_path / "mic.wav"
    mic.write_bytes(wav_bytes(bytes(3200), 16000))
    code, out = await run_assistant("--url", remote_server.ws, "--input-wav", str(mic), "--output-wav",
                                    str(tmp_path / "speaker.wav"), "--wake-word", "hey_siri")
    assert code == 2, out
    assert "hey_siri" in out and "available: alexa, hey_jarvis, hey_mycroft, okay_nabu" in out, out


async def test_gives_up_on_a_server_that_is_not_there(tmp_path):
    mic = tmp_path / "mic.wav"
    mic.write_bytes(wav_bytes(bytes(3200), 16000))
    code, out = await run_assistant("--url", "ws://127.0.0.1:9/ws", "--input-wav", str(mic),
                                    "--output-wav", str(tmp_path / "out.wav"), "--max-retries", "2")
    assert code == 3 and out.count("retrying in") == 3, out
