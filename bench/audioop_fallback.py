"""What Python 3.13 costs the Wyoming door without `audioop-lts`: wyoming converts client audio to 16-bit
mono (`AudioChunkConverter(width=2, channels=1)`, as voicechat/doors/wyoming.py does) with the C
`audioop` (stdlib up to 3.12, the `audioop-lts` package on 3.13) or, when neither imports, its own
pure-Python `wyoming.pyaudioop`. Both run here in one process on the same chunks.

    python bench/audioop_fallback.py [--seconds 10] [--repeat 5]

Prints, per input format, the time to convert one second of audio (median over repeats) with each, and
the ratio. Mono 16-bit input (what Home Assistant sends) needs no conversion either way.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import wyoming.audio as wyoming_audio
from wyoming import pyaudioop
from wyoming.audio import AudioChunk, AudioChunkConverter

try:
    import audioop as c_audioop  # stdlib before 3.13; the audioop-lts package provides it on 3.13
except ImportError:  # 3.13 without audioop-lts
    c_audioop = None

FORMATS = {"16-bit mono": (2, 1), "16-bit stereo": (2, 2), "32-bit mono": (4, 1)}
RATE = 16000
CHUNK_MS = 64  # wyoming-satellite's chunk size


def chunks(width: int, channels: int, seconds: float) -> list[AudioChunk]:
    rng = np.random.default_rng(7)
    dtype = {2: np.int16, 4: np.int32}[width]
    info = np.iinfo(dtype)
    frames = int(RATE * CHUNK_MS / 1000)
    out = []
    for _ in range(int(seconds * 1000 / CHUNK_MS)):
        samples = rng.integers(info.min // 4, info.max // 4, size=frames * channels, dtype=dtype)
        out.append(AudioChunk(rate=RATE, width=width, channels=channels, audio=samples.tobytes()))
    return out


def per_second(implementation: object, audio: list[AudioChunk], seconds: float, repeat: int) -> float:
    wyoming_audio.audioop = implementation  # what `import audioop` bound inside wyoming.audio
    converter = AudioChunkConverter(width=2, channels=1)
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for chunk in audio:
            converter.convert(chunk)
        runs.append((time.perf_counter() - start) / seconds)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    original = wyoming_audio.audioop
    print("| input | C audioop, ms per s of audio | pure-Python pyaudioop | ratio |")
    print("|---|---|---|---|")
    try:
        for name, (width, channels) in FORMATS.items():
            audio = chunks(width, channels, args.seconds)
            c = per_second(c_audioop, audio, args.seconds, args.repeat) if c_audioop else float("nan")
            py = per_second(pyaudioop, audio, args.seconds, args.repeat)
            print(f"| {name} | {c * 1000:.3f} | {py * 1000:.1f} | {py / c if c else float('nan'):.0f}x |")
    finally:
        wyoming_audio.audioop = original


if __name__ == "__main__":
    main()
