"""`GET /metrics` after real turns, parsed with prometheus_client's own parser: the histograms, counters and
gauges an operator scrapes, no user text in them, and the same token rule as /api."""

from __future__ import annotations

import socket

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.speech import piper_speech, silence
from tests.wsclient import NativeClient

TOKEN = "metrics-0123456789abcdef0123"
SAID = "What is the weather like in Lisbon today?"


def scrape(base: str, **headers: str) -> dict[str, list]:
    """name -> samples of the parsed exposition (a parse error fails the test)."""
    answer = httpx.get(base + "/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    families = text_string_to_metric_families(answer.text)
    return {family.name: family.samples for family in families} | {"__text__": [answer.text]}


def value(samples: list, name: str, **labels: str) -> float:
    found = [s.value for s in samples
             if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert found, f"no sample {name} {labels} in {samples}"
    return sum(found)


async def test_a_spoken_turn_shows_in_the_metrics(start_server, fake_chat):
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          chat_timeout_s=3.0, tokens=f"ops:{TOKEN}")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = scrape(server.http, **auth)
    turns_before = sum(s.value for s in before.get("voicechat_turns", [])
                       if s.name == "voicechat_turns_total" and s.labels.get("status") == "completed")

    client = await NativeClient.connect(server.ws + f"?token={TOKEN}")
    await client.stream(silence(300) + piper_speech(SAID) + silence(900))
    done = await client.expect("turn.done")
    assert done["status"] == "completed"
    during = scrape(server.http, **auth)
    assert value(during["voicechat_sessions"], "voicechat_sessions") >= 1
    await client.close()
    # A connection without the token is refused, and counted by its close code.
    async with websockets.connect(server.ws) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()

    after = scrape(server.http, **auth)
    assert value(after["voicechat_turns"], "voicechat_turns_total", status="completed") >= turns_before + 1
    for name in ("voicechat_speech_end_to_transcript_seconds", "voicechat_speech_end_to_first_token_seconds",
                 "voicechat_speech_end_to_first_audio_seconds", "voicechat_stt_duration_seconds"):
        assert value(after[name], name + "_count") >= 1, name
        assert 0 < value(after[name], name + "_sum") < 60, name
    assert value(after["voicechat_tts_duration_seconds"], "voicechat_tts_duration_seconds_count",
                 engine="piper") >= 1
    assert value(after["voicechat_refusals"], "voicechat_refusals_total", code="4401") >= 1
    assert value(after["voicechat_stt_queue"], "voicechat_stt_queue", kind="final") == 0
    assert "voicechat_chat_wait_seconds" in after
    text = after["__text__"][0]
    # Nothing the user said or the model answered, and no secret, is in a label.
    for secret in ("Lisbon", done["text"][:20], TOKEN, fake_chat.api_key):
        assert secret not in text


def test_metrics_need_the_token_unless_made_public(start_server, fake_chat):
    remote = {"openai_api_base_url": fake_chat.base_url, "openai_api_key": fake_chat.api_key}
    guarded = start_server(tokens=f"ops:{TOKEN}", **remote)
    assert httpx.get(guarded.http + "/metrics").status_code == 401
    assert httpx.get(guarded.http + "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    public = start_server(tokens=f"ops:{TOKEN}", metrics_public=True, **remote)
    assert httpx.get(public.http + "/metrics").status_code == 200
    assert httpx.get(public.http + "/api/jobs").status_code == 401  # only /metrics is opened
    refused = scrape(public.http)
    assert value(refused["voicechat_refusals"], "voicechat_refusals_total", code="401") >= 1


async def test_errors_and_tts_fallbacks_are_counted(start_server, fake_chat):
    # espeak-ng with a voice that does not exist fails, and is the last engine: the turn says tts_failed.
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          tts_engine="espeak", espeak_voice="xx-nonexistent", chat_timeout_s=3.0)
    client = await NativeClient.connect(server.ws)
    await client.send({"type": "text", "text": "Hello there"})
    await client.find("error", code="tts_failed")
    await client.expect("turn.done")
    await client.close()
    after = scrape(server.http)
    assert value(after["voicechat_errors"], "voicechat_errors_total", code="tts_failed") >= 1

    # A remote voice that is down hands the sentence to Piper: one fallback, the turn still completes.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]  # nothing listens here once the probe is closed
    front = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                         tts_url=f"http://127.0.0.1:{dead}", remote_timeout_s=2.0)
    client = await NativeClient.connect(front.ws)
    await client.send({"type": "text", "text": "Good morning"})
    done = await client.expect("turn.done")
    await client.close()
    assert done["status"] == "completed" and done["tts_engine"] == "piper"
    fell_back = scrape(front.http)
    assert value(fell_back["voicechat_tts_fallbacks"], "voicechat_tts_fallbacks_total", engine="remote") == 1
