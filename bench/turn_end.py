"""Thinking pauses and end-of-turn speed: smart-turn against the fixed silence hangover, same audio, one run.

Each thinking-pause utterance is one question with a 0.7-0.9 s pause in the middle ("I was wondering if
you could tell me … what the capital of Japan is."), spoken by Piper and by espeak-ng in one breath with a
comma at the pause, whose short silence is then widened (so the first half keeps the tone of a sentence
that goes on). It should stay one turn.
Complete questions (bench/latency.py's list, both voices) should still end fast: for them the bench
reports the silence waited before the turn ended, plus the model's own time.

The audio goes through the server's own `Segmenter` with the shipped settings, and the session's rule:
at `EndCheck` the model decides, and a "complete" whose speculative transcript (whisper, as the server
runs it at the pause) trails off on "the", "to", "…" counts as incomplete. Verdicts apply as soon as they
are computed; the model's own time is measured in the same run.

Rows "+ resume" add what the server does after the model ended a turn: speech resuming within
`END_OF_TURN_MAX_MS` of silence, before the reply is heard, continues the same turn (the ended one is
taken back). The bench has no reply; `--heard-after-ms` says when one would be heard (ms after the speech
end; the first audio p50 of bench/latency.py on the box is the honest value), 0 = not within the pause.

    python bench/turn_end.py
    python bench/turn_end.py --check-ms 150,200,250 --max-ms 2500 --hangover-ms 600
    python bench/turn_end.py --threshold 0.5,0.7 --vad webrtc,silero --show
    python bench/turn_end.py --heard-after-ms 0,1000
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import benchkit  # noqa: I001  (first: puts the checkout on sys.path)
import numpy as np
from benchkit import pct
from latency import UTTERANCES

from tests.speech import espeak_speech, piper_speech, silence
from voicechat import smart_turn
from voicechat.settings import Settings
from voicechat.stt import WhisperSTT
from voicechat.vad import (
    EndCheck,
    Segmenter,
    SegmenterConfig,
    SegmentEvent,
    SpeechPaused,
    SpeechStarted,
    SpeechStopped,
)

THINKING = [
    ("I was wondering if you could tell me", "what the capital of Japan is."),
    ("Can you remind me to", "call my sister tomorrow morning?"),
    ("I would like to know how many", "minutes there are in three hours."),
    ("Could you tell me who", "painted the Mona Lisa?"),
    ("What I really want to know is", "how tall Mount Everest is."),
    ("Please set a timer for", "twenty minutes."),
    ("I think I need to", "buy some bread on the way home."),
    ("Do you know what the", "largest ocean on Earth is?"),
    ("My favourite thing to do on weekends is", "going for a long walk."),
    ("Can you play some music that is", "good for studying?"),
    ("Tell me about the history of", "the Roman Empire."),
    ("I am looking for a recipe with", "chicken and rice."),
]
PAUSES_MS = (700, 800, 900)
CHUNK = 640  # 20 ms of 16 kHz PCM16, as the page sends it


def stretch_pause(pcm: bytes, pause_ms: int) -> bytes:
    """Widen the longest quiet stretch inside the speech (the comma's) to `pause_ms` of silence."""
    samples = np.frombuffer(pcm, "<i2").astype(np.float32)
    step = 160  # 10 ms
    energy = np.array([np.abs(samples[i : i + step]).mean() for i in range(0, len(samples) - step, step)])
    quiet = energy < 0.02 * energy.max()
    voiced = np.flatnonzero(~quiet)
    best, run_start = (0, 0), None
    for i in range(voiced[0], voiced[-1] + 1):
        if quiet[i] and run_start is None:
            run_start = i
        elif not quiet[i] and run_start is not None:
            if i - run_start > best[1] - best[0]:
                best = (run_start, i)
            run_start = None
    return pcm[: best[0] * step * 2] + silence(pause_ms) + pcm[best[1] * step * 2 :]


def thinking_sets() -> dict[str, list[bytes]]:
    """Each question said in one breath with a comma where the thought stops, that pause then widened:
    the first half keeps the tone of a sentence that goes on."""
    sets: dict[str, list[bytes]] = {"piper": [], "espeak-ng": []}
    for index, (first, second) in enumerate(THINKING):
        pause = PAUSES_MS[index % len(PAUSES_MS)]
        sets["piper"].append(stretch_pause(piper_speech(f"{first}, {second}"), pause))
        sets["espeak-ng"].append(stretch_pause(espeak_speech(f"{first}, {second}"), pause))
    return sets


@dataclass
class Detector:
    """One row of the table: what ends turns, and how."""

    name: str
    config: SegmenterConfig
    model: smart_turn.SmartTurn | None
    threshold: float
    settings: Settings  # the voice detector (webrtcvad or Silero) comes from these
    resume: bool = False  # speech resuming after a model-ended turn continues it (until a reply is heard)
    heard_after_ms: int = 0  # when that reply would be heard, after the speech end (0: not within the pause)


_heard: dict[bytes, str] = {}


def transcript(whisper: WhisperSTT, pcm: bytes) -> str:
    """The speculative guess's transcript, as the server makes it at the pause (the same audio gives the same
    text; cached across rows)."""
    if pcm not in _heard:
        _heard[pcm] = whisper.transcribe_sync(pcm, "en").text
    return _heard[pcm]


def run(pcm: bytes, row: Detector, whisper: WhisperSTT | None, check_ms: list[float],
        trace: list[str] | None = None) -> list[tuple[float, float]]:
    """The utterances the server would cut from `pcm`: (speech end ms, turn end ms) each.

    The session's rule: at a pause the speculative guess is transcribed; at `EndCheck` the model judges the
    audio, and a "complete" whose transcript trails off ("… tell me the") counts as incomplete. `trace`
    gets one line per verdict.
    """
    config = row.config
    segmenter = Segmenter(config, detector=benchkit.detector(row.settings))
    audio = silence(400) + pcm + silence(config.patience_ms + config.hangover_ms + 600)
    ends: list[tuple[float, float]] = []
    heard = ""
    resumable_from: float | None = None  # speech end of a turn the model ended, while it may resume
    for offset in range(0, len(audio), CHUNK):
        if resumable_from is not None and (not row.resume or (
                row.heard_after_ms and segmenter.position_ms - resumable_from >= row.heard_after_ms)):
            segmenter.seal()  # its reply is heard now: speech after this is a new turn
            resumable_from = None
        events: list[SegmentEvent] = list(segmenter.feed(audio[offset : offset + CHUNK], offset / 32000))
        while events:
            event = events.pop(0)
            if isinstance(event, SpeechStarted) and event.resumed:
                ends.pop()  # the turn the model ended is taken back: this speech continues it
                if trace is not None:
                    trace.append(f"at {event.at_ms:6.0f} ms speech resumed: the ended turn is taken back")
            elif isinstance(event, SpeechPaused) and whisper is not None:
                heard = transcript(whisper, event.utterance.pcm)
            elif isinstance(event, EndCheck) and row.model is not None:
                started = time.perf_counter()
                probability = row.model.probability(event.pcm)
                check_ms.append((time.perf_counter() - started) * 1000)
                complete = probability >= row.threshold
                trailing = complete and whisper is not None and smart_turn.trails_off(heard, "en")
                if trace is not None:
                    trace.append(f"at {event.at_ms:6.0f} ms p={probability:.3f} heard {heard!r}"
                                 + (" (trails off)" if trailing else ""))
                decided = segmenter.decide(event.pause, complete and not trailing)
                if decided is not None:
                    events.append(decided)
            elif isinstance(event, SpeechStopped) and event.utterance is not None:
                ends.append((event.at_ms, segmenter.position_ms))
                resumable_from = event.at_ms if event.reason == "end_of_turn" else None
    return ends


def main() -> None:
    parser = benchkit.parser(__doc__)
    defaults = benchkit.shipped()
    parser.add_argument("--check-ms", default=str(defaults.end_of_turn_check_ms), help="values to compare")
    parser.add_argument("--threshold", default=f"{defaults.end_of_turn_threshold:g}",
                        help="model thresholds to compare")
    parser.add_argument("--max-ms", type=int, default=defaults.end_of_turn_max_ms)
    parser.add_argument("--hangover-ms", type=int, default=defaults.vad_hangover_ms)
    parser.add_argument("--vad", default=defaults.vad, help="voice detectors to compare: webrtc,silero")
    parser.add_argument("--audio-only", action="store_true", help="the model alone, no transcript cue")
    parser.add_argument("--show", action="store_true", help="the verdicts on each split or slow utterance")
    parser.add_argument("--heard-after-ms", default="0",
                        help="values to compare: a reply is heard this long after the speech end "
                             "(0: not within the pause)")
    args = parser.parse_args()
    model = smart_turn.SmartTurn(smart_turn.model_path(args.models_dir))
    whisper = None if args.audio_only else WhisperSTT(benchkit.shipped(models_dir=args.models_dir))
    thinking = thinking_sets()
    complete = {"piper": [piper_speech(t) for t in UTTERANCES],
                "espeak-ng": [espeak_speech(t) for t in UTTERANCES]}
    rows: list[Detector] = []
    for vad in args.vad.split(","):
        settings = benchkit.shipped(vad=vad, vad_hangover_ms=args.hangover_ms, end_of_turn_max_ms=args.max_ms)
        label = "" if len(args.vad.split(",")) == 1 else f", {vad}"
        rows.append(Detector(f"hangover {args.hangover_ms} ms{label}",
                             benchkit.segmenter_config(settings, check_ms=0), None, 1.0, settings))
        for check in (int(v) for v in args.check_ms.split(",")):
            for threshold in (float(t) for t in args.threshold.split(",")):
                config = benchkit.segmenter_config(settings, check_ms=check)
                name = f"smart-turn {check} ms, p>={threshold:g}{label}"
                rows.append(Detector(name, config, model, threshold, settings))
                for heard in (int(v) for v in args.heard_after_ms.split(",")):
                    suffix = f" + resume, heard {heard} ms" if heard else " + resume"
                    rows.append(Detector(name + suffix, config, model, threshold, settings, resume=True,
                                         heard_after_ms=heard))
    print(f"{len(THINKING)} thinking-pause utterances (pauses {PAUSES_MS} ms) and {len(UTTERANCES)} complete "
          f"questions per voice; max wait {args.max_ms} ms")
    print(f"{'detector':58s} {'voice':10s} {'one turn':>9s} {'complete: ended <1 s':>21s} "
          f"{'wait p50':>9s} {'wait p95':>9s} {'model p50':>10s}")
    for row in rows:
        for voice in ("piper", "espeak-ng"):
            model_ms: list[float] = []
            cue = whisper if row.model is not None else None
            whole, shown = 0, []
            for index, pcm in enumerate(thinking[voice]):
                trace: list[str] = []
                cut = run(pcm, row, cue, model_ms, trace)
                whole += len(cut) == 1
                if len(cut) != 1:
                    shown.append(f"  split: {' / '.join(THINKING[index])}\n    " + "\n    ".join(trace))
            waits, fast = [], 0
            for index, pcm in enumerate(complete[voice]):
                trace = []
                ends = run(pcm, row, cue, model_ms, trace)
                wait = ends[-1][1] - ends[-1][0]  # silence heard before the turn ended
                waits.append(wait)
                fast += wait < 1000
                if wait >= 1000:
                    shown.append(f"  slow: {UTTERANCES[index]}\n    " + "\n    ".join(trace))
            model_p50 = f"{pct(model_ms, 50):8.1f}ms" if model_ms else f"{'-':>10s}"
            print(f"{row.name:58s} {voice:10s} {whole:4d}/{len(thinking[voice]):<4d} "
                  f"{fast:14d}/{len(complete[voice]):<6d} {pct(waits, 50):7.0f}ms {pct(waits, 95):7.0f}ms "
                  f"{model_p50}", flush=True)
            if args.show and row.model is not None:
                print("\n".join(shown))


if __name__ == "__main__":
    main()
