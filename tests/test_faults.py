"""Faults: a failing chat model, a dead TTS service, and hostile client input. Each gives a typed error,
the session keeps working, and other sessions never notice."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.speech import piper_speech, silence
from tests.wsclient import NativeClient
from voicechat.turn import APOLOGY


async def text_turn(client: NativeClient, text: str) -> tuple[list[dict], dict]:
    """Send a typed turn, return the errors seen and the turn.done."""
    before = len(client.events)
    await client.send({"type": "text", "text": text})
    done = await client.expect("turn.done")
    errors = [e for e in client.events[before:] if e["type"] == "error"]
    return errors, done


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("401", "chat_auth"),
        ("500", "chat_failed"),
        ("disconnect", "chat_interrupted"),
        ("garbage", "chat_bad_response"),
        ("html", "chat_bad_response"),
        ("slow", "chat_timeout"),
    ],
)
async def test_chat_faults_are_typed_spoken_and_recoverable(remote_server, fake_chat, mode, code):
    client = await NativeClient.connect(remote_server.ws)
    fake_chat.mode = mode
    audio_before = len(client.audio)
    errors, done = await text_turn(client, "Hello there")
    assert [e["code"] for e in errors] == [code], errors
    assert errors[0]["recoverable"] is True and errors[0]["turn_id"] == done["turn_id"]
    assert "sk-test-fake" not in json.dumps(errors)
    # A short apology was spoken in the same turn.
    assert done["error"] == code
    assert len(client.audio) - audio_before > 24000  # more than half a second of speech
    assert APOLOGY not in done["text"]  # the apology is not remembered as the model's words
    # The session keeps working once the model is back.
    fake_chat.mode = "ok"
    errors, done = await text_turn(client, "Are you back?")
    await client.close()
    assert errors == [] and done["status"] == "completed"
    assert done["text"] == fake_chat.reply_for("Are you back?")


async def test_unreachable_chat_server(start_server):
    server = start_server(openai_api_base_url="http://127.0.0.1:9", chat_timeout_s=2.0)
    client = await NativeClient.connect(server.ws)
    errors, done = await text_turn(client, "Anyone there?")
    await client.close()
    assert errors[0]["code"] == "chat_unreachable"
    assert done["status"] == "failed" and len(client.audio) > 0


async def test_malformed_input_gets_typed_errors_and_the_session_survives(remote_server):
    client = await NativeClient.connect(remote_server.ws)
    limit = client.ready["limits"]["max_message_bytes"]
    cases = [
        ("{not json", "invalid_json"),
        ("[1, 2, 3]", "invalid_event"),
        (json.dumps({"type": 5}), "invalid_event"),
        (json.dumps({"type": "no.such.event"}), "unknown_event"),
        (json.dumps({"type": "session.update", "session": {"turn_mode": "telepathy"}}), "invalid_session"),
        (json.dumps({"type": "session.update", "session": {"input_audio": {"rate": 7}}}), "invalid_session"),
        (json.dumps({"type": "session.update", "session": {"colour": "blue"}}), "invalid_session"),
        (json.dumps({"type": "text", "text": ""}), "invalid_event"),
        (json.dumps({"type": "text", "text": "x" * 5000}), "text_too_long"),
        (json.dumps({"type": "playback", "played_ms": "lots"}), "invalid_event"),
        (b"\x01\x02\x03", "bad_audio"),
        (bytes(limit + 2), "message_too_large"),
        ("x" * (limit + 1), "message_too_large"),
    ]
    for payload, code in cases:
        await client.send_raw(payload)
        error = await client.expect("error")
        assert error["code"] == code, (payload[:40], error)
        assert error["recoverable"] is True and error["message"]
    # Still the same healthy session: a spoken turn works.
    await client.stream(silence(300) + piper_speech("Turn off the bedroom lights.") + silence(900))
    done = await client.expect("turn.done")
    await client.close()
    assert done["status"] == "completed"


async def test_absurdly_large_frame_closes_only_that_connection(remote_server):
    victim = await NativeClient.connect(remote_server.ws)
    bystander = await NativeClient.connect(remote_server.ws)
    await victim.send_raw(bytes(64 << 20))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await victim.next(timeout=30)
    assert closed.value.rcvd is None or closed.value.rcvd.code in (1009, 1011)
    await bystander.send({"type": "text", "text": "Still there?"})
    done = await bystander.expect("turn.done")
    await bystander.close()
    assert done["status"] == "completed"


async def test_abrupt_disconnect_mid_turn_leaves_the_server_healthy(remote_server, fake_chat):
    fake_chat.mode = "long"
    client = await NativeClient.connect(remote_server.ws)
    await client.send({"type": "text", "text": "Tell me a long story"})
    await client.expect("reply.audio.start")
    client.ws.transport.abort()  # no close frame: the TCP connection just dies
    fake_chat.mode = "ok"
    other = await NativeClient.connect(remote_server.ws)
    errors, done = await text_turn(other, "Hello again")
    await other.close()
    assert errors == [] and done["status"] == "completed"
    async with httpx.AsyncClient() as http:
        health = (await http.get(remote_server.http + "/health")).json()
    assert health["status"] == "ok"


async def test_edge_tts_unreachable_falls_back_to_local_voice_in_the_same_turn(start_server, fake_chat):
    # No internet here: edge-tts fails at once, and that is exactly the fault under test.
    server = start_server(tts_engine="edge", openai_api_base_url=fake_chat.base_url,
                          openai_api_key=fake_chat.api_key)
    client = await NativeClient.connect(server.ws)
    assert client.ready["engines"]["tts"].startswith("edge-tts")
    errors, first = await text_turn(client, "Say three sentences please")
    errors2, second = await text_turn(client, "And again")
    await client.close()
    assert errors == [] and errors2 == []
    assert first["tts_engine"] == "piper" and second["tts_engine"] == "piper"
    assert first["audio_ms"] > 1000 and second["audio_ms"] > 1000
    async with httpx.AsyncClient() as http:
        engines = (await http.get(server.http + "/health")).json()["tts_engines"]
    edge = next(e for e in engines if e["name"] == "edge")
    # Several sentences over two turns, but edge-tts was tried only once: later ones skipped it.
    assert edge["failures"] == 1 and edge["state"] == "skipped" and edge["retry_in_s"] > 0


async def test_a_broken_session_does_not_slow_a_healthy_one(remote_server):
    healthy = await NativeClient.connect(remote_server.ws)
    hostile = await NativeClient.connect(remote_server.ws)

    async def garbage() -> None:
        for index in range(300):
            await hostile.send_raw(b"\x00" if index % 2 else "{oops")

    turn = asyncio.create_task(text_turn(healthy, "What is two plus two?"))
    await garbage()
    errors, done = await turn
    # Every bad message was answered with its own typed error, in order.
    codes = [(await hostile.expect("error"))["code"] for _ in range(300)]
    await healthy.close()
    await hostile.close()
    assert errors == [] and done["status"] == "completed"
    assert codes == ["invalid_json", "bad_audio"] * 150


async def test_full_database_is_reported_once_and_the_conversation_goes_on(start_server, fake_chat):
    # A size cap makes SQLite fail exactly as on a full disk ("database or disk is full"). The fake model
    # echoes each 200-word message, so the replies are spoken by espeak-ng: Piper took ~6 s a turn for them.
    server = start_server(db_max_mb=0.04, tts_engine="espeak", openai_api_base_url=fake_chat.base_url,
                          openai_api_key=fake_chat.api_key)
    client = await NativeClient.connect(server.ws)
    codes = []
    for n in range(6):
        errors, done = await text_turn(client, f"Message number {n} " + "padding " * 200)
        codes += [e["code"] for e in errors]
        assert done["status"] == "completed"  # the user still gets every answer
    await client.close()
    assert codes == ["storage_failed"]  # said once, not on every turn


async def test_tts_failure_is_typed_and_the_text_still_arrives(start_server, fake_chat):
    server = start_server(tts_engine="espeak", espeak_voice="xx-nonexistent",
                          openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key)
    client = await NativeClient.connect(server.ws)
    errors, done = await text_turn(client, "Can you hear me?")
    errors2, done2 = await text_turn(client, "Still there?")
    await client.close()
    assert [e["code"] for e in errors] == ["tts_failed"] and errors[0]["recoverable"] is True
    assert done["text"] == fake_chat.reply_for("Can you hear me?") and done["audio_ms"] == 0
    assert done2["status"] == "completed"


async def test_stt_failure_is_typed_and_the_session_goes_on(start_server, fake_chat):
    # The speech-to-text engine is a remote server that is down: every transcription raises.
    server = start_server(stt_url="http://127.0.0.1:9/v1", remote_timeout_s=2.0,
                          openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key)
    client = await NativeClient.connect(server.ws)
    await client.stream(silence(300) + piper_speech("Turn off the bedroom lights.") + silence(900))
    error = await client.expect("error")
    failed = await client.expect("turn.done")
    errors, done = await text_turn(client, "Can you read this instead?")
    await client.close()
    assert error["code"] == "stt_failed" and error["recoverable"] is True
    assert failed["status"] == "failed" and failed["error"] == "stt_failed"
    assert errors == [] and done["status"] == "completed"
