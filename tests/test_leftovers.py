"""A test run leaves nothing behind in the temporary folder, and a killed run's leftovers (its folders, the
PostgreSQL cluster pg_ctl detached) go when the next run needs the same kind of thing.

Each "run" here is a real child process importing the test helpers, exited or killed with -9.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.leftovers import alive, serving_from


def child(code: str) -> subprocess.Popen[str]:
    """A Python process in the repository that prints one line (a path) and then does what `code` says."""
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def first_line(process: subprocess.Popen[str]) -> Path:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line, f"the child printed nothing (exit {process.poll()})"
    return Path(line)


def test_the_conversation_folders_of_make_settings_go_when_the_run_ends():
    ended = child("from tests.conftest import make_settings\n"
                  "print(make_settings().db_path.parent, flush=True)\n"
                  "print(make_settings().db_path.parent, flush=True)")
    first, second = first_line(ended), first_line(ended)
    assert ended.wait(30) == 0
    assert first != second and first.parent == second.parent  # one run folder holds them all
    assert not first.parent.exists()

    killed = child("import time\nfrom tests.conftest import make_settings\n"
                   "print(make_settings().db_path.parent, flush=True)\ntime.sleep(600)")
    left = first_line(killed)
    killed.kill()
    killed.wait(30)
    assert left.exists()  # a killed run cannot clean up after itself...
    nxt = child("from tests.conftest import make_settings\nprint(make_settings().db_path.parent, flush=True)")
    first_line(nxt)
    assert nxt.wait(30) == 0
    assert not left.parent.exists()  # ...so the next one does


def test_a_killed_runs_postgresql_is_stopped_and_removed_by_the_next_cluster():
    killed = child("import time\nfrom tests.postgres import Postgres\n"
                   "print(Postgres().start().root, flush=True)\ntime.sleep(600)")
    root = first_line(killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    postmaster = serving_from(root, root / "data" / "postmaster.pid")
    assert postmaster is not None  # still serving, its run gone

    from tests.postgres import Postgres

    fresh = Postgres()
    try:
        assert not root.exists()
        assert not alive(postmaster) or not Path(f"/proc/{postmaster}/cmdline").read_bytes()
    finally:
        fresh.destroy()
    assert not fresh.root.exists()


def test_a_passing_tests_tmp_path_goes_and_only_a_failures_is_kept(tmp_path: Path):
    tests = tmp_path / "test_sample.py"
    tests.write_text("def test_passes(tmp_path):\n    (tmp_path / 'big').write_bytes(b'x' * 1000)\n\n"
                     "def test_fails(tmp_path):\n"
                     "    (tmp_path / 'clue').write_text('why')\n    assert False\n")
    temproot = tmp_path / "temproot"
    temproot.mkdir()

    def run(*args: str) -> int:
        env = {**os.environ, "PYTEST_DEBUG_TEMPROOT": str(temproot)}
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-c", str(ROOT / "pyproject.toml"),
                               "--rootdir", str(tmp_path), "-p", "no:xdist", str(tests), *args],
                              env=env, capture_output=True, text=True, timeout=120).returncode

    assert run() == 1  # one failed
    kept = [p for p in temproot.glob("pytest-of-*/pytest-[0-9]*/*") if not p.is_symlink()]  # not *current
    assert [p.name for p in kept] == ["test_fails0"], kept  # the failure's folder, not the passing test's
    assert (kept[0] / "clue").read_text() == "why"
    assert run("-k", "passes") == 0
    runs = list(temproot.glob("pytest-of-*/pytest-[0-9]*"))
    assert runs == [kept[0].parent], runs  # the green run left no folder; the failed one's stays


HOLDS_A_SERVER = '''
import os, socket, time
from tests.process import ServerProcess

def test_holds_a_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VOICECHAT_"))}
    env.update(PYTHONUNBUFFERED="1", VOICECHAT_MODELS_DIR=os.environ["SERVER_MODELS"],
               VOICECHAT_DB_PATH=str(tmp_path / "db.sqlite3"), VOICECHAT_MEDIA_DB=str(tmp_path / "m.sqlite3"),
               VOICECHAT_MEDIA_DIR=str(tmp_path / "media"), OPENAI_API_BASE_URL="http://127.0.0.1:9/v1",
               OPENAI_API_KEY="sk-unused")
    server = ServerProcess(env)  # listening
    with socket.create_connection(("127.0.0.1", int(os.environ["REPORT_PORT"]))) as report:
        report.sendall(f"{os.getpid()} {server.proc.pid}\\n".encode())
    time.sleep(600)  # killed long before
'''


@pytest.mark.parametrize("workers", [[], ["-n", "1"]], ids=["pytest", "pytest-xdist"])
def test_a_server_started_by_a_test_dies_when_its_pytest_is_killed_9(tmp_path: Path, workers: list[str]):
    (tmp_path / "test_holder.py").write_text(HOLDS_A_SERVER)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(240)  # the server loads whisper and Piper first: minutes on a busy machine
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SERVER_MODELS": str(ROOT / "models"),
               "REPORT_PORT": str(listener.getsockname()[1])}
        plugins = ["-p", "xdist"] if workers else ["-p", "no:xdist"]
        pytest_run = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest", *plugins,
             *workers, "--rootdir", str(tmp_path), str(tmp_path / "test_holder.py")],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server_pid = 0
        try:
            connection, _ = listener.accept()
            with connection, connection.makefile() as lines:
                test_pid, server_pid = map(int, lines.readline().split())
            watched = [os.pidfd_open(pid) for pid in (test_pid, server_pid)]  # both alive now
            assert (test_pid == pytest_run.pid) != bool(workers)  # the test ran in pytest, or a worker
            pytest_run.send_signal(signal.SIGKILL)
            pytest_run.wait(30)
            for name, pidfd in zip(("the test's process", "its server"), watched, strict=True):
                exited, _, _ = select.select([pidfd], [], [], 30)  # readable once the process has exited
                os.close(pidfd)
                assert exited, f"{name} still runs 30 s after its pytest was killed -9"
        finally:
            if pytest_run.poll() is None:
                pytest_run.kill()
            if server_pid and alive(server_pid):  # the failure is reported; the orphan goes anyway
                os.kill(server_pid, signal.SIGKILL)
