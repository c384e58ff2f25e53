"""Where whisper runs: `auto` takes a GPU when one works and the CPU otherwise; an explicit `cuda` that
cannot work says so at startup, not at a user's first words."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import ctranslate2
import pytest

from tests.conftest import ROOT, make_settings
from tests.speech import piper_speech
from voicechat.stt import WhisperSTT

pytestmark = pytest.mark.skipif(ctranslate2.get_cuda_device_count() > 0, reason="a usable GPU is here")


def test_auto_falls_back_to_the_cpu_when_a_gpu_is_seen_but_cuda_cannot_run(monkeypatch, caplog):
    # A driver that reports a GPU whose CUDA libraries can't be used (the common broken install): here
    # CTranslate2 really fails to run on CUDA, as it would with cuDNN missing.
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    with caplog.at_level(logging.WARNING, logger="voicechat.stt"):
        stt = WhisperSTT(make_settings(stt_device="auto", stt_min_context_s=9.5))  # its own instance
    assert (stt.device, stt.compute_type) == ("cpu", "int8")
    assert "whisper on cuda/float16 failed" in caplog.text and "using the CPU instead" in caplog.text
    assert "cpu/int8" in stt.description
    heard = stt.transcribe_sync(piper_speech("Turn off the bedroom lights."), "en")
    assert "bedroom lights" in heard.text.lower()
    assert stt.short_window_runs == 1  # the startup warm-up is not counted as a user's decode


def test_explicit_cuda_that_cannot_run_stops_the_server_with_a_clear_message(tmp_path):
    env = {**os.environ, "VOICECHAT_STT_DEVICE": "cuda", "VOICECHAT_MODELS_DIR": str(ROOT / "models"),
           "VOICECHAT_DB_PATH": str(tmp_path / "db.sqlite3"),
           "VOICECHAT_MEDIA_DB": str(tmp_path / "m.sqlite3"), "VOICECHAT_MEDIA_DIR": str(tmp_path / "media")}
    run = subprocess.run([sys.executable, "server.py", "--port", "0"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode != 0
    assert "whisper cannot run on CUDA here" in run.stderr + run.stdout
    assert "VOICECHAT_STT_DEVICE=cpu" in run.stderr + run.stdout
