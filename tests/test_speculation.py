"""Speculative finalization and partial transcripts, through the real server and the real whisper model."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.speech import piper_speech, silence
from tests.wsclient import NativeClient


@pytest.fixture
def server(start_server, fake_chat):  # type: ignore[no-untyped-def]
    # Its own server (the settings differ from the shared one), so its counters are this module's.
    return start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                        vad_speculate_ms=90, stt_partial_interval_ms=600, vad_hangover_ms=800)


async def counters(server) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient() as http:
        return (await http.get(server.http + "/health")).json()["load"]["counters"]


async def speak_in_real_time(client: NativeClient, pcm: bytes, chunk_ms: int = 20) -> None:
    """Like a microphone: one chunk per chunk's duration (partials need speech still going on)."""
    step = 16000 * 2 * chunk_ms // 1000
    for offset in range(0, len(pcm), step):
        await client.ws.send(pcm[offset : offset + step])
        await asyncio.sleep(chunk_ms / 1000)


async def test_a_confirmed_speculation_answers_like_any_turn(server, fake_chat):
    before = await counters(server)
    client = await NativeClient.connect(server.ws)
    await client.stream(silence(300) + piper_speech("What is the capital of France?") + silence(900))
    stopped = await client.expect("speech.stopped")
    transcript = await client.expect("transcript")
    done = await client.expect("turn.done")
    await client.close()
    assert "capital of france" in transcript["text"].lower()
    assert done["speculative"] is True and done["status"] == "completed"
    assert done["text"] == fake_chat.reply_for(transcript["text"]) and done["audio_ms"] > 500
    assert stopped["reason"] == "silence"
    # Nothing of the turn reached the client before the hangover confirmed the end of speech.
    kinds = [e["type"] for e in client.events]
    assert kinds.index("speech.stopped") < kinds.index("transcript") < kinds.index("reply.started")
    after = await counters(server)
    assert after.get("speculative_confirmed", 0) > before.get("speculative_confirmed", 0)


async def test_speech_after_a_pause_discards_the_guess_without_a_trace(server, fake_chat):
    before = await counters(server)
    client = await NativeClient.connect(server.ws)
    # In real time, the guess made in the pause has time to be transcribed and answered before the
    # speech goes on: discarding it must take back all of that.
    await speak_in_real_time(client, silence(300) + piper_speech("Remember to buy fresh bread") + silence(500)
                             + piper_speech("and a bottle of orange juice.") + silence(1200))
    done = await client.expect("turn.done")
    await client.send({"type": "text", "text": "What did I ask?"})
    await client.expect("turn.done")
    await client.close()
    after = await counters(server)
    assert after.get("speculative_discarded", 0) > before.get("speculative_discarded", 0)
    # One utterance, one turn: the guess on "Remember to buy fresh bread" never showed.
    assert len([e for e in client.events if e["type"] == "transcript"]) == 2  # the speech, then the text
    assert "orange juice" in done["user_text"].lower() and "bread" in done["user_text"].lower()
    users = [m["content"] for m in fake_chat.requests[-1]["body"]["messages"] if m["role"] == "user"]
    assert users == [done["user_text"], "What did I ask?"]


async def test_partial_transcripts_while_speaking(server):
    client = await NativeClient.connect(server.ws)
    said = "Please remind me to water the plants tomorrow morning."
    await speak_in_real_time(client, silence(300) + piper_speech(said) + silence(900))
    final = await client.expect("transcript")
    await client.expect("turn.done")
    await client.close()
    kinds = [e["type"] for e in client.events]
    partials = [e for e in client.events if e["type"] == "transcript.partial"]
    assert partials, kinds
    assert kinds.index("transcript.partial") < kinds.index("speech.stopped")
    # Each partial is the start of what was finally heard.
    first_word = final["text"].split()[0].lower().strip(",.")
    assert all(p["text"].lower().startswith(first_word) for p in partials), partials


@pytest.mark.parametrize("speculate_remote_chat", [False, True])
async def test_a_remote_model_is_not_asked_for_a_guess(speculate_remote_chat, start_server, fake_chat):
    # A pause long enough for the guess to be transcribed, short of the hangover: the guess is discarded.
    # A remote model's reply is a paid call, so by default the guess never reaches it; STT still ran.
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          vad_speculate_ms=90, vad_hangover_ms=2000,
                          speculate_remote_chat=speculate_remote_chat)
    before = await counters(server)
    client = await NativeClient.connect(server.ws)
    speech = piper_speech("Remember to buy fresh bread") + silence(1500) + piper_speech("and some milk.")
    await speak_in_real_time(client, silence(300) + speech + silence(2300))
    done = await client.expect("turn.done")
    await client.close()
    after = await counters(server)
    assert after.get("speculative_discarded", 0) > before.get("speculative_discarded", 0)
    assert "milk" in done["user_text"].lower() and done["status"] == "completed"
    asked = [next(m["content"] for m in reversed(r["body"]["messages"]) if m["role"] == "user")
             for r in fake_chat.requests]
    if speculate_remote_chat:
        assert len(asked) == 2 and "milk" not in asked[0].lower()  # the guess was a paid call
    else:
        assert asked == [done["user_text"]]  # one confirmed turn, one call
