"""Admission control: past what the engines can serve in time, new sessions are refused (1013), not queued."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import make_settings
from tests.speech import piper_speech, silence
from tests.test_security import refused
from tests.wsclient import NativeClient
from voicechat.audio import wav_bytes
from voicechat.llm import ChatError, LocalChat


async def test_a_busy_speech_model_refuses_new_sessions_with_1013(start_server, fake_chat):
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          stt_admission_wait_ms=1)
    # 25 s of speech with timestamps: the speech model is busy for a while on the full window.
    said = ["Tell me everything about the history of Rome.", "What is the weather like in Berlin today?",
            "Remember to buy fresh bread and a bottle of orange juice."]
    speech = b"".join(piper_speech(t) + silence(400) for t in said * 3)
    async with httpx.AsyncClient(base_url=server.http, timeout=120) as http:
        upload = asyncio.create_task(http.post(
            "/v1/audio/transcriptions", files={"file": ("long.wav", wav_bytes(speech, 16000), "audio/wav")},
            data={"model": "whisper-1", "response_format": "verbose_json"}))
        while (await http.get("/health")).json()["load"]["stt"]["running"] == 0:
            assert not upload.done(), "the transcription finished before the check could run"
        closed = await refused(server.ws)
        assert (await upload).status_code == 200
    assert closed.code == 1013 and "capacity" in closed.reason, closed
    # Once the model is free again, sessions are welcome.
    client = await NativeClient.connect(server.ws)
    await client.close()


async def test_queued_local_replies_make_the_chat_model_refuse_new_sessions():
    chat = LocalChat(make_settings(chat_admission_wait_ms=1))
    assert chat.overloaded() is None
    reply = chat.stream([{"role": "user", "content": "Tell me a long story about a dragon."}])
    await anext(reply)  # a reply is being written: one more would wait for it
    reason = chat.overloaded()
    assert reason is not None and "capacity" in reason
    await reply.aclose()
    assert chat.overloaded() is None


async def test_a_reply_that_would_wait_too_long_is_refused_at_once():
    chat = LocalChat(make_settings(chat_max_wait_ms=1))
    first = chat.stream([{"role": "user", "content": "Tell me a long story about a dragon."}])
    await anext(first)
    with pytest.raises(ChatError) as busy:
        await anext(chat.stream([{"role": "user", "content": "And one about a fox?"}]))
    assert busy.value.code == "chat_busy"
    await first.aclose()
    second = chat.stream([{"role": "user", "content": "And one about a fox?"}])
    assert await anext(second)  # with the model free again, replies are written as usual
    await second.aclose()
