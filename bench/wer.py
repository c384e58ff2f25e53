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
    python bench/wer.py --vad webrtc,silero
"""

from __future__ import annotations

import statistics
import time

import benchkit  # noqa: I001  (first: puts the checkout on sys.path)
import numpy as np

from tests.speech import espeak_speech, piper_speech, silence, wer, with_noise, words
from voicechat.audio import pcm16_to_float
from voicechat.settings import Settings
from voicechat.stt import WhisperSTT
from voicechat.vad import Segmenter, SegmenterConfig, SpeechStopped

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


def clip(speech: bytes) -> bytes:
    return silence(500) + speech + silence(1200)


def pipeline(whisper: WhisperSTT, config: SegmenterConfig, settings: Settings, audio: bytes,
             times: list[float], unended: list[int]) -> str:
    """What a session hears. Speech the VAD never saw end (noise it takes for voice) is committed at the
    end of the clip, as a client's `input.commit` would, and counted in `unended`."""
    segmenter = Segmenter(config, detector=benchkit.detector(settings))
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


def main() -> None:
    parser = benchkit.parser(__doc__)
    defaults = benchkit.shipped()
    parser.add_argument("--beam", default=str(defaults.stt_beam_size), help="pipeline beam sizes to compare")
    parser.add_argument("--vad", default=defaults.vad, help="voice detectors to compare: webrtc,silero")
    parser.add_argument("--aggressiveness", default=str(defaults.vad_aggressiveness),
                        help="webrtcvad aggressiveness values to compare")
    parser.add_argument("--snr-db", type=float, default=10.0)
    parser.add_argument("--stt-model", default=defaults.stt_model)
    parser.add_argument("--show", action="store_true", help="print every transcript that differs")
    args = parser.parse_args()
    sets: dict[str, list[bytes]] = {}
    for voice, speak in (("piper", piper_speech), ("espeak-ng", espeak_speech)):
        speech = [speak(t) for t in TEXTS]
        sets[f"{voice} clean"] = [clip(s) for s in speech]
        sets[f"{voice} noisy {args.snr_db:g} dB"] = [with_noise(clip(s), args.snr_db, i)
                                                     for i, s in enumerate(speech)]
    detectors = [(vad, level) for vad in args.vad.split(",")
                 for level in ([int(a) for a in args.aggressiveness.split(",")] if vad == "webrtc" else [0])]
    # The hangover ends each clip's one utterance (the end-of-turn model would only end it sooner; the audio
    # an utterance keeps is the same).
    base = benchkit.segmenter_config(benchkit.shipped(end_of_turn="hangover"))
    print(f"{len(TEXTS)} utterances per set, whisper {args.stt_model}; pipeline = server segmenter "
          f"(pre-roll {base.preroll_ms} ms, speculation pause {base.speculate_ms} ms) + short-window decode")
    print(f"{'set':22s} {'decoder':34s} {'WER %':>7s} {'STT p50':>9s} {'STT p95':>9s} "
          f"{'VAD never ended':>16s}")
    stock_cache: dict[str, tuple[list[str], list[float]]] = {}
    for beam in (int(b) for b in args.beam.split(",")):
        settings = benchkit.shipped(models_dir=args.models_dir, stt_model=args.stt_model, stt_beam_size=beam)
        whisper = WhisperSTT(settings)
        for name, clips in sets.items():
            if name not in stock_cache:
                times: list[float] = []
                stock_cache[name] = ([stock(whisper, c, times) for c in clips], times)
            stock_hyps, stock_times = stock_cache[name]
            if beam == int(args.beam.split(",")[0]):
                print(f"{name:22s} {'stock transcribe() beam 5':34s} {100 * wer(TEXTS, stock_hyps):7.2f} "
                      f"{statistics.median(stock_times):7.0f}ms {np.percentile(stock_times, 95):7.0f}ms")
            for vad, level in detectors:
                config = SegmenterConfig(**{**base.__dict__, "aggressiveness": level or base.aggressiveness})
                vad_settings = benchkit.shipped(vad=vad)
                times, unended = [], []
                hyps = [pipeline(whisper, config, vad_settings, c, times, unended) for c in clips]
                label = f"pipeline beam {beam}, " + (f"webrtcvad {level}" if vad == "webrtc" else vad)
                print(f"{name:22s} {label:34s} {100 * wer(TEXTS, hyps):7.2f} "
                      f"{statistics.median(times):7.0f}ms {np.percentile(times, 95):7.0f}ms "
                      f"{len(unended):9d}/{len(clips)}", flush=True)
                if args.show:
                    for ref, hyp, ref_stock in zip(TEXTS, hyps, stock_hyps, strict=True):
                        if words(hyp) != words(ref) or words(ref_stock) != words(ref):
                            print(f"    {ref!r}\n      pipeline {hyp!r}\n      stock    {ref_stock!r}")
        whisper.close()


if __name__ == "__main__":
    main()
