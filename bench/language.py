"""Language detection (`VOICECHAT_LANGUAGE=auto`): its cost and accuracy against a fixed language.

Sets: Chinese questions and commands spoken by Kokoro (tests/chinese_voice.py, the tests' Chinese voice;
whisper hears espeak-ng's Mandarin as Thai, so it is not used for Chinese), English questions by the bundled
Piper voice (bench/wer.py's list), and a few German sentences by espeak-ng (robotic: the hard case). Each
clip is 300 ms of silence + speech + 300 ms, what the server's segmenter hands to whisper.

Three ways to transcribe, same model object, same run, one clip after another:

- **fixed**: the server with the right language given (`VOICECHAT_LANGUAGE=zh` / `en` / `de`): short window.
- **auto**: the server with `VOICECHAT_LANGUAGE=auto`: the language is detected on the short-window
  encoding, then decoded in it (what this version ships).
- **auto, full window**: stock faster-whisper detection and decode on the 30 s window (before this version).

`--replies`: instead, each Chinese question (`q_*` below) is spoken to a real server with the
shipped defaults but `VOICECHAT_LANGUAGE=auto` (bundled local brain, Piper + espeak-ng), over the native
WebSocket: what it heard, whether the reply is in Chinese, and which voice spoke it.

    python bench/language.py
    python bench/language.py --repeat 3 --show
    python bench/language.py --replies
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from wer import TEXTS  # noqa: E402

from tests.speech import espeak_speech, piper_speech, silence, zh_speech  # noqa: E402
from voicechat.audio import pcm16_to_float  # noqa: E402
from voicechat.settings import Settings  # noqa: E402
from voicechat.stt import Transcript, WhisperSTT, normalise  # noqa: E402

GERMAN = [
    "Wie spät ist es?",
    "Wo ist der nächste Bahnhof?",
    "Ich möchte einen Kaffee bestellen.",
    "Wie wird das Wetter morgen in Berlin?",
    "Kannst du mir ein gutes Buch empfehlen?",
]


def clip(speech: bytes) -> bytes:
    return silence(300) + speech + silence(300)


# The Chinese set: the tests' requests and questions (tests/test_media_pictures.py, tests/test_language.py).
CHINESE = {
    "blend": "把这两张图混合",
    "face_swap": "把第二张图上的人脸换到第一张图上",
    "dance": "让他跳机器人舞蹈",
    "describe": "描述一下这张图片",
    "animate": "把这张图片做成视频",
    "q_capital": "法国首都是哪里？",
    "q_days": "一年有多少天？",
    "q_weather": "今天北京的天气怎么样？",
    "q_water": "水的沸点是多少度？",
    "q_joke": "请给我讲一个关于猫的笑话。",
    "q_river": "中国最长的河流是哪一条？",
    "q_book": "你能推荐一本关于太空的好书吗？",
    "q_alarm": "明天早上七点叫我起床。",
}


def chinese_clips() -> list[tuple[str, bytes]]:
    return [(name, clip(zh_speech(text))) for name, text in sorted(CHINESE.items())]


def run(whisper: WhisperSTT, mode: str, pcm: bytes, language: str) -> tuple[Transcript, float]:
    started = time.perf_counter()
    if mode == "fixed":
        result = whisper.transcribe_sync(pcm, language)
    elif mode == "auto":
        result = whisper.transcribe_sync(pcm, "auto")
    else:
        result = whisper._transcribe_full(pcm16_to_float(pcm), None, None, False)
    return result, (time.perf_counter() - started) * 1000


async def replies(models_dir: Path) -> None:
    from tests.fakes.http import ServerThread
    from tests.wsclient import NativeClient
    from voicechat.app import create_app

    settings = Settings(_env_file=None, models_dir=models_dir, port=0, language="auto")  # type: ignore[call-arg]
    server = ServerThread(create_app(settings)).start()
    in_chinese = spoken_zh = 0
    names = [n for n, _ in chinese_clips() if n.startswith("q_")]
    try:
        for name, pcm in chinese_clips():
            if not name.startswith("q_"):
                continue
            client = await NativeClient.connect(f"ws://127.0.0.1:{server.port}/ws")
            # Longer than VOICECHAT_END_OF_TURN_MAX_MS (2.5 s): a question the end-of-turn model judges
            # unfinished still ends (with 900 ms, nothing more came and the turn never ended).
            await client.stream(pcm + silence(3000))
            heard = await client.find("transcript", timeout=120)
            done = await client.find("turn.done", timeout=180, turn_id=heard["turn_id"])
            await client.close()
            han = sum("\u4e00" <= ch <= "\u9fff" for ch in done["text"])
            in_chinese += han > len(done["text"]) / 3
            spoken_zh += done.get("tts_voice") == "cmn-latn-pinyin"
            voice = f"{done.get('tts_engine')}/{done.get('tts_voice')}"
            print(f"{name:10s} heard [{heard['language']}] {heard['text']}\n{'':10s} reply "
                  f"[{done.get('language')}, {voice}] {done['text']}")
    finally:
        server.stop()
    print(f"{len(names)} Chinese questions: {in_chinese} answered in Chinese, {spoken_zh} spoken by "
          "espeak-ng's Mandarin voice")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--stt-model", default=defaults.stt_model)
    parser.add_argument("--repeat", type=int, default=1, help="times each clip is transcribed per mode")
    parser.add_argument("--show", action="store_true", help="print every wrong detection and transcript")
    parser.add_argument("--replies", action="store_true", help="Chinese questions to a real server instead")
    args = parser.parse_args()
    if args.replies:
        asyncio.run(replies(args.models_dir))
        return
    sets = {
        "zh (Kokoro)": [("zh", name, pcm) for name, pcm in chinese_clips()],
        "en (piper)": [("en", text, clip(piper_speech(text))) for text in TEXTS],
        "de (espeak-ng)": [("de", text, clip(espeak_speech(text, voice="de"))) for text in GERMAN],
    }
    settings = Settings(_env_file=None, models_dir=args.models_dir, stt_model=args.stt_model)  # type: ignore[call-arg]
    whisper = WhisperSTT(settings)
    modes = ("fixed", "auto", "auto, full window")
    for mode in modes:  # warm each path once
        run(whisper, mode, sets["en (piper)"][0][2], "en")
    print(f"whisper {args.stt_model} ({whisper.device}/{whisper.compute_type}), beam {whisper.beam_size}, "
          f"short window >= {whisper.min_context_frames / 100:g} s; {args.repeat} run(s) per clip and mode")
    print(f"{'set':16s} {'mode':18s} {'clips':>5s} {'detected':>9s} {'same text as fixed':>19s} "
          f"{'STT p50':>8s} {'STT p95':>8s} {'p50 / fixed':>11s}")
    totals: dict[str, list[float]] = {m: [] for m in modes}
    right: dict[str, int] = dict.fromkeys(modes, 0)
    count = 0
    for name, clips in sets.items():
        fixed_text: dict[str, str] = {}
        fixed_p50 = 0.0
        for mode in modes:
            times: list[float] = []
            detected = same = 0
            for language, label, pcm in clips:
                for _ in range(args.repeat):
                    result, ms = run(whisper, mode, pcm, language)
                    times.append(ms)
                detected += result.language == language
                if mode == "fixed":
                    fixed_text[label] = normalise(result.text)
                same += normalise(result.text) == fixed_text[label]
                if args.show and (result.language != language or normalise(result.text) != fixed_text[label]):
                    print(f"    {mode}: {label!r} -> {result.language} "
                          f"({result.language_probability}) {result.text!r}")
            p50 = statistics.median(times)
            fixed_p50 = p50 if mode == "fixed" else fixed_p50
            totals[mode] += times
            right[mode] += detected
            print(f"{name:16s} {mode:18s} {len(clips):5d} {detected:5d}/{len(clips):<3d} "
                  f"{same:15d}/{len(clips):<3d} {p50:6.0f}ms {np.percentile(times, 95):6.0f}ms "
                  f"{p50 / fixed_p50:10.2f}x")
        count += len(clips)
    base = statistics.median(totals["fixed"])
    for mode in modes:
        times = totals[mode]
        print(f"{'all':16s} {mode:18s} {count:5d} {right[mode]:5d}/{count:<3d} {'':19s} "
              f"{statistics.median(times):6.0f}ms {np.percentile(times, 95):6.0f}ms "
              f"{statistics.median(times) / base:10.2f}x")
    whisper.close()


if __name__ == "__main__":
    main()
