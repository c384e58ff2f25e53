"""End of turn by the smart-turn model: its features, its verdicts on real speech, the server keeping a
thinking pause in one turn, and what happens when the model file is missing or damaged."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import ROOT, make_settings, no_media
from tests.fakes.http import ServerThread
from tests.speech import espeak_speech, piper_speech, silence
from tests.wsclient import NativeClient
from voicechat import smart_turn
from voicechat.app import create_app
from voicechat.audio import pcm16_to_float
from voicechat.logmel import log_mel
from voicechat.models import resolve_whisper

MODELS = ROOT / "models"
FIRST, SECOND = "I was wondering if you could tell me,", "what the capital of Japan is."


@pytest.fixture(scope="module")
def model() -> smart_turn.SmartTurn:
    path = smart_turn.model_path(MODELS)
    assert path.is_file(), f"run `{smart_turn.FETCH_COMMAND}` (scripts/setup.sh does) to fetch {path}"
    return smart_turn.SmartTurn(path)


def test_features_match_faster_whispers_own_extractor() -> None:
    # faster-whisper's feature extractor is an independent implementation of the same whisper recipe.
    from faster_whisper.feature_extractor import FeatureExtractor

    audio = pcm16_to_float(piper_speech("What is the capital of France?") + silence(200))
    ours = log_mel(audio)
    window = np.concatenate([np.zeros(8 * 16000 - audio.size, np.float32), audio])
    window = (window - window.mean()) / np.sqrt(window.var() + 1e-7)
    theirs = FeatureExtractor(feature_size=80, chunk_length=8)(window, padding=0)
    assert ours.shape == theirs.shape == (80, 800)
    assert np.abs(ours - theirs).max() < 1e-4


def test_only_the_last_eight_seconds_count() -> None:
    speech = pcm16_to_float(piper_speech("Turn off the bedroom lights."))
    long = np.concatenate([np.random.default_rng(3).normal(0, 0.3, 16000 * 5).astype(np.float32),
                           np.zeros(16000 * 4, np.float32), speech])
    assert np.allclose(log_mel(long), log_mel(long[-8 * 16000:]))
    assert not np.allclose(log_mel(long), log_mel(speech))


@pytest.mark.parametrize("text", ["What is the capital of France?", "Turn off the bedroom lights.",
                                  "Please remind me to water the plants tomorrow morning."])
def test_the_model_hears_a_finished_sentence_as_complete(model: smart_turn.SmartTurn, text: str) -> None:
    assert model.probability(piper_speech(text) + silence(200)) > 0.9


@pytest.mark.parametrize("text", [FIRST, "Can you play some music that is,"])
@pytest.mark.parametrize("voice", ["piper", "espeak-ng"])
def test_the_model_hears_a_trailing_thought_as_incomplete(model: smart_turn.SmartTurn, text: str,
                                                          voice: str) -> None:
    speech = piper_speech(text) if voice == "piper" else espeak_speech(text)
    assert model.probability(speech + silence(200)) < 0.1


async def speak_in_real_time(client: NativeClient, pcm: bytes, chunk_ms: int = 20) -> None:
    """Like a microphone: the model's verdict must come while the pause is still going on."""
    step = 16000 * 2 * chunk_ms // 1000
    loop = asyncio.get_running_loop()
    started = loop.time()
    for index, offset in enumerate(range(0, len(pcm), step)):
        await client.ws.send(pcm[offset : offset + step])
        await asyncio.sleep(max(0.0, started + (index + 1) * chunk_ms / 1000 - loop.time()))


async def utterances_heard(url: str, pcm: bytes) -> tuple[list[dict], dict]:
    client = await NativeClient.connect(url)
    await client.send({"type": "session.update", "session": {"auto_respond": False}})
    await client.expect("session.updated")
    await speak_in_real_time(client, pcm)
    await client.send({"type": "ping", "id": "end"})
    await client.expect("pong", id="end")
    await client.close()
    return [e for e in client.events if e["type"] == "speech.stopped"], client.ready


def trailing_off_cases() -> list[tuple[str, str | None, bool]]:
    return [("I was wondering if you could tell me...", "en", True),
            ("Tell me about the history of", "en", True),
            ("Can you remind me to?", "en", True), ("Who painted the Mona Lisa?", "en", False),
            ("What is the capital of Japan?", None, False), ("Dime la historia de…", "es", True),
            ("Ich gehe to", "de", False), ("", "en", False)]


@pytest.mark.parametrize(("text", "language", "unfinished"), trailing_off_cases())
def test_a_transcript_that_trails_off_reads_as_unfinished(text: str, language: str | None,
                                                          unfinished: bool) -> None:
    assert smart_turn.trails_off(text, language) is unfinished


def thinking_pause(first: str, second: str) -> bytes:
    # 3 s of silence after: longer than END_OF_TURN_MAX_MS, so every verdict is in before the audio ends.
    return silence(400) + piper_speech(first) + silence(800) + piper_speech(second) + silence(3000)


async def counters(server) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient() as http:
        return (await http.get(server.http + "/health")).json()["load"]["counters"]


async def test_a_thinking_pause_stays_one_turn(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(end_of_turn="smart_turn")
    before = await counters(server)
    stopped, ready = await utterances_heard(server.ws, thinking_pause(FIRST, SECOND))
    assert ready["end_of_turn"]["detector"] == "smart_turn"
    assert len(stopped) == 1  # the model judged the pause unfinished
    assert stopped[0]["duration_ms"] > 4000  # both halves and the pause between them
    after = await counters(server)
    # At the pause the model said "incomplete"; or, where the guess's transcript (which the check waits for)
    # came only after speech had resumed (a slow machine), the question was moot and never asked.
    judged = ("end_of_turn_incomplete", "end_of_turn_moot")
    assert sum(after.get(k, 0) for k in judged) > sum(before.get(k, 0) for k in judged)


async def test_a_pause_after_a_dangling_word_stays_one_turn(start_server) -> None:  # type: ignore[no-untyped-def]
    # Piper says the half sentence with a final fall, so the model alone calls it complete (p ~ 0.98);
    # the guess's transcript ends on "of", which no English sentence does. (On a loaded machine the verdict
    # may also come after speech resumed, which keeps the turn whole too.)
    server = start_server(end_of_turn="smart_turn")
    stopped, _ = await utterances_heard(server.ws, thinking_pause("Tell me about the history of",
                                                                  "the Roman Empire."))
    assert len(stopped) == 1 and stopped[0]["duration_ms"] > 3500


async def test_the_fixed_hangover_splits_the_same_pause(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(end_of_turn="hangover", vad_hangover_ms=600)
    stopped, ready = await utterances_heard(server.ws, thinking_pause(FIRST, SECOND))
    assert ready["end_of_turn"] == {"detector": "hangover", "hangover_ms": 600}
    assert [s["reason"] for s in stopped] == ["silence", "silence"]


async def test_speech_resuming_before_the_reply_is_heard_makes_one_turn_of_both(  # type: ignore[no-untyped-def]
        start_server, fake_chat) -> None:
    # A finished sentence (the model calls it complete, rightly), then the user goes on 1.2 s later while
    # the remote model is still thinking: nothing of the first reply was heard, so both are one turn.
    server = start_server(end_of_turn="smart_turn", openai_api_base_url=fake_chat.base_url,
                          openai_api_key=fake_chat.api_key, chat_timeout_s=10.0)
    fake_chat.first_token_delay_s = 2.5
    try:
        client = await NativeClient.connect(server.ws)
        await speak_in_real_time(client, silence(400) + piper_speech("Turn off the bedroom lights.")
                                 + silence(1200) + piper_speech("And close the curtains.") + silence(3000))
        answered = await client.expect("turn.done", status="completed", timeout=30)
        await client.send({"type": "conversation.get"})
        conversation = await client.expect("conversation")
        await client.close()
    finally:
        fake_chat.first_token_delay_s = 0.0
    seen = [(e["type"], e.get("reason"), e.get("status"), e.get("user_text"))
            for e in client.events if e["type"] in ("speech.stopped", "reply.stop", "turn.done")]
    assert "lights" in answered["user_text"] and "curtains" in answered["user_text"], seen
    assert "curtains" in answered["text"]  # the fake model echoes what it was asked
    said = [m["content"] for m in conversation["messages"] if m["role"] == "user"]
    assert said == [answered["user_text"]], seen
    # The model ended the first sentence (unless, on a loaded box, its verdict came after speech went on);
    # that turn was then taken back.
    taken_back = [e for e in client.events if e["type"] == "turn.done" and e is not answered]
    assert all((e["status"], e["reason"]) == ("interrupted", "resumed") for e in taken_back), seen


def models_dir_without_smart_turn(tmp_path: Path) -> Path:
    """A models folder that shares the assembled whisper model but has its own smart-turn file (or none)."""
    resolve_whisper("base", MODELS)  # assembled once into the repo's models folder
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "whisper-base").symlink_to(MODELS / "whisper-base", target_is_directory=True)
    return folder


def test_a_missing_model_falls_back_to_the_hangover_and_says_so(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    folder = models_dir_without_smart_turn(tmp_path)
    settings = make_settings(models_dir=folder, end_of_turn="smart_turn", vad_hangover_ms=700)
    with caplog.at_level(logging.WARNING, logger="voicechat.smart_turn"):
        server = ServerThread(create_app(settings, media=no_media(tmp_path))).start()
    try:
        async def ready() -> dict:
            client = await NativeClient.connect(f"ws://127.0.0.1:{server.port}/ws")
            await client.close()
            return client.ready

        assert asyncio.run(ready())["end_of_turn"] == {"detector": "hangover", "hangover_ms": 700}
    finally:
        server.stop()
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert str(folder / smart_turn.FILE_NAME) in warning and smart_turn.FETCH_COMMAND in warning


def test_a_damaged_model_stops_the_server_naming_file_and_hashes(tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    folder = models_dir_without_smart_turn(tmp_path)
    damaged = smart_turn.model_path(folder)
    shutil.copyfile(smart_turn.model_path(MODELS), damaged)
    with damaged.open("r+b") as f:
        f.seek(4096)
        f.write(b"\x00" * 64)
    with pytest.raises(smart_turn.SmartTurnError) as error:
        smart_turn.SmartTurn(damaged)
    message = str(error.value)
    assert str(damaged) in message and smart_turn.FILE_SHA256 in message
    assert smart_turn.FETCH_COMMAND in message
    assert smart_turn._sha256(damaged) in message
    # At startup: the app does not start on a damaged file (no silent fallback to the hangover).
    settings = make_settings(models_dir=folder, end_of_turn="smart_turn")
    with pytest.raises(RuntimeError, match="did not start"):
        ServerThread(create_app(settings, media=no_media(tmp_path))).start(timeout=60)
    assert message in capfd.readouterr().err  # uvicorn's startup failure log carries it


def test_fetch_refuses_a_wheel_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    fake = tmp_path / "pipecat_ai-1.14.0-py3-none-any.whl"
    fake.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    with pytest.raises(smart_turn.SmartTurnError, match=smart_turn.WHEEL_SHA256):
        smart_turn.fetch(tmp_path / "models", wheel=fake)
    assert not smart_turn.model_path(tmp_path / "models").exists()
