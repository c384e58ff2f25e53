"""The Realtime door's `voice`: OpenAI's names mean the default voice, an engine's own name changes the voice,
any other is refused with Realtime's `error` and the session goes on. Driven by the official `openai` SDK
against the real server; which voice spoke is proven from the audio (espeak-ng is deterministic) and from
the engine the server's /metrics counted, never from our own echo."""

from __future__ import annotations

import base64
import json
import subprocess

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.test_realtime import collect_until, sdk
from voicechat.audio import read_wav, resample_pcm16

pytestmark = pytest.mark.timeout(180)


def espeak_ng(text: str, voice: str) -> bytes:
    """What espeak-ng itself says with `voice`, at the Realtime wire's 24 kHz (the server resamples alike)."""
    pcm, rate = read_wav(subprocess.run(["espeak-ng", "--stdout", "-v", voice, "--", text],
                                        check=True, capture_output=True).stdout)
    return resample_pcm16(pcm, rate, 24000)


def synthesized(server) -> dict[str, float]:
    """engine -> sentences it has spoken on this server (voicechat_tts_duration_seconds' count)."""
    text = httpx.get(server.http + "/metrics").text
    return {sample.labels["engine"]: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "voicechat_tts_duration_seconds_count"}


async def reply_to(connection, text: str, seen: list) -> bytes:
    """Type `text`, ask for a response, and return its audio."""
    await connection.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
    await connection.response.create()
    mark = len(seen)
    done = await collect_until(connection, "response.done", seen)
    assert done.response.status == "completed", done
    return b"".join(base64.b64decode(e.delta) for e in seen[mark:] if e.type == "response.output_audio.delta")


async def test_the_session_voice_is_applied_or_refused_and_the_session_goes_on(remote_server, fake_chat):
    # One sentence, so one piece: its audio compares whole.
    template, fake_chat.reply_template = fake_chat.reply_template, "{text}."
    client = sdk(remote_server)
    seen: list = []
    try:
        async with client.realtime.connect(model="voicechat-test") as connection:
            await collect_until(connection, "session.created", seen)
            await connection.session.update(session={"type": "realtime",
                                                     "audio": {"output": {"voice": "de"}}})
            german = await collect_until(connection, "session.updated", seen)
            first = await reply_to(connection, "Guten Morgen", seen)

            await connection.session.update(
                session={"type": "realtime", "instructions": "Be brief.",
                         "audio": {"output": {"voice": "no-such-voice"}}}, event_id="evt_voice")
            refused = await collect_until(connection, "error", seen)
            second = await reply_to(connection, "Guten Abend", seen)  # nothing of that update applied

            await connection.response.create(response={"audio": {"output": {"voice": "shimmer"}}},
                                             event_id="evt_response_voice")
            per_response = await collect_until(connection, "error", seen)

            before = synthesized(remote_server)
            await connection.session.update(session={"type": "realtime",
                                                     "audio": {"output": {"voice": "alloy"}}})
            alloy = await collect_until(connection, "session.updated", seen)
            third = await reply_to(connection, "Guten Morgen", seen)
            after = synthesized(remote_server)
    finally:
        fake_chat.reply_template = template
    assert german.session.audio.output.voice == "de"
    assert first == espeak_ng("Guten Morgen.", "de")  # espeak-ng's German spoke it, not the Piper voice
    error = refused.error
    assert (error.type, error.code, error.event_id) == ("invalid_request_error", "invalid_value", "evt_voice")
    assert error.param == "session.audio.output.voice" and "no-such-voice" in error.message, error
    assert "en_US-joe-medium" in error.message and "alloy" in error.message, error.message
    assert second == espeak_ng("Guten Abend.", "de")
    assert fake_chat.requests[-1]["body"]["messages"][0]["content"] != "Be brief."  # the refused update's
    assert per_response.error.event_id == "evt_response_voice", per_response
    assert per_response.error.param == "response.audio.output.voice", per_response
    # alloy is OpenAI's name: the default voice for the language, Piper here, and no longer the German one.
    assert alloy.session.audio.output.voice == "alloy"
    assert after.get("piper", 0) == before.get("piper", 0) + 1 and after.get("espeak") == before.get("espeak")
    assert third and third != espeak_ng("Guten Morgen.", "de")


async def test_a_beta_client_sets_its_voice_at_the_top_of_the_session(remote_server):
    url = f"ws://127.0.0.1:{remote_server.thread.port}/v1/realtime?model=beta-test"
    async with websockets.connect(url, additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.send(json.dumps({"type": "session.update", "event_id": "e1", "session": {"voice": "nope"}}))
        refused = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "session.update", "event_id": "e2", "session": {"voice": 7}}))
        mistyped = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "session.update", "session": {"voice": "en-gb"}}))
        updated = json.loads(await ws.recv())
    assert refused["type"] == "error" and refused["error"]["param"] == "session.voice", refused
    assert refused["error"]["event_id"] == "e1" and "nope" in refused["error"]["message"]
    assert (mistyped["error"]["code"], mistyped["error"]["event_id"]) == ("invalid_value", "e2"), mistyped
    assert updated["type"] == "session.updated" and updated["session"]["voice"] == "en-gb", updated
