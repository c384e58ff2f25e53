"""Word error rate: what the server hears against stock faster-whisper on the same audio and weights.

Sets: questions and commands synthesized from known text by Piper and espeak-ng, clean and with noise
mixed in here (steady pink-ish noise at 10 dB SNR, fixed seed). Each clip is lead silence + speech + tail.

- **pipeline**: the clip goes through the server's own `Segmenter` (shipped VAD settings, pre-roll,
  speculation pause and its kept tail) and each utterance it cuts through the server's `WhisperSTT`
  (short window, configured beam), as a session does.
- **stock**: `WhisperModel.transcribe(clip, language=...)` with faster-whisper's defaults (beam 5,
  temperature fallback), on the whole clip, same model object.

    python bench/wer.py
    python bench/wer.py --beam 1,5 --aggressiveness 2,3 --show
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jiwer  # noqa: E402
import numpy as np  # noqa: E402

from tests.speech import espeak_speech, piper_speech, silence  # noqa: E402
from voicechat.audio import pcm16_to_float  # noqa: E402
from voicechat.settings import Settings  # noqa: E402
from voicechat.stt import WhisperSTT, normalise  # noqa: E402
from voicechat.vad import Segmenter, SegmenterConfig, SpeechStopped  # noqa: E402

TEXTS = [
    "What is the capital of France?",
    "Turn off the bedroom lights.",
    "How tall is Mount Everest?",
    "Who painted the Mona Lisa?",
    "Please remind me to water the plants tomorrow morning.",
    "Tell me everything about the history of Rome.",
    "Open the front door, please.",
    "Remember to buy fresh bread and a bottle of orange juice.",
    "What is the weather like in Berlin today?",
    "Can you recommend a good book about space?",
    "How many days are there in a leap year?",
    "Play some relaxing music in the kitchen.",
    "What is the boiling point of water?",
    "Tell me a short joke about cats.",
    "What is the largest ocean on Earth?",
    "How many minutes are in three hours?",
    "Set an alarm for seven in the morning.",
    "Who wrote the novel Pride and Prejudice?",
    "Translate good morning into Spanish.",
    "Why is the sky blue during the day?",
]
CHUNK = 640  # 20 ms at 16 kHz


def noisy(pcm: bytes, snr_db: float, seed: int) -> bytes:
    """`pcm` with steady noise (white, low-passed once: more like a fan than hiss) at `snr_db`."""
    speech = np.frombuffer(pcm, "<i2").astype(np.float64)
    rng = np.random.default_rng(seed)
    white = rng.normal(0, 1, speech.size)
    pink = np.convolve(white, np.ones(4) / 4, mode="same")
    voiced = speech[np.abs(speech) > 300]
    speech_rms = np.sqrt(np.mean(voiced**2)) if voiced.size else 1000.0
    pink *= speech_rms / 10 ** (snr_db / 20) / np.sqrt(np.mean(pink**2))
    return np.clip(speech + pink, -32768, 32767).astype("<i2").tobytes()


def clip(speech: bytes) -> bytes:
    return silence(500) + speech + silence(1200)


def pipeline(whisper: WhisperSTT, config: SegmenterConfig, audio: bytes, times: list[float],
             unended: list[int]) -> str:
    """What a session hears. Speech the VAD never saw end (noise it takes for voice) is committed at the
    end of the clip, as a client's `input.commit` would, and counted in `unended`."""
    segmenter = Segmenter(config)
    stops: list[SpeechStopped] = []
    for offset in range(0, len(audio), CHUNK):
        events = segmenter.feed(audio[offset : offset + CHUNK], offset / 32000)
        stops += [e for e in events if isinstance(e, SpeechStopped)]
    if (last := segmenter.commit()) is not None:
        stops.append(last)
        unended.append(1)
    texts = []
    for stop in stops:
        if stop.utterance is not None:
            started = time.perf_counter()
            texts.append(whisper.transcribe_sync(stop.utterance.pcm, "en").text)
            times.append((time.perf_counter() - started) * 1000)
    return " ".join(texts)


def stock(whisper: WhisperSTT, audio: bytes, times: list[float]) -> str:
    started = time.perf_counter()
    segments, _ = whisper.model.transcribe(pcm16_to_float(audio), language="en")
    text = " ".join(s.text.strip() for s in segments)
    times.append((time.perf_counter() - started) * 1000)
    return text


_NUMBERS = dict(enumerate("zero one two three four five six seven eight nine ten eleven twelve".split()))


def _words(text: str) -> str:
    """Normalised for scoring: "3 hours" and "three hours" are the same words."""
    return " ".join(_NUMBERS.get(int(w), w) if w.isdigit() else w for w in normalise(text).split())


def wer(refs: list[str], hyps: list[str]) -> float:
    return 100 * jiwer.wer([_words(r) for r in refs], [_words(h) or "-" for h in hyps])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    parser.add_argument("--beam", default=str(defaults.stt_beam_size), help="pipeline beam sizes to compare")
    parser.add_argument("--aggressiveness", default=str(defaults.vad_aggressiveness),
                        help="webrtcvad aggressiveness values to compare")
    parser.add_argument("--snr-db", type=float, default=10.0)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--stt-model", default=defaults.stt_model)
    parser.add_argument("--show", action="store_true", help="print every transcript that differs")
    args = parser.parse_args()
    sets: dict[str, list[bytes]] = {}
    for voice, speak in (("piper", piper_speech), ("espeak-ng", espeak_speech)):
        speech = [speak(t) for t in TEXTS]
        sets[f"{voice} clean"] = [clip(s) for s in speech]
        sets[f"{voice} noisy {args.snr_db:g} dB"] = [noisy(clip(s), args.snr_db, i)
                                                     for i, s in enumerate(speech)]
    base = SegmenterConfig(aggressiveness=defaults.vad_aggressiveness, onset_ms=defaults.vad_onset_ms,
                           preroll_ms=defaults.vad_preroll_ms, hangover_ms=defaults.vad_hangover_ms,
                           min_speech_ms=defaults.vad_min_speech_ms, speculate_ms=defaults.vad_speculate_ms)
    levels = [int(a) for a in args.aggressiveness.split(",")]
    print(f"{len(TEXTS)} utterances per set, whisper {args.stt_model}; pipeline = server segmenter "
          f"(pre-roll {base.preroll_ms} ms, speculation pause {base.speculate_ms} ms) + short-window decode")
    print(f"{'set':22s} {'decoder':34s} {'WER %':>7s} {'STT p50':>9s} {'STT p95':>9s} "
          f"{'VAD never ended':>16s}")
    stock_cache: dict[str, tuple[list[str], list[float]]] = {}
    for beam in (int(b) for b in args.beam.split(",")):
        settings = Settings(_env_file=None, models_dir=args.models_dir, stt_model=args.stt_model,  # type: ignore[call-arg]
                            stt_beam_size=beam)
        whisper = WhisperSTT(settings)
        for name, clips in sets.items():
            if name not in stock_cache:
                times: list[float] = []
                stock_cache[name] = ([stock(whisper, c, times) for c in clips], times)
            stock_hyps, stock_times = stock_cache[name]
            if beam == int(args.beam.split(",")[0]):
                print(f"{name:22s} {'stock transcribe() beam 5':34s} {wer(TEXTS, stock_hyps):7.2f} "
                      f"{statistics.median(stock_times):7.0f}ms {np.percentile(stock_times, 95):7.0f}ms")
            for level in levels:
                config = SegmenterConfig(**{**base.__dict__, "aggressiveness": level})
                times, unended = [], []
                hyps = [pipeline(whisper, config, c, times, unended) for c in clips]
                label = f"pipeline beam {beam}, VAD {level}"
                print(f"{name:22s} {label:34s} {wer(TEXTS, hyps):7.2f} {statistics.median(times):7.0f}ms "
                      f"{np.percentile(times, 95):7.0f}ms {len(unended):9d}/{len(clips)}")
                if args.show:
                    for ref, hyp, ref_stock in zip(TEXTS, hyps, stock_hyps, strict=True):
                        if _words(hyp) != _words(ref) or _words(ref_stock) != _words(ref):
                            print(f"    {ref!r}\n      pipeline {hyp!r}\n      stock    {ref_stock!r}")
        whisper.close()


if __name__ == "__main__":
    main()
