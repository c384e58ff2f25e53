"""The server-side wake word: microWakeWord models (pymicro-wakeword, Apache-2.0) gate a session's audio.

While a session is *armed*, its 16 kHz audio goes to the detector and nowhere else: no VAD, no speech
model, no chat model, no history, no media, no partials. When the wake word is heard the gate opens: the
last second and a half of audio (so the rest of "Hey Jarvis, what's the time?" is not lost) and everything
after it goes down the listening chain as usual, and the wake phrase is stripped from the transcript. The
gate stays open while the user speaks, while a reply runs or plays, and for a follow-up window after it
(`VOICECHAT_WAKE_FOLLOWUP_S`), then it arms again.

The models come from the pinned wheel and are checked against their pinned sha256 like every bundled
model (voicechat/bundles.py). A detector holds one stream's state; it costs about 0.6 % of one core per
stream (0.65 % p50 in 20 ms chunks, bench/wake.py), so it runs inline on the event loop like webrtcvad.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .bundles import Bundle, ModelFileError, PinnedFile
from .settings import Settings
from .stt import Transcript

log = logging.getLogger(__name__)

RATE = 16000
PREROLL_MS = 1500  # audio handed on from before the detection: the wake phrase itself and what followed
_PREROLL_BYTES = RATE * PREROLL_MS // 1000 * 2

_MODELS = "pymicro_wakeword/models/"
WAKE_MODELS = Bundle(
    title="wake word models (pymicro-wakeword)",
    requirements=("pymicro-wakeword==2.5.0", "pymicro-features==2.0.2"),
    files=(
        PinnedFile("alexa.json", (_MODELS + "alexa.json",),
                   "1d999798b35b1fe2606465b75ab840be51c1811d2909d5e620cefb6e96f8abd0"),
        PinnedFile("alexa.tflite", (_MODELS + "alexa.tflite",),
                   "9011a8155b04de858c48038529235cbc0e42e9fca05a55bf588cb80a653a723b"),
        PinnedFile("hey_jarvis.json", (_MODELS + "hey_jarvis.json",),
                   "b153867d818675d8abcc9dace474afe7f83551ae0d5a9b1d71a98681320185af"),
        PinnedFile("hey_jarvis.tflite", (_MODELS + "hey_jarvis.tflite",),
                   "21a7976add39ee24ec96c63d96b7aaa18e24d1d9824b963e451da8feb4b78b77"),
        PinnedFile("hey_mycroft.json", (_MODELS + "hey_mycroft.json",),
                   "57b2b06fe5fdbbe834a242fabc7af31e4194a550fc382b2c88636a6d62d0d57e"),
        PinnedFile("hey_mycroft.tflite", (_MODELS + "hey_mycroft.tflite",),
                   "c2a9b6ed51182db72e014781d5a4ece1929dc232a40b5b4be384f0295f0e1571"),
        PinnedFile("okay_nabu.json", (_MODELS + "okay_nabu.json",),
                   "f8026e2ce93a0855ca23483036fd2d74ee924a2588d9ea6a6c6c7478fbf4be57"),
        PinnedFile("okay_nabu.tflite", (_MODELS + "okay_nabu.tflite",),
                   "d89128c4d16a72de429119fb2254ce46649553c2a24f5dd840175c80d7b9d094"),
    ),
)

# How whisper writes each wake phrase's last word, besides the word itself ("Hey Mycroft" is often
# "Hey Microsoft"): the transcript is cut after it.
_SPELLINGS = {"hey_mycroft": ("microsoft",), "okay_nabu": ("nabo", "nagu", "noboo")}


@dataclass(frozen=True)
class WakeWord:
    """One bundled wake word: its name (`hey_jarvis`), the phrase (`Hey Jarvis`) and its model config."""

    name: str
    phrase: str
    config: Path
    cutoff: float
    languages: tuple[str, ...]


@dataclass(frozen=True)
class Detection:
    """The wake word was heard; `preroll` is the audio up to the detection (the phrase and what followed)."""

    word: str
    probability: float
    preroll: bytes = b""


class WakeDetector(Protocol):
    """One stream's detector: feed 16 kHz PCM16 mono, get a Detection once the word is heard."""

    word: str

    def feed(self, pcm16: bytes) -> Detection | None: ...

    def reset(self) -> None: ...


class MicroWakeDetector:
    """pymicro-wakeword's streaming model and feature frontend for one stream."""

    def __init__(self, word: WakeWord) -> None:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

        self.word = word.name
        self.model = MicroWakeWord.from_config(word.config)  # the verified copy, next to its .tflite
        self.features = MicroWakeWordFeatures()
        self.highest = 0.0  # the highest probability since the last reset (Wyoming `not-detected`)

    def feed(self, pcm16: bytes) -> Detection | None:
        model = self.model
        for frame in self.features.process_streaming(pcm16):
            probability = model.process_streaming_prob(frame)
            if probability is None:
                continue
            self.highest = max(self.highest, probability)
            if probability > model.probability_cutoff:
                return Detection(self.word, round(probability, 3))
        return None

    def reset(self) -> None:
        self.model.reset()
        self.features.reset()
        self.highest = 0.0


class WakeModels:
    """The verified wake word models of this process; `detector(name)` makes one stream's detector."""

    def __init__(self, words: dict[str, WakeWord]) -> None:
        self.words = words

    @property
    def names(self) -> list[str]:
        return sorted(self.words)

    def check(self, name: str) -> str:
        """`name` if it is a bundled wake word, else ValueError listing the available ones."""
        if name not in self.words:
            raise ValueError(f"unknown wake word {name!r}; available: {', '.join(self.names)}")
        return name

    def detector(self, name: str) -> WakeDetector:
        return MicroWakeDetector(self.words[self.check(name)])

    def phrase(self, name: str) -> str:
        return self.words[name].phrase


def load_wake_models(models_dir: Path) -> WakeModels:
    """The bundled wake words, each file checked against its pin (ModelFileError when one is not right)."""
    paths = WAKE_MODELS.prepare(models_dir)
    words = {}
    for name, path in paths.items():
        if not name.endswith(".json"):
            continue
        config = json.loads(path.read_text())
        word = name.removesuffix(".json")
        if paths.get(config["model"]) != path.with_name(config["model"]):
            raise ModelFileError(f"{path} names the model file {config['model']!r}, which is not pinned")
        words[word] = WakeWord(word, config["wake_word"], path, config["micro"]["probability_cutoff"],
                               tuple(config.get("trained_languages", ())))
    return WakeModels(words)


def wake_models_for(settings: Settings) -> WakeModels | None:
    """The wake words for this server: required when `VOICECHAT_WAKE_WORD` is set (a bad file or name
    stops startup with the reason), else loaded if they can be, so sessions may still turn one on."""
    try:
        models = load_wake_models(settings.models_dir)
    except (ModelFileError, ImportError, OSError) as exc:
        if settings.wake_word:
            raise
        log.warning("wake words unavailable (session.update wake_word will be refused): %s", exc)
        return None
    if settings.wake_word:
        try:
            models.check(settings.wake_word)
        except ValueError as exc:
            raise ValueError(f"VOICECHAT_WAKE_WORD: {exc}") from None
    return models


def check_wake_word(name: str | None, models: WakeModels | None) -> None:
    """ValueError (the session's `invalid_session`) unless `name` is off (None) or a bundled wake word."""
    if name is None:
        return
    if models is None:
        raise ValueError("wake words are not available on this server (pymicro-wakeword is not installed "
                         "properly; the server log says why)")
    models.check(name)


class WakeGate:
    """One session's gate: armed (audio goes only to the detector) or open (audio goes on to the VAD).

    Open lasts while the user speaks or a reply runs or plays, and `followup_s` after the last of these;
    the chain calls `still_open` with what it knows on every audio frame, and `listen` while armed.
    """

    def __init__(self, detector: WakeDetector, followup_s: float) -> None:
        self.detector = detector
        self.word = detector.word
        self.followup_s = followup_s
        self.armed = True
        self.open_until = 0.0
        self._recent = bytearray()  # the last PREROLL_MS of audio while armed

    def listen(self, pcm16: bytes) -> Detection | None:
        """Armed: feed the detector; the Detection carries the audio to hand on."""
        self._recent += pcm16
        del self._recent[:-_PREROLL_BYTES]
        detection = self.detector.feed(pcm16)
        if detection is not None:
            detection = dataclasses.replace(detection, preroll=bytes(self._recent))
        return detection

    def open(self, now: float) -> None:
        """The wake word was heard at `now`: open for the follow-up window (the request may come later)."""
        self.armed = False
        self.open_until = now + self.followup_s
        self._recent.clear()

    def still_open(self, now: float, active: bool, audible_until: float) -> bool:
        """Open: keep it open while `active` (speech or a turn) and until the follow-up after the reply has
        played; False when the window has passed: the gate armed again (detector reset)."""
        if active:
            self.open_until = max(self.open_until, now + self.followup_s)
        self.open_until = max(self.open_until, audible_until + self.followup_s)
        if now < self.open_until:
            return True
        self.arm()
        return False

    def arm(self) -> None:
        self.armed = True
        self.detector.reset()
        self._recent.clear()


_WORD = re.compile(r"[\w']+")


def strip_wake_word(transcript: Transcript, word: str, phrase: str) -> Transcript:
    """The transcript without a leading wake phrase ("Hey Jarvis, what's the time?" -> "what's the time?").

    The phrase's last word is looked for among the first few words (the pre-roll may also hold the end of
    what was said before it, or a clipped "hey"); whisper's spelling may differ a little.
    """
    last = phrase.lower().split()[-1]
    spellings = (last, *_SPELLINGS.get(word, ()))
    words = list(_WORD.finditer(transcript.text))
    for match in words[: len(phrase.split()) + 3]:
        token = match.group().lower()
        if any(token == s or difflib.SequenceMatcher(None, token, s).ratio() >= 0.8 for s in spellings):
            rest = transcript.text[match.end():].lstrip(" ,.!?;:-")
            return dataclasses.replace(transcript, text=rest[:1].upper() + rest[1:])
    return transcript
