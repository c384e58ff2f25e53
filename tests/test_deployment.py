"""Installing and running the way servers are deployed: the README's commands are CI's, a wheel installed
anywhere serves the page, data lands in a writable home, the generated token and the self-signed
certificate are made once and kept."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.process import ServerProcess
from voicechat.paths import choose_home, generated_token

PAGE = ROOT / "voicechat" / "static" / "index.html"


def quick_start_commands() -> list[str]:
    """The commands of the README's quick start code blocks, without their comments."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines() if line]


def test_ci_runs_exactly_the_readme_test_command():
    commands = quick_start_commands()
    assert len(commands) >= 2, commands
    serve, test = commands[0], commands[1]
    assert serve.startswith("scripts/setup.sh ") and "voicechat serve" in serve
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test in ci, f"{test!r} is not a line of .ci/run"
    for script in ("setup.sh", "run.sh", "env.sh"):  # bash only: they run before any Python env exists
        run = subprocess.run(["bash", "-n", str(ROOT / "scripts" / script)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr


def test_run_script_refuses_clearly_without_an_environment(tmp_path):
    copy = tmp_path / "checkout" / "scripts"
    copy.mkdir(parents=True)
    for script in ("run.sh", "env.sh"):
        shutil.copy(ROOT / "scripts" / script, copy / script)
    # Debian's own PATH: no venv's python first, and no .venv in this checkout.
    run = subprocess.run(["bash", str(copy / "run.sh"), "python", "-V"], capture_output=True, text=True,
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 1 and "run scripts/setup.sh first" in run.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built as a wheel (what `pip install .` and the Docker image install), unpacked into a
    folder of its own with `pip install --target`."""
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr
    [built] = out.glob("voicechat-*.whl")
    target = tmp_path_factory.mktemp("site")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                              str(target), str(built)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    return target


def test_a_wheel_installed_elsewhere_serves_the_page_from_any_folder(wheel, tmp_path):
    assert (wheel / "voicechat" / "static" / "index.html").read_bytes() == PAGE.read_bytes()
    elsewhere = tmp_path / "some-folder"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICECHAT_", "OPENAI_"))}
    # The wheel's code, not this checkout's (the dependencies come from this environment).
    env.update({"PYTHONPATH": str(wheel), "PYTHONUNBUFFERED": "1", "VOICECHAT_TTS_ENGINE": "espeak",
                "VOICECHAT_MODELS_DIR": os.environ.get("VOICECHAT_MODELS_DIR", str(ROOT / "models"))})
    where = subprocess.run([sys.executable, "-c", "import voicechat; print(voicechat.__file__)"],
                           env=env, cwd=elsewhere, capture_output=True, text=True)
    assert where.stdout.startswith(str(wheel)), where
    argv = [sys.executable, "-m", "voicechat", "serve", "--port", "0"]
    server = ServerProcess(env, argv=argv, cwd=elsewhere)
    try:
        page = httpx.get(server.http + "/")
        assert page.status_code == 200 and page.text == PAGE.read_text()
        assert httpx.get(server.http + "/js/app.js").status_code == 200
        assert httpx.get(server.http + "/worklets/capture-processor.js").status_code == 200
    finally:
        server.stop()
    # Relative paths live in the folder it was started in (writable): the conversation database is there.
    assert (elsewhere / "data" / "voicechat.sqlite3").exists()
    assert "access-token" not in server.log  # loopback: no token needed, none made


def test_home_is_the_setting_then_a_writable_working_folder(tmp_path):
    assert choose_home(tmp_path / "configured") == (tmp_path / "configured").resolve()
    assert choose_home(None, cwd=tmp_path) == tmp_path.resolve()


def test_an_unwritable_working_folder_sends_data_to_the_users_home(tmp_path):
    """As an ordinary user started in `/`: the per-user data folder (paths.py needs only the stdlib, so
    Debian's own python3 runs it as `nobody`)."""
    system_python = Path("/usr/bin/python3")
    if os.geteuid() != 0 or not system_python.exists():
        pytest.skip("needs root (to run as nobody) and /usr/bin/python3")
    package = ROOT / "voicechat"
    if not all(folder.stat().st_mode & 0o005 == 0o005 for folder in (package, *package.parents)):
        pytest.skip(f"other users cannot read {package} (a folder above it is private)")
    home = tmp_path / "nobody-home"
    home.mkdir()
    home.chmod(0o777)
    tmp_path.chmod(0o755)
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from voicechat.paths import choose_home; " \
           "print(choose_home(None))"
    try:
        run = subprocess.run([str(system_python), "-c", code], user="nobody", cwd="/", capture_output=True,
                             text=True, env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, timeout=30)
    except PermissionError:
        pytest.skip("cannot switch to the user nobody here")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(home / ".local" / "share" / "voicechat")
    xdg = subprocess.run([str(system_python), "-c", code], user="nobody", cwd="/", capture_output=True,
                         text=True, env={"HOME": str(home), "XDG_DATA_HOME": str(home / "xdg")}, timeout=30)
    assert xdg.stdout.strip() == str(home / "xdg" / "voicechat")


def test_the_generated_token_is_made_once_and_kept_private(tmp_path):
    token, made = generated_token(tmp_path)
    assert made and len(token) >= 32
    path = tmp_path / "data" / "access-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, made_again = generated_token(tmp_path)
    assert (again, made_again) == (token, False)
    path.write_text("short\n")  # damaged: replaced, never trusted
    replaced, made_now = generated_token(tmp_path)
    assert made_now and replaced != token and len(replaced) >= 32


def test_systemd_units_in_the_docs_verify(tmp_path):
    """The units in docs/deployment.md, with the package's `voicechat` command where the docs install it."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    doc = (ROOT / "docs" / "deployment.md").read_text()
    units = re.findall(r"```ini\n# /etc/systemd/system/(\S+)[^\n]*\n(.*?)```", doc, flags=re.S)
    assert {name for name, _ in units} == {"voicechat.service", "voicechat-assistant.service"}
    command = Path(sys.executable).parent / "voicechat"  # /opt/voicechat/bin/voicechat in the docs
    assert command.exists()
    paths = []
    for name, body in units:
        assert "/opt/voicechat/bin/voicechat " in body
        path = tmp_path / name
        path.write_text(body.replace("/opt/voicechat/bin/voicechat", str(command)))
        paths.append(str(path))
    run = subprocess.run([analyze, "verify", *paths], capture_output=True, text=True, timeout=60)
    # Unknown keys and bad values are only warnings (exit 0): any output at all is a failure.
    assert run.returncode == 0 and not (run.stdout + run.stderr).strip(), run.stdout + run.stderr
