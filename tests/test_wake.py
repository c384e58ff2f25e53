"""The real wake word detector (pymicro-wakeword's bundled models) on synthesized speech: it hears the
word, it is not fooled by a negative set, its files are pinned, and a leading wake phrase is cut."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from tests.speech import _piper, espeak_speech, piper_speech, silence
from voicechat.audio import resample_pcm16
from voicechat.bundles import ModelFileError
from voicechat.stt import Transcript
from voicechat.wake import WAKE_MODELS, WakeGate, load_wake_models, strip_wake_word

# Negatives: everyday requests, near misses ("Jarvis" without "hey", "hey" + another name, "service"), and
# the other wake words, spoken by Piper at three speeds and by several espeak-ng voices.
NEGATIVES = [
    "Draw a red fox in the snow.",
    "What is the capital of France?",
    "Turn on the kitchen lights.",
    "Hey, are you there?",
    "Jarvis, what time is it?",
    "Hey Travis, pass me the salt.",
    "Hey Marcus, how was the service?",
    "Harvest season starts in the autumn.",
    "Okay, now play some music.",
    "Alexa, set a timer for ten minutes.",
    "Hey Mycroft, what is the weather like?",
    "Okay Nabu, turn off the fan.",
    "I'm heading to the garage for a while.",
    "Have you seen my glasses anywhere?",
]
FAST, SLOW = 0.85, 1.25
ESPEAK_VOICES = ["en-us", "en-gb", "en-us+f3"]


@functools.lru_cache(maxsize=64)
def piper_at(text: str, length_scale: float) -> bytes:
    """`text` spoken by the bundled Piper voice at another speed (length_scale > 1 is slower)."""
    from piper import SynthesisConfig

    voice = _piper()
    config = SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text, syn_config=config))
    return resample_pcm16(pcm, voice.config.sample_rate, 16000)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return load_wake_models(tmp_path_factory.mktemp("models"))


def hears(models, word: str, pcm: bytes, chunk: int = 1280) -> float | None:  # type: ignore[no-untyped-def]
    """The probability the detector reported the word at, fed `chunk` bytes at a time; None if not heard."""
    detector = models.detector(word)
    audio = silence(300) + pcm + silence(800)
    for offset in range(0, len(audio), chunk):
        detection = detector.feed(audio[offset : offset + chunk])
        if detection is not None:
            return detection.probability
    return None


def test_the_bundled_words_are_the_four_in_the_wheel(models) -> None:  # type: ignore[no-untyped-def]
    assert models.names == ["alexa", "hey_jarvis", "hey_mycroft", "okay_nabu"]
    assert models.phrase("hey_jarvis") == "Hey Jarvis"
    with pytest.raises(ValueError, match="available: alexa, hey_jarvis, hey_mycroft, okay_nabu"):
        models.check("hey_siri")


@pytest.mark.parametrize("text", ["Hey Jarvis, what is the capital of France?", "Hey Jarvis.",
                                  "Hey Jarvis, draw a red fox in the snow."])
def test_hey_jarvis_is_heard(models, text: str) -> None:  # type: ignore[no-untyped-def]
    for pcm in (piper_speech(text), piper_at(text, FAST), piper_at(text, SLOW)):
        probability = hears(models, "hey_jarvis", pcm)
        assert probability is not None and probability > 0.97


def test_no_false_wake_on_the_negative_set(models) -> None:  # type: ignore[no-untyped-def]
    utterances = [(f"piper x{scale}", text, piper_at(text, scale)) for text in NEGATIVES
                  for scale in (FAST, 1.0, SLOW)]
    utterances += [(voice, text, espeak_speech(text, voice=voice)) for text in NEGATIVES[:8]
                   for voice in ESPEAK_VOICES]
    assert len(utterances) >= 20
    woken = [(who, text) for who, text, pcm in utterances if hears(models, "hey_jarvis", pcm)]
    assert woken == []


def test_the_gate_hands_on_the_phrase_and_what_followed(models) -> None:  # type: ignore[no-untyped-def]
    gate = WakeGate(models.detector("hey_jarvis"), followup_s=8.0)
    audio = silence(3000) + piper_speech("Hey Jarvis, what is the capital of France?")
    detection = None
    for offset in range(0, len(audio), 960):
        detection = gate.listen(audio[offset : offset + 960])
        if detection is not None:
            break
    assert detection is not None
    assert len(detection.preroll) == 16000 * 2 * 3 // 2  # 1.5 s, all of it the wake phrase's side
    gate.open(100.0)
    assert not gate.armed and gate.still_open(107.9, False, 0.0)
    assert not gate.still_open(108.1, False, 0.0) and gate.armed


def test_an_altered_model_file_stops_loading_with_both_hashes(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pymicro_wakeword

    fake = tmp_path / "site" / "pymicro_wakeword"
    shutil.copytree(Path(pymicro_wakeword.__file__).parent, fake)
    (fake / "models" / "hey_jarvis.tflite").write_bytes(b"not the model")
    monkeypatch.syspath_prepend(str(fake.parent))
    monkeypatch.delitem(__import__("sys").modules, "pymicro_wakeword")
    with pytest.raises(ModelFileError) as err:
        load_wake_models(tmp_path / "models")
    message = str(err.value)
    assert "hey_jarvis.tflite" in message and WAKE_MODELS.files[3].sha256 in message
    reinstall = "pip install --force-reinstall --no-deps pymicro-wakeword==2.5.0 pymicro-features==2.0.2"
    assert reinstall in message


@pytest.mark.parametrize(("heard", "request_text"), [
    ("Hey Jarvis, what is the capital of France?", "What is the capital of France?"),
    ("Jarvis, what time is it?", "What time is it?"),
    ("— hey, Jarvis. Turn on the lights.", "Turn on the lights."),
    ("Hey Jarvis.", ""),
    ("What is the capital of France?", "What is the capital of France?"),
])
def test_a_leading_wake_phrase_is_cut(heard: str, request_text: str) -> None:
    result = strip_wake_word(Transcript(text=heard, language="en"), "hey_jarvis", "Hey Jarvis")
    assert result.text == request_text

