"""The OpenAI Realtime door, driven by the official `openai` SDK's realtime client (not our code)."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import websockets
from openai import AsyncOpenAI

from tests.speech import piper_speech, silence
from voicechat.audio import g711_encode, resample_pcm16

pytestmark = pytest.mark.timeout(180)


def sdk(server) -> AsyncOpenAI:
    return AsyncOpenAI(api_key="unused-locally", base_url=server.http + "/v1",
                       websocket_base_url=f"ws://127.0.0.1:{server.thread.port}/v1")


async def collect_until(connection, kind: str, seen: list, timeout: float = 60) -> object:
    async def read() -> object:
        async for event in connection:
            seen.append(event)
            if event.type == kind:
                return event
        raise AssertionError(f"connection ended before {kind}")

    try:
        return await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        raise AssertionError(f"no {kind}; last events: {[e.type for e in seen[-8:]]}") from None


async def append_speech(connection, text: str, rate: int = 24000) -> None:
    pcm = silence(300, rate) + piper_speech(text, rate) + silence(900, rate)
    step = rate * 2 // 10  # 100 ms per append
    for offset in range(0, len(pcm), step):
        chunk = base64.b64encode(pcm[offset : offset + step]).decode()
        await connection.input_audio_buffer.append(audio=chunk)


async def test_spoken_conversation_with_the_openai_sdk(remote_server, fake_chat):
    client = sdk(remote_server)
    seen: list = []
    async with client.realtime.connect(model="voicechat-test") as connection:
        created = await collect_until(connection, "session.created", seen)
        assert created.session.model == "voicechat-test"
        await connection.session.update(session={"type": "realtime", "instructions": "Be brief.",
                                                 "output_modalities": ["audio"]})
        updated = await collect_until(connection, "session.updated", seen)
        assert updated.session.instructions == "Be brief."
        await append_speech(connection, "What is the capital of France?")
        transcription = await collect_until(
            connection, "conversation.item.input_audio_transcription.completed", seen)
        assert "capital of france" in transcription.transcript.lower()
        done = await collect_until(connection, "response.done", seen)
    kinds = [e.type for e in seen]
    for expected in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                     "input_audio_buffer.committed", "conversation.item.added", "response.created",
                     "response.output_item.added", "response.output_audio.delta",
                     "response.output_audio_transcript.delta", "response.output_audio_transcript.done",
                     "response.output_item.done"):
        assert expected in kinds, expected
    assert done.response.status == "completed"
    audio = b"".join(base64.b64decode(e.delta) for e in seen if e.type == "response.output_audio.delta")
    assert len(audio) / 2 / 24000 > 1.0
    transcript = "".join(e.delta for e in seen if e.type == "response.output_audio_transcript.delta")
    assert transcript == fake_chat.reply_for(transcription.transcript)
    assert fake_chat.requests[-1]["body"]["messages"][0]["content"] == "Be brief."


async def test_manual_turns_cancel_and_truncate(remote_server, fake_chat):
    fake_chat.mode = "long"
    client = sdk(remote_server)
    seen: list = []
    async with client.realtime.connect(model="voicechat-test") as connection:
        await collect_until(connection, "session.created", seen)
        manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        await connection.session.update(session=manual)
        await collect_until(connection, "session.updated", seen)
        # Push-to-talk style: audio, commit, then ask for a response.
        await append_speech(connection, "Tell me everything about the history of Rome.")
        await connection.input_audio_buffer.commit()
        committed = await collect_until(connection, "input_audio_buffer.committed", seen)
        transcription = await collect_until(
            connection, "conversation.item.input_audio_transcription.completed", seen)
        assert transcription.item_id == committed.item_id
        assert not [e for e in seen if e.type == "response.created"]  # no response until asked
        await connection.response.create()
        await collect_until(connection, "response.output_audio.delta", seen)
        await connection.response.cancel()
        cancelled = await collect_until(connection, "response.done", seen)
        assert cancelled.response.status == "cancelled"
        item_id = cancelled.response.output[0].id
        # The client heard 1.2 s: the assistant item shrinks to match.
        await connection.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=1200)
        truncated = await collect_until(connection, "conversation.item.truncated", seen)
        assert truncated.audio_end_ms == 1200
        await connection.conversation.item.retrieve(item_id=item_id)
        retrieved = await collect_until(connection, "conversation.item.retrieved", seen)
        heard = retrieved.item.content[0].transcript
        full = fake_chat.reply_for(transcription.transcript)
        assert 0 < len(heard) < len(full) / 4 and full.startswith(heard.split(".")[0])
        # A typed item, deleted again, never reaches the model.
        fake_chat.mode = "ok"
        typed = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Forget me"}]}
        await connection.conversation.item.create(item=typed)
        added = await collect_until(connection, "conversation.item.added", seen)
        await connection.conversation.item.delete(item_id=added.item.id)
        await collect_until(connection, "conversation.item.deleted", seen)
        await connection.response.create()
        await collect_until(connection, "response.done", seen)
        # Cancelling when nothing runs is an error shaped like OpenAI's, and the connection stays open.
        await connection.response.cancel()
        error = await collect_until(connection, "error", seen)
        assert error.error.code == "response_cancel_not_active"
    sent = fake_chat.requests[-1]["body"]["messages"]
    assert {"role": "assistant", "content": heard} in sent
    assert all(m["content"] != "Forget me" for m in sent)


async def test_items_deleted_before_they_are_reached_never_reach_the_model(remote_server, fake_chat):
    """Items created while a response is running wait their turn; deleting one then is not an error."""
    fake_chat.mode = "long"
    client = sdk(remote_server)
    seen: list = []

    def typed(text: str) -> dict:
        return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}

    async with client.realtime.connect(model="voicechat-test") as connection:
        await collect_until(connection, "session.created", seen)
        manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        await connection.session.update(session=manual)
        await collect_until(connection, "session.updated", seen)
        await connection.conversation.item.create(item=typed("Tell me a long story."))
        await collect_until(connection, "conversation.item.added", seen)
        await connection.response.create()
        await collect_until(connection, "response.output_audio.delta", seen)
        # The session is busy speaking: these two wait in its queue.
        await connection.conversation.item.create(item=typed("Keep me"))
        await collect_until(connection, "conversation.item.added", seen)
        await connection.conversation.item.create(item=typed("Forget me"))
        added = await collect_until(connection, "conversation.item.added", seen)
        await connection.conversation.item.retrieve(item_id=added.item.id)
        retrieved = await collect_until(connection, "conversation.item.retrieved", seen)
        assert retrieved.item.content[0].text == "Forget me"
        await connection.conversation.item.delete(item_id=added.item.id)
        deleted = await collect_until(connection, "conversation.item.deleted", seen)
        assert deleted.item_id == added.item.id
        await connection.response.cancel()
        await collect_until(connection, "response.done", seen)
        fake_chat.mode = "ok"
        await connection.response.create()
        done = await collect_until(connection, "response.done", seen)
        assert done.response.status == "completed"
    assert not [e for e in seen if e.type == "error"]
    contents = [m["content"] for m in fake_chat.requests[-1]["body"]["messages"]]
    assert "Keep me" in contents and "Forget me" not in contents


async def test_transcription_deltas_while_the_user_speaks(remote_server, fake_chat):
    client = sdk(remote_server)
    seen: list = []
    rate = 24000
    pcm = silence(300, rate) + piper_speech("Please remind me to water the plants tomorrow morning.", rate) \
        + silence(900, rate)
    step = rate * 2 // 50  # 20 ms appends, at the pace a microphone delivers them
    async with client.realtime.connect(model="voicechat-test") as connection:
        await collect_until(connection, "session.created", seen)
        for offset in range(0, len(pcm), step):
            chunk = base64.b64encode(pcm[offset : offset + step]).decode()
            await connection.input_audio_buffer.append(audio=chunk)
            await asyncio.sleep(0.02)
        completed = await collect_until(
            connection, "conversation.item.input_audio_transcription.completed", seen)
        await collect_until(connection, "response.done", seen)
    deltas = [e for e in seen if e.type == "conversation.item.input_audio_transcription.delta"]
    assert deltas, [e.type for e in seen]
    assert {d.item_id for d in deltas} == {completed.item_id}
    heard_live = "".join(d.delta for d in deltas).lower()
    assert heard_live.split()[0] == completed.transcript.lower().split()[0], heard_live


async def test_barge_in_cancels_the_response(remote_server, fake_chat):
    fake_chat.mode = "long"
    client = sdk(remote_server)
    seen: list = []
    async with client.realtime.connect(model="voicechat-test") as connection:
        await collect_until(connection, "session.created", seen)
        await append_speech(connection, "Tell me everything about the history of Rome.")
        await collect_until(connection, "response.output_audio.delta", seen)
        await append_speech(connection, "Stop, wait a moment.")
        done = await collect_until(connection, "response.done", seen)
        assert done.response.status == "cancelled"
        assert done.response.status_details.reason == "turn_detected"


async def test_beta_names_and_g711(remote_server):
    """A beta client (OpenAI-Beta: realtime=v1) with μ-law audio, over a plain WebSocket."""
    url = f"ws://127.0.0.1:{remote_server.thread.port}/v1/realtime?model=beta-test"
    async with websockets.connect(url, additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        created = json.loads(await ws.recv())
        assert created["type"] == "session.created" and created["session"]["input_audio_format"] == "pcm16"
        await ws.send(json.dumps({"type": "session.update", "session": {
            "input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"}}))
        pcm = resample_pcm16(silence(300) + piper_speech("Turn off the bedroom lights.") + silence(900),
                             16000, 8000)
        for offset in range(0, len(pcm), 1600):
            ulaw = g711_encode(pcm[offset : offset + 1600], "ulaw")
            await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                      "audio": base64.b64encode(ulaw).decode()}))
        await ws.send(json.dumps({"type": "bogus.event", "event_id": "evt_1"}))
        kinds, audio, errors = [], b"", []
        while True:
            event = json.loads(await ws.recv())
            kinds.append(event["type"])
            if event["type"] == "response.audio.delta":
                audio += base64.b64decode(event["delta"])
            if event["type"] == "error":
                errors.append(event["error"])
            if event["type"] == "response.done":
                break
    assert "conversation.item.created" in kinds and "response.audio_transcript.delta" in kinds
    assert "conversation.item.added" not in kinds
    assert errors[0]["code"] == "unknown_event" and errors[0]["event_id"] == "evt_1"
    assert len(audio) / 8000 > 1.0  # one byte per sample at 8 kHz


async def test_client_events_are_type_checked_with_the_offending_event_id(remote_server):
    url = f"ws://127.0.0.1:{remote_server.thread.port}/v1/realtime?model=t"
    async with websockets.connect(url) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": 5, "event_id": "e1"}))
        await ws.send(json.dumps({"type": "conversation.item.truncate", "item_id": "nope", "event_id": "e2",
                                  "audio_end_ms": 10}))
        await ws.send(json.dumps({"type": "response.cancel", "response_id": ["x"], "event_id": "e3"}))
        errors = [json.loads(await asyncio.wait_for(ws.recv(), 30))["error"] for _ in range(3)]
    assert [(e["code"], e["event_id"]) for e in errors] == [
        ("invalid_event", "e1"), ("item_not_found", "e2"), ("invalid_event", "e3")]
    assert "`audio`" in errors[0]["message"] and "`response_id`" in errors[2]["message"]
