"""What the server-side wake word costs: the detector's CPU time as a share of real time, per stream.

One stream is two minutes of Piper speech (questions, none of them the wake word) and room silence, fed in
the chunk size a client sends (20 ms by default), as an armed session feeds it: through our `WakeGate`
(ring buffer for the pre-roll + pymicro-wakeword's features and model). The same audio also goes, in the
same run, through the raw pymicro-wakeword objects with no wrapper of ours, and through webrtcvad (what
every hands-free stream already pays), so the figures have their reference. Several streams run
interleaved on one thread, as sessions share the event loop.

    python bench/wake.py
    python bench/wake.py --streams 1,8 --chunk-ms 20 --word hey_jarvis
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import webrtcvad  # noqa: E402

from tests.speech import piper_speech, silence  # noqa: E402
from voicechat.wake import WakeGate, load_wake_models  # noqa: E402

SENTENCES = [
    "What is the capital of France?", "Turn on the kitchen lights.", "Draw a red fox in the snow.",
    "How many minutes are there in three hours?", "Play some music that is good for studying.",
    "Remind me to call my sister tomorrow morning.", "What is the weather like in Tokyo today?",
    "Tell me about the history of the Roman Empire.",
]
RATE = 16000


def stream_audio(seconds: float) -> bytes:
    parts, total = [], 0
    while total < seconds * RATE * 2:
        for text in SENTENCES:
            for part in (piper_speech(text), silence(1500)):
                parts.append(part)
                total += len(part)
    return b"".join(parts)[: int(seconds * RATE * 2)]


def percentiles(costs: list[float], chunk_s: float) -> tuple[float, float, float]:
    """p50 and p95 of one chunk's cost, and the mean, as % of the chunk's real time."""
    share = np.array(costs) / chunk_s * 100
    return float(np.percentile(share, 50)), float(np.percentile(share, 95)), float(share.mean())


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,8", help="numbers of streams fed interleaved")
    parser.add_argument("--chunk-ms", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--word", default="hey_jarvis")
    args = parser.parse_args()
    chunk = RATE * 2 * args.chunk_ms // 1000
    chunk_s = args.chunk_ms / 1000
    audio = stream_audio(args.seconds)
    pieces = [audio[o : o + chunk] for o in range(0, len(audio) - chunk + 1, chunk)]

    before = rss_mb()
    models = load_wake_models(Path(tempfile.mkdtemp()))
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

    print(f"wake word {args.word}, {args.seconds:.0f} s of Piper speech and silence per stream, "
          f"{args.chunk_ms} ms chunks, one thread; cost of one chunk as % of its real time")
    print(f"{'streams':>7} {'what':<28} {'p50 %':>7} {'p95 %':>7} {'mean %':>7} {'wakes':>5}")
    for count in (int(n) for n in args.streams.split(",")):
        gates = [WakeGate(models.detector(args.word), followup_s=8.0) for _ in range(count)]
        raw = [(MicroWakeWord.from_config(models.words[args.word].config), MicroWakeWordFeatures())
               for _ in range(count)]
        vads = [webrtcvad.Vad(2) for _ in range(count)]
        timing: dict[str, list[float]] = {"voicechat WakeGate": [], "raw pymicro-wakeword": [],
                                          "webrtcvad (reference)": []}
        wakes = 0
        for piece in pieces:
            for gate in gates:
                start = time.perf_counter()
                detection = gate.listen(piece)
                timing["voicechat WakeGate"].append(time.perf_counter() - start)
                wakes += detection is not None
            for model, features in raw:
                start = time.perf_counter()
                for frame in features.process_streaming(piece):
                    model.process_streaming_prob(frame)
                timing["raw pymicro-wakeword"].append(time.perf_counter() - start)
            for vad in vads:
                start = time.perf_counter()
                for offset in range(0, len(piece), 960):  # 30 ms frames, as the segmenter feeds it
                    frame = piece[offset : offset + 960]
                    if len(frame) == 960:
                        vad.is_speech(frame, RATE)
                timing["webrtcvad (reference)"].append(time.perf_counter() - start)
        for what, costs in timing.items():
            p50, p95, mean = percentiles(costs, chunk_s)
            shown = str(wakes) if what.startswith("voicechat") else ""
            print(f"{count:>7} {what:<28} {p50:>7.3f} {p95:>7.3f} {mean:>7.3f} {shown:>5}")
    print(f"peak RSS: {before:.0f} MB before loading the models, {rss_mb():.0f} MB after "
          f"(the detectors of all runs alive)")


if __name__ == "__main__":
    main()
