"""Which whisper hears the spoken questions right, at what cost: the bundled STT models side by side.

The 36 spoken questions of bench/quality.py, in its four voices (Piper steady, Piper natural, espeak-ng
en-us and en-gb), each through the server's own listening path as bench/wer.py runs it (the shipped
`Segmenter`, then `WhisperSTT`'s short-window decode), once per model. Each model runs in a process of its
own, so its resident memory is its own. Reported per model:

- heard exactly: the transcript has the question's words (case, punctuation and "7"/"seven" ignored),
  overall and for each voice family; these are the mishearings that cost the brain its answers;
- WER over the 36 questions;
- STT time per utterance, p50 / p95 (what a session waits for after the end of speech);
- load time, and resident memory after loading and transcribing (process RSS, the audio synthesis is
  done in the parent process).

    python bench/stt_models.py                        # base and tiny.en
    python bench/stt_models.py --models base --show   # every question misheard
    python bench/stt_models.py -n 8                   # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchkit  # noqa: I001  (first: puts the checkout on sys.path)
import numpy as np
from quality import QUESTIONS, VOICES, speech_for
from wer import clip, pipeline

from tests.speech import wer, words
from voicechat.stt import WhisperSTT


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kb / 1024


def one_model(model: str, models_dir: Path, audio_dir: str) -> dict[str, object]:
    """Run in the child process: load `model`, transcribe every clip the parent wrote, return the figures."""
    clips = [p.read_bytes() for p in sorted(Path(audio_dir).glob("*.pcm"))]
    before = rss_mb()
    started = time.perf_counter()
    settings = benchkit.shipped(models_dir=models_dir, stt_model=model)
    whisper = WhisperSTT(settings)
    load_s = time.perf_counter() - started
    config = benchkit.segmenter_config(benchkit.shipped(end_of_turn="hangover"))
    times: list[float] = []
    heard = [pipeline(whisper, config, settings, c, times, []) for c in clips]
    return {"model": model, "heard": heard, "times": times, "load_s": load_s,
            "rss_mb": rss_mb(), "rss_before_mb": before, "beam": whisper.beam_size,
            "device": f"{whisper.device}/{whisper.compute_type}"}


def main() -> None:
    parser = benchkit.parser(__doc__)
    parser.add_argument("--models", default="base,tiny.en", help="VOICECHAT_STT_MODEL values to compare")
    parser.add_argument("--show", action="store_true", help="print every question a model misheard")
    parser.add_argument("-n", type=int, default=0, help="only the first N questions (0 = all)")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "AUDIO_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_model(args.child[0], args.models_dir, args.child[1])))
        return
    questions = QUESTIONS[: args.n] if args.n else QUESTIONS
    voices = [VOICES[i % len(VOICES)] for i in range(len(questions))]
    texts = [q for q, _ in questions]
    with tempfile.TemporaryDirectory() as audio_dir:
        for i, (text, voice) in enumerate(zip(texts, voices, strict=True)):
            Path(audio_dir, f"{i:03d}.pcm").write_bytes(clip(speech_for(voice, text)))
        print(f"{len(texts)} spoken questions (bench/quality.py's, voices {', '.join(VOICES)}); server "
              "segmenter + short-window decode, shipped STT settings, one process per model", flush=True)
        print(f"{'model':10s} {'heard exactly':>14s} {'Piper':>7s} {'espeak-ng':>10s} {'WER %':>7s} "
              f"{'STT p50':>8s} {'STT p95':>8s} {'load':>6s} {'RSS':>8s}")
        for model in args.models.split(","):
            run = subprocess.run([sys.executable, __file__, "--child", model, audio_dir, "--models-dir",
                                  str(args.models_dir)], capture_output=True, text=True, check=False)
            if run.returncode != 0:
                print(f"{model:10s} failed: {run.stderr.strip().splitlines()[-1:]}")
                continue
            result = json.loads(run.stdout.strip().splitlines()[-1])
            heard: list[str] = result["heard"]
            exact = [words(h) == words(t) for h, t in zip(heard, texts, strict=True)]
            piper = [e for e, v in zip(exact, voices, strict=True) if v.startswith("piper")]
            espeak = [e for e, v in zip(exact, voices, strict=True) if v.startswith("espeak")]
            times = result["times"]
            whisper_mb = result["rss_mb"] - result["rss_before_mb"]
            print(f"{model:10s} {sum(exact):>8d} / {len(exact):<3d} {sum(piper):>3d}/{len(piper):<3d} "
                  f"{sum(espeak):>5d}/{len(espeak):<4d} {100 * wer(texts, heard):7.2f} "
                  f"{statistics.median(times):6.0f}ms {np.percentile(times, 95):6.0f}ms "
                  f"{result['load_s']:5.1f}s {result['rss_mb']:6.0f}MB  (+{whisper_mb:.0f} MB for whisper; "
                  f"{result['device']}, beam {result['beam']})", flush=True)
            if args.show:
                for text, voice, hyp, ok in zip(texts, voices, heard, exact, strict=True):
                    if not ok:
                        print(f"    [{voice}] {text!r} -> {hyp!r}")


if __name__ == "__main__":
    main()
