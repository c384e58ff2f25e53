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
from voicechat.sentences import SentenceChunker, clean_for_speech
from voicechat.settings import Settings


async def test_a_busy_speech_model_refuses_new_sessions_with_1013(start_server, fake_chat):
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          stt_admission_wait_ms=1)
    # 9 s of speech with timestamps: the speech model is busy on the full window for seconds, and the
    # refusal below is checked within milliseconds of it starting (25 s of speech only made it wait longer).
    said = ["Tell me everything about the history of Rome.", "What is the weather like in Berlin today?",
            "Remember to buy fresh bread and a bottle of orange juice."]
    speech = b"".join(piper_speech(t) + silence(400) for t in said)
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


def tiny_settings(**overrides: object) -> Settings:
    """The queueing logic does not depend on the model: the tiny one writes long replies fast, and
    without a system prompt (these ask the model directly) it tells stories where the default refuses."""
    return make_settings(local_model="tiny", **overrides)


async def test_queued_local_replies_make_the_chat_model_refuse_new_sessions():
    chat = LocalChat(tiny_settings(chat_admission_wait_ms=1))
    assert chat.overloaded() is None
    reply = chat.stream([{"role": "user", "content": "Tell me a long story about a dragon."}])
    await anext(reply)  # a reply is being written: one more would wait for it
    reason = chat.overloaded()
    assert reason is not None and "capacity" in reason
    await reply.aclose()
    assert chat.overloaded() is None


async def test_a_reply_that_would_wait_too_long_is_refused_at_once():
    chat = LocalChat(tiny_settings(chat_max_wait_ms=1))
    first = chat.stream([{"role": "user", "content": "Tell me a long story about a dragon."}])
    await anext(first)
    with pytest.raises(ChatError) as busy:
        await anext(chat.stream([{"role": "user", "content": "And one about a fox?"}]))
    assert busy.value.code == "chat_busy"
    await first.aclose()
    second = chat.stream([{"role": "user", "content": "And one about a fox?"}])
    assert await anext(second)  # with the model free again, replies are written as usual
    await second.aclose()


async def test_a_reply_that_waited_past_the_limit_is_refused_when_its_turn_comes():
    # The queue estimate (one reply ~1.5 s) lets the second reply in; the first one then writes for longer.
    chat = LocalChat(tiny_settings(chat_max_wait_ms=1600, chat_brief_when_busy=False,
                                   chat_max_tokens=300, local_max_sentences=0))
    story = [{"role": "user", "content": "Tell me a long story about a dragon, with many details."}]
    first = chat.stream(story)
    await anext(first)
    second = chat.stream([{"role": "user", "content": "And one about a fox?"}])
    waiting = asyncio.create_task(anext(second))
    written = "".join([piece async for piece in first])
    assert len(written) > 400, "the first reply was too short to make the second one wait"
    with pytest.raises(ChatError) as busy:
        await waiting
    assert busy.value.code == "chat_busy" and "waited" in busy.value.message
    assert chat.stats["busy"] == 1


async def test_while_others_wait_a_local_reply_ends_after_its_first_sentence():
    chat = LocalChat(tiny_settings(chat_max_wait_ms=0))
    story = [{"role": "user", "content": "Tell me a long story about a dragon."}]
    alone = "".join([piece async for piece in chat.stream(story)])
    assert len(SentenceChunker(first_chunk_chars=10_000).feed(alone)) >= 2, alone  # it says several

    reply = chat.stream(story)
    written = await anext(reply)
    other = chat.stream([{"role": "user", "content": "What is two plus two?"}])
    waiting = asyncio.create_task(anext(other))  # now a second reply waits for the model
    written += "".join([piece async for piece in reply])
    first_sentence = SentenceChunker(first_chunk_chars=10_000).feed(alone)[0]
    assert clean_for_speech(written) == first_sentence, (written, alone)
    assert chat.stats["shortened"] == 1
    assert await waiting  # the waiting reply is written as usual
    await other.aclose()
