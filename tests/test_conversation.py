"""Spoken conversations over /ws against a real server, real whisper, real Piper; chat from the fake
OpenAI server (deterministic replies) unless a test says otherwise."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np

from tests.speech import MAX_WER, conversation, espeak_speech, noise, piper_speech, silence, wer
from tests.wsclient import NativeClient
from voicechat.audio import resample_pcm16, rms_dbfs
from voicechat.clients.say import say


# Whisper base on clean synthetic speech: a stated bound, not a hope.
async def spoken_turn(client: NativeClient, text: str, rate: int = 16000) -> dict:
    await client.stream(silence(300, rate) + piper_speech(text, rate) + silence(900, rate), rate)
    return await client.expect("turn.done")


async def test_spoken_turn_transcribes_replies_and_speaks(remote_server, fake_chat):
    client = await NativeClient.connect(remote_server.ws)
    said = "Please remind me to water the plants tomorrow morning."
    await client.stream(silence(300) + piper_speech(said) + silence(900))
    started = await client.expect("speech.started")
    stopped = await client.expect("speech.stopped")
    transcript = await client.expect("transcript")
    audio_start = await client.expect("reply.audio.start")
    done = await client.expect("turn.done")
    await client.close()

    assert started["at_ms"] < stopped["at_ms"]
    assert wer(said, transcript["text"]) <= MAX_WER, transcript["text"]
    # The chat model got the transcript, and the whole reply was spoken.
    assert fake_chat.requests[-1]["body"]["messages"][-1]["content"] == transcript["text"]
    assert done["status"] == "completed" and done["text"] == fake_chat.reply_for(transcript["text"])
    deltas = "".join(e["delta"] for e in client.events if e["type"] == "reply.text.delta")
    assert deltas == fake_chat.reply_for(transcript["text"])
    assert audio_start == {"type": "reply.audio.start", "turn_id": done["turn_id"], "format": "pcm16",
                           "rate": 24000, "channels": 1}
    seconds = len(client.audio) / 2 / 24000
    assert abs(seconds * 1000 - done["audio_ms"]) < 5
    assert seconds > 2.0 and rms_dbfs(bytes(client.audio)) > -35
    timings = done["timings"]
    assert 0 < timings["transcript_ms"] <= timings["first_token_ms"] <= timings["first_audio_ms"]


async def test_first_sentence_is_spoken_before_the_reply_is_written(remote_server, fake_chat):
    fake_chat.mode = "slow"  # the fake stalls after two words until released
    client = await NativeClient.connect(remote_server.ws)
    fake_chat.reply_template = "Sure. {text}, and more words after the pause."
    try:
        await client.send({"type": "text", "text": "Say something"})
        await client.expect("reply.audio.start")  # arrives while the model is still stalled
        assert fake_chat.requests and not any(e["type"] == "turn.done" for e in client.events)
        remote_server.thread  # noqa: B018  (server kept alive)
        fake_chat.server.call_soon(fake_chat.release.set)
        done = await client.expect("turn.done")
        assert done["status"] == "completed"
    finally:
        fake_chat.server.call_soon(fake_chat.release.clear)
        fake_chat.reply_template = "You said: {text}. That is a fine thing to say. Tell me more about it."
        await client.close()


async def test_several_utterances_give_one_turn_each(remote_server):
    texts = ["What time is it in Tokyo?", "Turn off the bedroom lights.", "How tall is Mount Everest?"]
    result = await say(conversation(*texts), 16000, remote_server.ws, fast=True)
    transcripts = [e["text"] for e in result.of_type("transcript")]
    assert len(result.turns) == 3 and len(transcripts) == 3, transcripts
    joined = " ".join(transcripts)
    assert wer(" ".join(texts), joined) <= MAX_WER, joined
    assert all(t["status"] == "completed" for t in result.turns)
    assert len(result.audio_by_turn) == 3 and min(result.audio_by_turn.values()) > 24000


async def test_other_input_rates_are_resampled(remote_server):
    client = await NativeClient.connect(remote_server.ws)
    await client.update(input_audio={"format": "pcm16", "rate": 48000},
                        output_audio={"format": "pcm16", "rate": 16000})
    done = await spoken_turn(client, "Start a timer for the pasta.", rate=48000)
    await client.close()
    assert wer("Start a timer for the pasta.", done["user_text"]) <= MAX_WER, done["user_text"]
    audio_start = next(e for e in client.events if e["type"] == "reply.audio.start")
    assert audio_start["rate"] == 16000
    assert abs(len(client.audio) / 2 / 16000 * 1000 - done["audio_ms"]) < 5


async def test_push_to_talk_waits_for_commit(remote_server):
    client = await NativeClient.connect(remote_server.ws)
    await client.update(turn_mode="push_to_talk")
    # A long pause mid-sentence would end a VAD turn; in push-to-talk it does not.
    await client.stream(silence(200) + piper_speech("Remember to buy fresh bread") + silence(1500)
                        + piper_speech("and a bottle of orange juice.") + silence(200))
    await client.send({"type": "ping", "id": "p1"})
    await client.expect("pong", id="p1")
    assert not [e for e in client.events if e["type"] in ("speech.stopped", "transcript")]
    await client.send({"type": "input.commit"})
    committed = await client.expect("input.committed")
    done = await client.expect("turn.done")
    await client.close()
    assert committed["speech"] is True
    said = "Remember to buy fresh bread and a bottle of orange juice."
    assert wer(said, done["user_text"]) <= MAX_WER, done["user_text"]


async def test_push_to_talk_commit_of_silence_takes_no_turn(remote_server, fake_chat):
    client = await NativeClient.connect(remote_server.ws)
    await client.update(turn_mode="push_to_talk")
    await client.stream(noise(1500))
    await client.send({"type": "input.commit"})
    committed = await client.expect("input.committed")
    await client.send({"type": "ping", "id": "after"})
    await client.expect("pong", id="after")
    await client.close()
    assert committed["speech"] is False
    assert not fake_chat.requests
    assert not [e for e in client.events if e["type"] in ("transcript", "reply.started")]


async def test_barge_in_stops_the_reply_and_truncates_history(remote_server, fake_chat):
    fake_chat.mode = "long"  # a reply of a dozen sentences: plenty of audio to interrupt
    client = await NativeClient.connect(remote_server.ws)
    first = "Tell me everything about the history of Rome."
    await client.stream(silence(300) + piper_speech(first) + silence(900))
    start = await client.expect("reply.audio.start")
    turn_id = start["turn_id"]
    # The user talks over the reply.
    await client.stream(piper_speech("Stop, wait a moment.") + silence(900))
    stop = await client.expect("reply.stop")
    # The interrupting question needs no dozen-sentence answer (all of it was synthesized before its
    # turn.done: ~15 s of the test). Should its request have gone already, it is long: slower, still right.
    fake_chat.mode = "ok"
    assert stop == {"type": "reply.stop", "turn_id": turn_id, "reason": "barge_in"}
    interrupted = await client.expect("turn.done", turn_id=turn_id)
    assert interrupted["status"] == "interrupted"
    # The client says it played 1.5 s before stopping.
    await client.send({"type": "playback", "turn_id": turn_id, "played_ms": 1500})
    second = await client.expect("turn.done")
    assert second["status"] == "completed" and second["turn_id"] != turn_id
    await client.send({"type": "conversation.get"})
    history = (await client.expect("conversation"))["messages"]
    await client.close()

    full = fake_chat.reply_for(interrupted["user_text"])
    heard = next(m for m in history if m["role"] == "assistant" and m["turn_id"] == turn_id)
    assert heard["status"] == "interrupted"
    assert 0 < len(heard["content"]) < len(full) / 4
    assert full.startswith(heard["content"].split(".")[0])
    # The model was asked the second question with only the heard words in its history.
    sent = fake_chat.requests[-1]["body"]["messages"]
    assert sent[-2] == {"role": "assistant", "content": heard["content"]}


async def test_cancel_stops_a_reply(remote_server, fake_chat):
    fake_chat.mode = "long"
    client = await NativeClient.connect(remote_server.ws)
    await client.send({"type": "text", "text": "Tell me a very long story."})
    start = await client.expect("reply.audio.start")
    await client.send({"type": "reply.cancel"})
    stop = await client.expect("reply.stop")
    done = await client.expect("turn.done")
    await client.close()
    assert stop["reason"] == "cancel" and stop["turn_id"] == start["turn_id"]
    assert done["status"] == "interrupted" and done["reason"] == "cancel"


async def test_silence_and_noise_never_start_a_turn(remote_server, fake_chat):
    client = await NativeClient.connect(remote_server.ws)
    await client.stream(silence(1000) + noise(3000, level=0.01) + silence(1000))
    await client.send({"type": "input.commit"})
    await client.expect("input.committed")
    await client.close()
    assert not fake_chat.requests
    assert not [e for e in client.events if e["type"] == "transcript"]


async def test_language_can_be_chosen_per_session(remote_server):
    client = await NativeClient.connect(remote_server.ws)
    updated = await client.update(language="auto")
    assert updated["session"]["language"] == "auto"
    await client.stream(silence(300) + espeak_speech("Guten Morgen, wie geht es dir heute?", voice="de")
                        + silence(900))
    transcript = await client.expect("transcript")
    await client.expect("turn.done")
    await client.close()
    assert transcript["language"] == "de"


async def test_health_reports_engines(remote_server):
    async with httpx.AsyncClient() as http:
        body = (await http.get(remote_server.http + "/health")).json()
    assert body["status"] == "ok"
    assert "faster-whisper base" in body["engines"]["stt"]
    assert "OpenAI-compatible" in body["engines"]["chat"]
    assert body["tts_engines"][0]["name"] == "piper"


async def test_sessions_do_not_disturb_each_other(remote_server, fake_chat):
    async def one(text: str) -> dict:
        client = await NativeClient.connect(remote_server.ws)
        try:
            return await spoken_turn(client, text)
        finally:
            await client.close()

    a, b = await asyncio.gather(one("Open the front door, please."), one("Close the living room curtains."))
    assert wer("Open the front door, please.", a["user_text"]) <= MAX_WER
    assert wer("Close the living room curtains.", b["user_text"]) <= MAX_WER


def test_reply_audio_is_real_speech_not_tone(remote_server):
    """Guard against a silent or constant output path: speech has energy spread over many frames."""

    async def run() -> bytes:
        client = await NativeClient.connect(remote_server.ws)
        await client.send({"type": "text", "text": "Hello"})
        await client.expect("turn.done")
        await client.close()
        return bytes(client.audio)

    pcm = asyncio.run(run())
    frames = np.frombuffer(resample_pcm16(pcm, 24000, 16000), dtype="<i2")[: 16000 * 2].reshape(-1, 320)
    loud = (np.abs(frames).mean(axis=1) > 300).mean()
    assert 0.3 < loud < 1.0
