"""Wyoming's `wake` service: Home Assistant (or a satellite) sends `detect`, then audio; we answer each time
the wake word is heard with `detection`, and with `not-detected` when the audio stops without one.

The detectors are the session's own (voicechat/wake.py): the bundled microWakeWord models, one detector
per word asked for (all of them when `detect` names none). A satellite may stream for hours: after a
detection the detector starts afresh and keeps listening on the same stream.
"""

from __future__ import annotations

from wyoming.audio import AudioChunk, AudioChunkConverter
from wyoming.event import Event
from wyoming.info import Attribution, WakeModel, WakeProgram
from wyoming.wake import Detect, Detection, NotDetected

from .. import __version__
from ..wake import RATE, WakeDetector, WakeModels
from .wyoming_checks import BadEvent, check_format

ATTRIBUTION = Attribution(name="microWakeWord (pymicro-wakeword)", url="https://github.com/kahrendt/microWakeWord")


def wake_programs(models: WakeModels | None) -> list[WakeProgram]:
    """What `describe` lists under `wake` (nothing when the models are not installed)."""
    if models is None:
        return []
    return [WakeProgram(
        name="voicechat-wake", attribution=ATTRIBUTION, installed=True, version=__version__,
        description="microWakeWord wake words, on the server",
        models=[WakeModel(name=name, attribution=ATTRIBUTION, installed=True, version=None,
                          description=models.phrase(name), phrase=models.phrase(name),
                          languages=list(models.words[name].languages))
                for name in models.names],
    )]


def _resolve(models: WakeModels, names: list[str] | None) -> list[str]:
    """Our names for the words asked for, by name (`hey_jarvis`) or phrase (`Hey Jarvis`); all if none."""
    if not names:
        return models.names
    by_phrase = {models.phrase(n).lower(): n for n in models.names}
    found = [n if n in models.words else by_phrase.get(n.lower().replace("_", " ")) for n in names]
    known = [n for n in found if n is not None]
    if not known:
        raise BadEvent(f"detect: no such wake word {', '.join(map(repr, names))}; "
                       f"available: {', '.join(models.names)}")
    return list(dict.fromkeys(known))


class WakeStream:
    """One `detect` request: its detectors, fed the audio that follows until `audio-stop`."""

    def __init__(self, models: WakeModels | None, request: Detect) -> None:
        if models is None:
            raise BadEvent("detect: wake words are not available on this server (see its log)")
        self.context = request.context
        self.detectors: list[WakeDetector] = [models.detector(n) for n in _resolve(models, request.names)]
        self.converter = AudioChunkConverter(rate=RATE, width=2, channels=1)
        self.position_ms = 0.0  # audio heard since audio-start
        self.detected = False

    def start(self) -> None:
        for detector in self.detectors:
            detector.reset()
        self.position_ms = 0.0

    def feed(self, chunk: AudioChunk) -> list[Event]:
        """`detection` for each word heard in this chunk."""
        check_format("audio-chunk", chunk.rate, chunk.width, chunk.channels)
        pcm = self.converter.convert(chunk).audio
        self.position_ms += len(pcm) / (RATE * 2 / 1000)
        found = []
        for detector in self.detectors:
            detection = detector.feed(pcm)
            if detection is None:
                continue
            self.detected = True
            detector.reset()  # a satellite streams on: listen for the next time
            timestamp = chunk.timestamp if chunk.timestamp is not None else round(self.position_ms)
            found.append(Detection(name=detection.word, timestamp=timestamp, context=self.context).event())
        return found

    def stop(self) -> Event | None:
        """At `audio-stop`: `not-detected` if the word was never heard."""
        return None if self.detected else NotDetected(context=self.context).event()
