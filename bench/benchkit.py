"""What the bench scripts share: the checkout on sys.path, the shipped settings, one argument parser, the
server's own segmenter configuration, real servers on real engines, and the figures (percentiles, sentences).

A bench script runs as `python bench/<name>.py` (its folder is then first on sys.path, so `import benchkit`
works) and imports this before anything from the checkout:

    import benchkit  # noqa: I001  (first: puts the checkout on sys.path)
    from voicechat.settings import Settings
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakes.http import ServerThread  # noqa: E402
from voicechat.app import create_app  # noqa: E402
from voicechat.engines import Engines, load_engines  # noqa: E402
from voicechat.sentences import SentenceChunker  # noqa: E402
from voicechat.settings import Settings  # noqa: E402
from voicechat.vad import SegmenterConfig, VoiceDetector  # noqa: E402

MODELS = ROOT / "models"


def pct(values: list[float], q: float) -> float:
    """The `q`th percentile of `values` (NaN for none: a figure that could not be measured prints as nan)."""
    return float(np.percentile(values, q)) if values else float("nan")


def count_sentences(reply: str) -> int:
    """Sentences in a reply, as the server's speech chunker cuts them (no first-chunk or length cut)."""
    chunker = SentenceChunker(first_chunk_chars=10_000, max_chars=10_000)
    return len(chunker.feed(reply) + chunker.flush())


# What a spoken reply must not hold: bold, code, headings, list items, emoji (read aloud, they are noise).
MARKUP = re.compile(r"(\*\*|__|`|^\s*#|^\s*(?:[-*•]|\d+[.)])\s|[\U0001F300-\U0001FAFF\u2600-\u27BF])",
                    re.MULTILINE)


def plain_spoken(reply: str) -> bool:
    """A reply with no list, markdown, code or emoji (`MARKUP`): one that reads aloud as it is written."""
    return not MARKUP.search(reply)


def is_right(reply: str, keywords: tuple[str, ...]) -> bool:
    """The one answer judge of bench/brain.py and bench/quality.py: a reply is right when it holds one of
    the keywords as whole words, case-insensitive; punctuation counts as a space on both sides ("fifty-six"
    and "fifty six" alike), except a comma between digits ("3,600" stays one number)."""
    words = " " + re.sub(r"[^0-9a-z,]+", " ", reply.lower()).replace(",", " , ") + " "
    words = re.sub(r"(\d) , (\d)", r"\1,\2", words)  # 3,600 stays one number
    return any(f" {' '.join(re.sub(r'[^0-9a-z,]+', ' ', k).split())} " in words for k in keywords)


def write_json(path: Path, result: Any) -> None:
    """Write a bench's figures as JSON (its folder made if need be) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {path}")


def shipped(**overrides: Any) -> Settings:
    """The defaults a fresh install runs with (no `.env`, no environment), plus `overrides`."""
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


def parser(doc: str | None, models_dir: bool = True) -> argparse.ArgumentParser:
    """An argument parser whose help is the script's docstring; `--models-dir` unless told otherwise."""
    made = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if models_dir:
        made.add_argument("--models-dir", type=Path, default=MODELS)
    return made


def segmenter_config(settings: Settings, **overrides: Any) -> SegmenterConfig:
    """The segmenter a hands-free session gets from `settings` (listening.py builds the same)."""
    from voicechat.listening import segmenter_config as session_config

    return session_config(settings, hands_free=True, checking=settings.end_of_turn == "smart_turn",
                          **overrides)


def detector(settings: Settings) -> VoiceDetector | None:
    """A fresh voice detector for one stream as the settings choose it (None: the segmenter's webrtcvad)."""
    if settings.vad != "silero":
        return None
    return _silero(settings.vad_silero_threshold).stream()


_models: dict[float, Any] = {}


def _silero(threshold: float) -> Any:
    from voicechat.silero_vad import SileroVAD

    if threshold not in _models:
        _models[threshold] = SileroVAD(threshold)
    return _models[threshold]


@dataclass
class Running:
    """One server of a benchmark: its settings, engines and WebSocket URL."""

    settings: Settings
    engines: Engines
    thread: ServerThread

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.thread.port}/ws"


@contextlib.contextmanager
def servers(configs: dict[str, Settings]) -> Iterator[dict[str, Running]]:
    """A real server per named configuration (engines shared where the settings allow), stopped after."""
    running: dict[str, Running] = {}
    try:
        for name, settings in configs.items():
            engines = load_engines(settings)
            thread = ServerThread(create_app(settings, engines=engines)).start()
            running[name] = Running(settings, engines, thread)
        yield running
    finally:
        for server in running.values():
            server.thread.stop()
