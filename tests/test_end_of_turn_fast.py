"""Taking back a turn the end-of-turn model ended too early: the segmenter continuing the utterance when
speech resumes within the pause, and the session withdrawing the ended turn before its reply is heard."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fakes.engines import MS_PER_WORD, ScriptedTurnEnd
from tests.session_harness import Harness
from tests.speech import piper_speech, silence
from voicechat.store import ConversationStore
from voicechat.vad import EndCheck, Segmenter, SegmenterConfig, SpeechStarted, SpeechStopped


def segment(pcm: bytes, seal_after_stop: bool = False) -> list[SpeechStarted | SpeechStopped]:
    """Starts and stops of `pcm` when the model says "complete" at every check."""
    segmenter = Segmenter(SegmenterConfig(check_ms=200, patience_ms=2500))
    seen: list[SpeechStarted | SpeechStopped] = []
    for offset in range(0, len(pcm), 640):
        for event in segmenter.feed(pcm[offset : offset + 640], offset / 32000):
            if isinstance(event, EndCheck):
                event = segmenter.decide(event.pause, True)
            if isinstance(event, SpeechStarted | SpeechStopped):
                seen.append(event)
                if isinstance(event, SpeechStopped) and seal_after_stop:
                    segmenter.seal()  # the reply became audible
    return seen


FIRST, SECOND = piper_speech("Please set a timer for"), piper_speech("twenty minutes.")


def test_speech_resuming_within_the_pause_continues_the_utterance_the_model_ended() -> None:
    events = segment(silence(400) + FIRST + silence(800) + SECOND + silence(3000))
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    stops = [e for e in events if isinstance(e, SpeechStopped)]
    assert [s.resumed for s in starts] == [False, True]
    assert [s.reason for s in stops] == ["end_of_turn", "end_of_turn"]
    first, whole = stops[0].utterance, stops[1].utterance
    assert first is not None and whole is not None
    assert whole.pcm.startswith(first.pcm) and whole.start_ms == first.start_ms
    assert whole.duration_ms > (len(FIRST) + len(SECOND)) / 32 + 700  # both halves and the pause


def test_a_sealed_turn_or_a_pause_past_the_patience_starts_a_new_utterance() -> None:
    for pcm, seal in ((silence(400) + FIRST + silence(800) + SECOND + silence(3000), True),
                      (silence(400) + FIRST + silence(2900) + SECOND + silence(3000), False)):
        events = segment(pcm, seal_after_stop=seal)
        starts = [e for e in events if isinstance(e, SpeechStarted)]
        stops = [e for e in events if isinstance(e, SpeechStopped)]
        assert [s.resumed for s in starts] == [False, False]
        assert stops[1].utterance is not None
        assert stops[1].utterance.duration_ms < len(SECOND) / 32 + 700  # the second half alone


async def test_resumed_speech_takes_back_the_ended_turn_before_its_reply_is_heard() -> None:
    async with Harness() as h:
        h.chat.replies = ["A half answer.", "A timer for twenty minutes."]
        h.chat.gate, h.chat.gate_after = asyncio.Event(), 1  # the first reply stalls before it can be heard
        await h.speech_started()
        half = h.utterance("please set a timer for")
        await h.session.listening.on_segment(SpeechStopped(half.end_ms, half, reason="end_of_turn"))
        await h.next("transcript", text="please set a timer for")
        await h.until(h.chat.stalled)
        await h.session.listening.on_segment(SpeechStarted(at_ms=0.0, resumed=True))
        stop = await h.next("reply.stop")
        done = await h.next("turn.done")
        assert stop["reason"] == "resumed" and (done["status"], done["reason"]) == ("interrupted", "resumed")
        assert h.engines.counters["end_of_turn_resumed"] == 1
        h.chat.gate.set()
        await h.stopped(h.utterance("please set a timer for twenty minutes"))
        done = await h.next("turn.done")
        assert done["status"] == "completed" and done["user_text"] == "please set a timer for twenty minutes"
        assert [m["content"] for m in h.session.history.messages()] == [
            "please set a timer for twenty minutes", "A timer for twenty minutes."]
        assert h.chat.asked[-1][1:] == [{"role": "user", "content": "please set a timer for twenty minutes"}]


async def test_once_the_reply_is_heard_speech_is_a_new_turn_that_barges_in() -> None:
    async with Harness() as h:
        h.chat.gate, h.chat.gate_after = asyncio.Event(), 3  # "Hello there. How" then the model stalls
        await h.speech_started()
        said = h.utterance("turn off the lights")
        await h.session.listening.on_segment(SpeechStopped(said.end_ms, said, reason="end_of_turn"))
        await h.next("reply.audio.start")
        await h.session.listening.feed(bytes(640), 0.0)  # the next microphone chunk: the reply is audible
        await h.session.listening.on_segment(SpeechStarted(at_ms=0.0, resumed=True))
        stop = await h.next("reply.stop")
        done = await h.next("turn.done")
        assert stop["reason"] == "barge_in" and done["status"] == "interrupted"
        assert done["audio_ms"] >= MS_PER_WORD  # the reply was being heard
        assert h.engines.counters["end_of_turn_resumed"] == 0
        assert h.session.history.messages()[0]["content"] == "turn off the lights"


async def test_a_taken_back_turn_leaves_no_half_sentence_in_the_store(tmp_path: Path) -> None:
    """A resumed conversation reads the store: the half the user went on from must not come back as a turn."""
    store = ConversationStore(tmp_path / "conversations.sqlite3")
    await store.open()
    async with Harness(store=store) as h:
        h.chat.replies = ["A half answer.", "A timer for twenty minutes."]
        h.chat.gate, h.chat.gate_after = asyncio.Event(), 1  # the first reply stalls before it can be heard
        await h.speech_started()
        half = h.utterance("please set a timer for")
        await h.session.listening.on_segment(SpeechStopped(half.end_ms, half, reason="end_of_turn"))
        await h.until(h.chat.stalled)
        await h.session.listening.on_segment(SpeechStarted(at_ms=0.0, resumed=True))
        taken_back = await h.next("turn.done")
        assert taken_back["reason"] == "resumed"
        h.chat.gate.set()
        await h.stopped(h.utterance("please set a timer for twenty minutes"))
        await h.next("turn.done", status="completed")
    stored = await store.conversation(h.session.id, "local")
    assert stored is not None
    turns = {t["turn_id"]: t for t in stored["turns"]}
    assert turns[taken_back["turn_id"]]["status"] == "interrupted"  # the announced turn is still on record
    said = [t["user_text"] for t in stored["turns"] if t["user_text"]]
    assert said == ["please set a timer for twenty minutes"]


async def test_the_end_of_turn_check_waits_for_the_guess_transcript() -> None:
    # On a 2-core box the check beside the guess's whisper call slowed the transcript every reply waits for;
    # a "complete" is read with that transcript anyway, so the model is asked once it is in.
    model = ScriptedTurnEnd()
    async with Harness(turn_end=model) as h:
        model.on_ask = lambda: list(h.stt.heard)
        h.stt.gate = asyncio.Event()  # the guess's transcription is still running
        await h.speech_started()
        utterance = h.utterance("what is the capital of france")
        await h.paused(utterance)
        await h.end_check(utterance)
        h.stt.gate.set()
        await h.until(model.asked)
        assert model.seen == [["what is the capital of france"]]


async def test_speech_resuming_before_the_guess_is_heard_leaves_the_check_unasked() -> None:
    model = ScriptedTurnEnd()
    async with Harness(turn_end=model) as h:
        h.stt.gate = asyncio.Event()
        await h.speech_started()
        utterance = h.utterance("what is the capital of")
        await h.paused(utterance)
        await h.end_check(utterance)
        await h.resumed()  # the guess is discarded: the pause it was about is over
        await h.checks_done()
        assert model.questions == 0 and h.engines.counters["end_of_turn_moot"] == 1
        h.stt.gate.set()
        await h.stopped(h.utterance("what is the capital of france"))
        done = await h.next("turn.done")
        assert done["user_text"] == "what is the capital of france"
