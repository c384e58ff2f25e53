"""The shared STT scheduler and the short-window fast path, on the real bundled whisper model."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.conftest import make_settings
from tests.speech import piper_speech, silence, wer
from voicechat.scheduler import SttBusy, SttScheduler
from voicechat.stt import Abandoned, WhisperSTT, looks_looped, normalise

SAID = ["What time is it in Tokyo?", "Turn off the bedroom lights.", "How tall is Mount Everest?",
        "What is the capital of France?"]


@pytest.fixture(scope="module")
def whisper() -> WhisperSTT:
    return WhisperSTT(make_settings())


def utterance(text: str) -> bytes:
    return silence(300) + piper_speech(text) + silence(150)


def scheduler(whisper: WhisperSTT, **overrides: object) -> SttScheduler:
    return SttScheduler(whisper, make_settings(**overrides))


def test_the_short_window_hears_what_the_full_window_hears(whisper: WhisperSTT):
    audio = [utterance(text) for text in SAID]
    short = [whisper.transcribe_sync(pcm, "en").text for pcm in audio]
    full = [whisper._transcribe_full(whisper_float(pcm), "en", None, False).text for pcm in audio]
    assert wer(SAID, short) <= wer(SAID, full) + 0.05, (short, full)
    assert whisper.short_window_runs >= len(SAID)


def whisper_float(pcm: bytes):  # type: ignore[no-untyped-def]
    from voicechat.audio import pcm16_to_float

    return pcm16_to_float(pcm)


def test_a_looping_decode_is_recognised():
    assert looks_looped("turn off the bedroom lights turn off the bedroom lights turn off the")
    assert looks_looped("Mi se tis tis tis tis tis tokio.")
    assert not looks_looped("Remember to buy fresh bread and a bottle of orange juice.")
    assert not looks_looped("What is the capital of France?")


async def test_finals_wait_in_order_and_a_full_queue_refuses_at_once(whisper: WhisperSTT):
    queue = scheduler(whisper, stt_queue_max=2)
    first = asyncio.create_task(queue.transcribe(utterance(SAID[0]), "en"))
    second = asyncio.create_task(queue.transcribe(utterance(SAID[1]), "en"))
    third = asyncio.create_task(queue.transcribe(utterance(SAID[2]), "en"))
    results = await asyncio.gather(first, second, third, return_exceptions=True)
    await queue.close()
    assert isinstance(results[2], SttBusy)
    assert wer(SAID[:2], [r.text for r in results[:2]]) <= 0.1  # type: ignore[union-attr]
    assert queue.stats.refused == 1 and queue.stats.finals == 2


async def test_finals_go_before_partials_and_a_newer_partial_replaces_an_older(whisper: WhisperSTT):
    queue = scheduler(whisper)
    finished: list[str] = []

    async def tagged(name: str, call) -> object:  # type: ignore[no-untyped-def]
        result = await call
        finished.append(name)
        return result

    def partial(text: str):  # type: ignore[no-untyped-def]
        return queue.partial(utterance(text), "en", None, "s1")

    old_partial = asyncio.create_task(tagged("old partial", partial(SAID[0])))
    new_partial = asyncio.create_task(tagged("new partial", partial(SAID[1])))
    final = asyncio.create_task(tagged("final", queue.transcribe(utterance(SAID[2]), "en")))
    old, new, done = await asyncio.gather(old_partial, new_partial, final)
    await queue.close()
    assert old is None  # superseded before it ran
    assert finished.index("final") < finished.index("new partial")
    assert "turn off" in normalise(new.text) and "everest" in normalise(done.text)
    assert queue.stats.partials == 1 and queue.stats.partials_skipped == 1


async def test_waiting_finals_share_one_model_call(whisper: WhisperSTT):
    queue = scheduler(whisper, stt_batch_max=4)
    results = await asyncio.gather(*(queue.transcribe(utterance(text), "en") for text in SAID))
    await queue.close()
    assert queue.stats.max_batch == 4 and queue.stats.batches == 1
    assert wer(SAID, [r.text for r in results]) <= 0.1, [r.text for r in results]


async def test_admission_is_refused_while_finals_would_wait_too_long(whisper: WhisperSTT):
    queue = scheduler(whisper, stt_admission_wait_ms=100)
    assert queue.overloaded() is None

    async def check() -> str | None:  # runs after the four have queued (tasks start in order)
        return queue.overloaded()

    *_, reason = await asyncio.gather(*(queue.transcribe(utterance(text), "en") for text in SAID), check())
    assert reason is not None and "capacity" in reason
    assert queue.overloaded() is None
    await queue.close()


async def test_a_final_whose_caller_gave_up_is_never_run(whisper: WhisperSTT):
    queue = scheduler(whisper)
    abandoned = asyncio.create_task(queue.transcribe(utterance(SAID[0]), "en"))

    async def give_up() -> None:  # runs after `abandoned` has queued its final, before the worker starts
        abandoned.cancel()

    kept = asyncio.create_task(queue.transcribe(utterance(SAID[1]), "en"))
    await asyncio.gather(asyncio.create_task(give_up()), kept)
    await queue.close()
    assert abandoned.cancelled()
    assert queue.stats.finals == 1 and "bedroom" in normalise(kept.result().text)


def test_a_transcription_nobody_waits_for_stops_before_the_decoder(whisper: WhisperSTT):
    from voicechat.audio import pcm16_to_float

    asked: list[int] = []

    def wanted_until_encoded() -> bool:  # still wanted before the encoder, given up before the decoder
        asked.append(1)
        return len(asked) < 2

    runs = whisper.short_window_runs
    with pytest.raises(Abandoned):
        whisper.transcribe_batch_sync([pcm16_to_float(utterance(SAID[0]))], "en", None, wanted_until_encoded)
    assert len(asked) == 2 and whisper.short_window_runs == runs  # nothing was decoded
    heard = whisper.transcribe_sync(utterance(SAID[0]), "en", wanted=lambda: True)
    assert "tokyo" in normalise(heard.text)


def busy_model(whisper: WhisperSTT) -> threading.Event:
    """Hold the model's one thread with other work; set the returned event to let it go."""
    release = threading.Event()
    whisper._pool.submit(release.wait)
    return release


async def until_taken(queue: SttScheduler) -> None:
    """Let the scheduler's worker take the queued job (it then waits for the model's thread)."""
    for _ in range(100):  # loop turns, not time: the worker needs only a few
        if queue._running:
            return
        await asyncio.sleep(0)
    raise AssertionError("the worker never took the job")


async def test_a_guess_given_up_while_it_waits_for_the_model_never_reaches_it(whisper: WhisperSTT):
    # A wrong guess (speech went on) whose call the worker already took: the next utterance must not wait
    # behind its transcription.
    queue = scheduler(whisper)
    release = busy_model(whisper)
    runs = whisper.short_window_runs
    guess = asyncio.create_task(queue.transcribe(utterance(SAID[0]), "en"))
    await until_taken(queue)
    guess.cancel()
    release.set()
    final = await queue.transcribe(utterance(SAID[1]), "en")
    await queue.close()
    assert guess.cancelled() and "bedroom" in normalise(final.text)
    assert queue.stats.abandoned == 1 and whisper.short_window_runs == runs + 1  # the final alone


async def test_a_partial_the_model_has_taken_stops_when_it_is_dropped(whisper: WhisperSTT):
    queue = scheduler(whisper)
    release = busy_model(whisper)
    runs = whisper.short_window_runs
    look = asyncio.create_task(queue.partial(utterance(SAID[0]), "en", None, "s1"))
    await until_taken(queue)
    queue.drop_partial("s1")  # the speech paused for a guess, or ended
    release.set()
    final = await queue.transcribe(utterance(SAID[1]), "en")
    await queue.close()
    assert await look is None and "bedroom" in normalise(final.text)
    assert queue.stats.abandoned == 1 and whisper.short_window_runs == runs + 1


async def test_piper_speaks_a_new_replys_first_sentence_before_other_replies_later_ones():
    from voicechat.tts import PiperTTS

    piper = PiperTTS(make_settings())
    finished: list[str] = []

    async def speak(name: str, first: bool) -> None:
        async for _chunk in piper.synthesize(f"This is sentence {name} of a reply.", first=first):
            pass
        finished.append(name)

    later = [speak(f"later {n}", first=False) for n in range(4)]
    await asyncio.gather(*later, speak("first", first=True))
    # At most the sentence already on the CPU when it arrived goes before it.
    assert finished.index("first") <= 1, finished
