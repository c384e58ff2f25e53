"""How often a speculative turn is a wrong guess, by the pause that starts it (`VOICECHAT_VAD_SPECULATE_MS`).

A shorter pause starts the reply sooner (the margin over the raw engines in `bench/latency.py` is mostly
this pause) but also fires inside utterances, at commas and hesitations; each wrong guess costs a
transcription and a chat call that are thrown away. This runs the server's own segmenter over the
latency benchmark's utterances plus longer ones with commas, spoken by Piper and by espeak-ng, and counts
per setting the pauses that started a guess and those discarded because speech went on.

    python bench/speculation.py
    python bench/speculation.py --values 30,60,90,120,150 --hangover-ms 600
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from latency import UTTERANCES  # noqa: E402

from tests.speech import espeak_speech, piper_speech, silence  # noqa: E402
from voicechat.vad import Segmenter, SegmenterConfig, SpeechPaused, SpeechResumed  # noqa: E402

LONGER = [
    "Well, I think that, if it rains tomorrow, we should stay home and watch a movie.",
    "Set a timer for ten minutes, then remind me to check the oven.",
    "Okay so, um, what about the, the blue one?",
    "Call Mom, tell her I'm running late, and ask if she needs anything from the store.",
]
CHUNK = 640  # 20 ms of 16 kHz PCM16, as the page sends it


def count(speech: list[bytes], speculate_ms: int, hangover_ms: int) -> tuple[int, int]:
    """(guesses started, guesses discarded) over all utterances."""
    started = discarded = 0
    for pcm in speech:
        segmenter = Segmenter(SegmenterConfig(speculate_ms=speculate_ms, hangover_ms=hangover_ms))
        audio = silence(300) + pcm + silence(hangover_ms + 300)
        for offset in range(0, len(audio), CHUNK):
            for event in segmenter.feed(audio[offset : offset + CHUNK], offset / 32000):
                started += isinstance(event, SpeechPaused)
                discarded += isinstance(event, SpeechResumed)
    return started, discarded


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--values", default="30,60,90,120", help="speculate_ms values to compare")
    parser.add_argument("--hangover-ms", type=int, default=500)
    args = parser.parse_args()
    texts = UTTERANCES + LONGER
    voices = {"piper": [piper_speech(t) for t in texts], "espeak-ng": [espeak_speech(t) for t in texts]}
    print(f"{len(texts)} utterances per voice, hangover {args.hangover_ms} ms")
    print(f"{'voice':10s} {'pause ms':>8s} {'guesses':>8s} {'discarded':>10s} {'wrong per utterance':>20s}")
    for voice, speech in voices.items():
        for value in (int(v) for v in args.values.split(",")):
            started, discarded = count(speech, value, args.hangover_ms)
            print(f"{voice:10s} {value:8d} {started:8d} {discarded:10d} {discarded / len(texts):20.2f}")


if __name__ == "__main__":
    main()
