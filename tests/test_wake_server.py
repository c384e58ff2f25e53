"""The wake word end to end: a real server, the real detector, real whisper, Piper speech over the native
WebSocket, the fake chat and Midjourney servers. Without the wake word nothing is heard, stored or paid
for; with it, the request in the same breath is answered."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fakes.providers import FakeMediaServer
from tests.speech import piper_speech, silence
from tests.wsclient import NativeClient


@pytest.fixture
def fake(fake_media: FakeMediaServer) -> FakeMediaServer:
    return fake_media  # the one `start_media_server` points its providers at


@pytest.fixture
def wake_server(start_media_server):
    return start_media_server(wake_word="hey_jarvis", wake_followup_s=1.0)


async def say(client: NativeClient, text: str) -> None:
    await client.stream(silence(300) + piper_speech(text) + silence(900))


async def settled(client: NativeClient) -> list[dict]:
    """Everything the server sent until it answered a ping sent after the audio (events arrive in order)."""
    mark = len(client.events)
    await client.send({"type": "ping", "id": "after-audio"})
    await client.expect("pong", id="after-audio", timeout=30)
    return client.events[mark:-1]


async def silence_until_armed(client: NativeClient, limit_s: float = 20.0) -> float:
    """Room silence paced like a microphone's (the follow-up window runs on the server's clock) until the
    server says it listens for the wake word only; returns how many seconds that took, by the clock (a
    count of chunks sent undercounts when a loaded machine oversleeps each 40 ms)."""
    loop = asyncio.get_running_loop()
    armed = asyncio.create_task(client.expect("wake.armed", timeout=limit_s))
    chunk, started, sent = silence(40), loop.time(), 0
    while not armed.done():
        await client.ws.send(chunk)
        sent += 1
        await asyncio.sleep(max(0.0, started + sent * 0.04 - loop.time()))  # at the pace of the clock
    await armed
    return loop.time() - started


async def test_without_the_wake_word_nothing_is_heard_stored_or_sent_to_a_provider(wake_server, fake,
                                                                                   fake_chat):
    imagined = len(fake.sent("/submit/imagine"))
    client = await NativeClient.connect(wake_server.ws)
    assert client.ready["session"]["wake_word"] == "hey_jarvis"
    await say(client, "Draw a red fox in the snow.")
    await say(client, "What is the capital of France?")
    assert await settled(client) == []  # no speech.started, no partial, no transcript, no reply
    await client.send({"type": "conversation.get"})
    assert (await client.expect("conversation"))["messages"] == []
    async with httpx.AsyncClient(base_url=wake_server.http) as http:
        stored = (await http.get(f"/api/conversations/{client.ready['session_id']}")).json()
    assert not stored.get("messages") and not stored.get("turns"), stored
    assert len(fake.sent("/submit/imagine")) == imagined and fake_chat.requests == []

    await say(client, "Hey Jarvis, draw a red fox in the snow.")
    detected = await client.expect("wake.detected", timeout=30)
    assert detected["word"] == "hey_jarvis" and detected["probability"] > 0.97
    transcript = await client.expect("transcript", timeout=60)
    assert "jarvis" not in transcript["text"].lower()
    assert "red fox" in transcript["text"].lower(), transcript
    submitted = await client.find("media.job", event="submitted", timeout=60)
    assert submitted["job"]["provider"] == "midjourney"
    await client.find("media.job", event="progress", timeout=60)  # the provider has accepted it
    assert len(fake.sent("/submit/imagine")) == imagined + 1
    await client.close()


async def test_a_question_after_the_wake_word_is_answered_then_a_follow_up_then_it_arms_again(
        wake_server, fake_chat):
    client = await NativeClient.connect(wake_server.ws)
    await say(client, "Hey Jarvis, what is the capital of France?")
    await client.expect("wake.detected", timeout=30)
    transcript = await client.expect("transcript", timeout=60)
    assert transcript["text"].lower().rstrip("?.") == "what is the capital of france", transcript
    done = await client.expect("turn.done", timeout=60)
    assert done["status"] == "completed" and done["text"]
    assert fake_chat.requests[-1]["body"]["messages"][-1]["content"] == transcript["text"]

    await say(client, "And what about Spain?")  # the follow-up window: no wake word needed
    follow_up = await client.expect("transcript", timeout=60)
    assert "spain" in follow_up["text"].lower() and "jarvis" not in follow_up["text"].lower()
    reply = await client.expect("turn.done", timeout=60)
    await client.send({"type": "playback", "turn_id": reply["turn_id"], "played_ms": reply["audio_ms"],
                       "done": True})  # the reply has played: the window's clock starts
    assert await silence_until_armed(client) >= 0.9  # the 1 s follow-up window of this server
    await say(client, "And what about Italy?")
    heard = await settled(client)
    assert heard == [], heard
    await client.close()


async def test_an_unknown_wake_word_is_refused_and_the_session_goes_on(wake_server):
    client = await NativeClient.connect(wake_server.ws)
    await client.send({"type": "session.update", "session": {"wake_word": "hey_siri"}})
    error = await client.expect("error")
    assert error["code"] == "invalid_session" and error["recoverable"] is True
    assert "hey_siri" in error["message"]
    assert "alexa, hey_jarvis, hey_mycroft, okay_nabu" in error["message"]
    updated = await client.update(wake_word=None)
    assert updated["session"]["wake_word"] is None
    await say(client, "What is the capital of France?")
    transcript = await client.expect("transcript", timeout=60)  # answered as without a wake word
    assert "france" in transcript["text"].lower()
    await client.close()
