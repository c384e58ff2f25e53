"""Segmenter on synthesized speech: one utterance per spoken sentence, pre-roll kept, limits honoured."""

from __future__ import annotations

from tests.speech import noise, piper_speech, silence
from voicechat.vad import Segmenter, SegmenterConfig, SpeechStarted, SpeechStopped


def stops_of(segmenter: Segmenter, pcm: bytes) -> list[SpeechStopped]:
    return [e for e in run(segmenter, pcm) if isinstance(e, SpeechStopped)]


def run(segmenter: Segmenter, pcm: bytes, chunk: int = 640) -> list[SpeechStarted | SpeechStopped]:
    events: list[SpeechStarted | SpeechStopped] = []
    for offset in range(0, len(pcm), chunk):
        events += segmenter.feed(pcm[offset : offset + chunk], arrived=offset / 32000)
    return events


def test_two_sentences_give_two_utterances():
    pcm = silence(400) + piper_speech("Turn on the kitchen lights.") + silence(1200) \
        + piper_speech("And play some music.") + silence(1200)
    events = run(Segmenter(SegmenterConfig(hangover_ms=600)), pcm)
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    stops = [e for e in events if isinstance(e, SpeechStopped)]
    assert len(starts) == 2 and len(stops) == 2
    assert all(s.utterance is not None for s in stops)
    assert starts[0].at_ms >= 300 and starts[0].at_ms < 700


def test_preroll_keeps_audio_before_onset():
    speech = piper_speech("Hello there.")
    pcm = silence(600) + speech + silence(900)
    stop = stops_of(Segmenter(SegmenterConfig(preroll_ms=300)), pcm)[0]
    assert stop.utterance is not None
    # The utterance starts before the onset was declared, so the first phoneme is inside it.
    assert stop.utterance.start_ms <= 600
    assert stop.utterance.duration_ms >= len(speech) / 32 - 100


def test_hangover_is_configurable():
    # A 400 ms pause splits the sentence with a 300 ms hangover but not with 800 ms.
    pcm = piper_speech("One two three.") + silence(400) + piper_speech("Four five six.") + silence(1200)
    short = [e for e in run(Segmenter(SegmenterConfig(hangover_ms=300)), pcm) if isinstance(e, SpeechStopped)]
    long = [e for e in run(Segmenter(SegmenterConfig(hangover_ms=800)), pcm) if isinstance(e, SpeechStopped)]
    assert len(short) == 2
    assert len(long) == 1


def test_noise_and_clicks_are_not_speech():
    click = (b"\xff\x7f" * 80) + bytes(640)
    pcm = noise(2000) + click + noise(1000)
    events = run(Segmenter(SegmenterConfig(min_speech_ms=250)), pcm)
    assert all(e.utterance is None for e in events if isinstance(e, SpeechStopped))


def test_max_utterance_forces_a_cut():
    pcm = b"".join(piper_speech("This is a long monologue that keeps on going.") for _ in range(3))
    events = run(Segmenter(SegmenterConfig(max_utterance_s=2.0, hangover_ms=2000)), pcm + silence(2500))
    stops = [e for e in events if isinstance(e, SpeechStopped)]
    assert stops[0].reason == "max_length"
    assert stops[0].utterance is not None and stops[0].utterance.duration_ms <= 2000 + 30


def test_push_to_talk_holds_until_commit():
    pcm = silence(300) + piper_speech("Pause.") + silence(1500) + piper_speech("Then more.") + silence(300)
    segmenter = Segmenter(SegmenterConfig(hangover_ms=300), hold=True)
    events = run(segmenter, pcm)
    assert not [e for e in events if isinstance(e, SpeechStopped)]
    stop = segmenter.commit()
    assert stop is not None and stop.utterance is not None
    assert stop.utterance.duration_ms > 2500  # both words and the pause between them


def test_commit_without_speech_is_nothing():
    segmenter = Segmenter(hold=True)
    run(segmenter, silence(500))
    stop = segmenter.commit()
    assert stop is not None and stop.utterance is None
    assert Segmenter().commit() is None


def test_last_voiced_time_is_the_end_of_speech():
    speech = piper_speech("Good morning.")
    pcm = speech + silence(1000)
    stop = stops_of(Segmenter(SegmenterConfig(hangover_ms=500)), pcm)[0]
    assert stop.utterance is not None
    speech_end_s = len(speech) / 32000
    # arrival stamps are the chunk offsets in seconds here; the last voiced chunk is near the speech end
    assert abs(stop.utterance.last_voiced_at - speech_end_s) < 0.35


def test_a_pause_announces_the_utterance_the_hangover_then_confirms():
    pcm = silence(300) + piper_speech("Turn on the kitchen lights.") + silence(1000)
    events = run(Segmenter(SegmenterConfig(hangover_ms=500, speculate_ms=150)), pcm)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["SpeechStarted", "SpeechPaused", "SpeechStopped"], kinds
    paused, stopped = events[1], events[2]
    # The bet and the final cut are the same audio, so a speculative turn can simply be confirmed.
    assert stopped.utterance is not None and paused.utterance.pcm == stopped.utterance.pcm
    assert paused.at_ms == stopped.at_ms


def test_speech_after_a_pause_calls_the_bet_off():
    pcm = silence(300) + piper_speech("Remember to buy fresh bread") + silence(350) \
        + piper_speech("and a bottle of orange juice.") + silence(1000)
    events = run(Segmenter(SegmenterConfig(hangover_ms=500, speculate_ms=150)), pcm)
    kinds = [type(e).__name__ for e in events]
    assert "SpeechResumed" in kinds and kinds[-1] == "SpeechStopped"
    assert kinds.count("SpeechStopped") == 1  # still one utterance
    assert kinds.index("SpeechPaused") < kinds.index("SpeechResumed")
    last_bet = [e for e in events if type(e).__name__ == "SpeechPaused"][-1]
    assert last_bet.utterance.pcm == events[-1].utterance.pcm
    first_bet = [e for e in events if type(e).__name__ == "SpeechPaused"][0]
    assert len(first_bet.utterance.pcm) < len(last_bet.utterance.pcm)


def test_no_pauses_without_speculation_or_in_push_to_talk():
    pcm = silence(300) + piper_speech("Turn on the kitchen lights.") + silence(1000)
    plain = [type(e).__name__ for e in run(Segmenter(SegmenterConfig(hangover_ms=500)), pcm)]
    held = Segmenter(SegmenterConfig(hangover_ms=500, speculate_ms=150), hold=True)
    assert plain == ["SpeechStarted", "SpeechStopped"]
    assert [type(e).__name__ for e in run(held, pcm)] == ["SpeechStarted"]
