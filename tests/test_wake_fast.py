"""The wake gate's state machine on scripted engines: armed -> heard -> the request -> follow-up -> armed
again, barge-in, and `session.update` of the wake word. The real detector is in tests/test_wake.py."""

from __future__ import annotations

import asyncio
import time

from tests.fakes.engines import ScriptedWake
from tests.session_harness import Harness

FRAME = bytes(960)  # 30 ms of 16 kHz silence: what reaches the gate between utterances


def wake_harness(**overrides: object) -> tuple[Harness, ScriptedWake]:
    wake = ScriptedWake()
    return Harness(wake=wake, wake_word="hey_jarvis", wake_followup_s=8.0, **overrides), wake


async def hear_wake_word(h: Harness, wake: ScriptedWake, at: float | None = None) -> dict[str, object]:
    wake.fire()
    await h.session.feed_audio(FRAME, arrived=time.monotonic() if at is None else at)
    return await h.next("wake.detected")


async def test_while_armed_nothing_said_reaches_the_speech_model_the_chat_or_the_history() -> None:
    h, wake = wake_harness()
    async with h:
        assert h.session.config.public()["wake_word"] == "hey_jarvis"
        await h.session.feed_audio(FRAME)
        assert wake.fed == len(FRAME)  # the audio went to the detector
        await h.say("draw a red fox in the snow")
        await h.idle()
        assert h.events == [] and h.stt.heard == [] and h.chat.asked == []
        assert h.session.history.messages() == []


async def test_the_wake_word_opens_the_gate_and_is_cut_from_the_request() -> None:
    h, wake = wake_harness()
    async with h:
        detected = await hear_wake_word(h, wake)
        assert detected == {"type": "wake.detected", "word": "hey_jarvis", "probability": 0.99}
        await h.say("Hey Jarvis, what time is it?")
        transcript = await h.next("transcript")
        assert transcript["text"] == "What time is it?"
        done = await h.next("turn.done")
        assert done["status"] == "completed"
        assert h.chat.asked[0][-1] == {"role": "user", "content": "What time is it?"}


async def test_the_wake_word_alone_is_not_a_request_and_the_next_utterance_is() -> None:
    h, wake = wake_harness()
    async with h:
        await hear_wake_word(h, wake)
        await h.say("Hey Jarvis.")
        ignored = await h.next("transcript.ignored")
        assert ignored["reason"] == "empty" and h.chat.asked == []
        await h.say("what is the capital of France")
        assert (await h.next("transcript"))["text"] == "what is the capital of France"
        await h.next("turn.done", status="completed")


async def test_a_follow_up_needs_no_wake_word_until_the_window_passes() -> None:
    h, wake = wake_harness()
    async with h:
        await hear_wake_word(h, wake)
        await h.say("what is the capital of France")
        await h.next("turn.done", status="completed")
        now = time.monotonic()
        reply_ends = h.session.audible_until
        assert reply_ends > now  # the reply is still playing on the client
        await h.session.feed_audio(FRAME, arrived=reply_ends + 7.9)  # inside the follow-up window
        await h.say("and of Spain")
        assert (await h.next("transcript"))["text"] == "and of Spain"
        await h.next("turn.done", status="completed")
        asked = len(h.chat.asked)
        later = h.session.audible_until + 8.1
        await h.session.feed_audio(FRAME, arrived=later)
        assert await h.next("wake.armed") == {"type": "wake.armed", "word": "hey_jarvis"}
        await h.say("and of Italy")
        await h.session.feed_audio(FRAME, arrived=later + 1)
        await h.idle()
        assert len(h.chat.asked) == asked and "and of Italy" not in h.stt.heard
        await hear_wake_word(h, wake, at=later + 2)  # and the word opens it again
        await h.say("and of Italy")
        assert (await h.next("transcript"))["text"] == "and of Italy"


async def test_the_window_stays_open_while_the_user_is_still_speaking() -> None:
    h, wake = wake_harness()
    async with h:
        now = time.monotonic()
        await hear_wake_word(h, wake, at=now)
        await h.speech_started()
        h.session.listening.segmenter.speaking = True  # as the real VAD would be mid-utterance
        await h.session.feed_audio(FRAME, arrived=now + 20)
        assert "wake.armed" not in h.kinds()


async def test_barge_in_still_stops_a_reply() -> None:
    h, wake = wake_harness()
    async with h:
        h.chat.gate, h.chat.gate_after = asyncio.Event(), 2
        await hear_wake_word(h, wake)
        await h.say("tell me a long story")
        await h.until(h.chat.stalled)
        await h.speech_started()
        stop = await h.next("reply.stop")
        assert stop["reason"] == "barge_in"
        h.chat.gate.set()
        assert (await h.next("turn.done"))["status"] == "interrupted"


async def test_session_update_turns_the_wake_word_off_and_on_and_refuses_unknown_ones() -> None:
    wake = ScriptedWake()
    async with Harness(wake=wake) as h:
        await h.say("hello")  # no wake word: answered as always
        await h.next("turn.done", status="completed")
        await h.send("session.update", session={"wake_word": "hey_jarvis"})
        assert (await h.next("session.updated"))["session"]["wake_word"] == "hey_jarvis"
        await h.say("are you there")
        await h.idle()
        assert "are you there" not in h.stt.heard
        try:
            await h.send("session.update", session={"wake_word": "hey_siri"})
            raise AssertionError("an unknown wake word was accepted")
        except Exception as exc:  # the door turns this into an `invalid_session` error event
            assert getattr(exc, "code", None) == "invalid_session"
            assert "hey_siri" in str(exc) and "available: hey_jarvis" in str(exc)
        assert h.session.config.wake_word == "hey_jarvis"  # unchanged
        await h.send("session.update", session={"wake_word": None})
        assert (await h.next("session.updated"))["session"]["wake_word"] is None
        await h.say("are you there")
        assert (await h.next("transcript"))["text"] == "are you there"


async def test_without_wake_models_a_wake_word_is_refused_clearly() -> None:
    async with Harness() as h:
        try:
            await h.send("session.update", session={"wake_word": "hey_jarvis"})
            raise AssertionError("accepted without models")
        except Exception as exc:
            assert getattr(exc, "code", None) == "invalid_session" and "not available" in str(exc)


async def test_push_to_talk_needs_no_wake_word() -> None:
    h, wake = wake_harness(turn_mode="push_to_talk")
    async with h:
        await h.say("what time is it")
        assert (await h.next("transcript"))["text"] == "what time is it"
