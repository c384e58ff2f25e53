"""`python server.py --port 0` as a subprocess, the way a user starts it: its address comes from its log,
which is read line by line as it is written (a full pipe would block the server).

A server started here dies with the test process that started it, even one killed with -9 (a CI timeout,
a user's ^C twice): the kernel sends it SIGKILL when its parent ends (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import functools
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTENING = r"Uvicorn running on (https?)://[0-9.:\[\]]+:(\d+)"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Resolved here, in the parent: between fork and exec the child must not load libraries (another thread
# may have held the loader's lock at the fork).
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with(parent: int) -> None:
    """In the child, between fork and exec: ask for SIGKILL when the parent ends. The kernel ties it to
    the parent's *thread* that forked: a server started from a thread that ends goes with that thread (the
    tests start theirs from the test's own thread)."""
    if _prctl is None:
        return
    if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:  # no silent fallback: Popen raises
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the request was in place
        os.kill(os.getpid(), signal.SIGKILL)


def die_with_parent() -> None:
    """This process (an xdist worker) is killed when the process that started it ends: a worker whose
    pytest was killed -9 would otherwise finish the test it is in first (seconds, or a long model run)."""
    parent = os.getppid()
    if parent != 1:
        _die_with(parent)


def dies_with_this_process() -> functools.partial[None]:
    """A `preexec_fn` for subprocess.Popen: the child is killed when this process ends, however it ends."""
    return functools.partial(_die_with, os.getpid())


class ServerProcess:
    """A server process and its log. `wait_for` blocks until a matching line is written."""

    def __init__(self, env: dict[str, str], timeout: float = 120.0, argv: list[str] | None = None,
                 cwd: Path | None = None, wait: bool = True) -> None:
        self.proc = subprocess.Popen(
            argv or [sys.executable, "server.py", "--port", "0"], cwd=cwd or ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=dies_with_this_process(),
        )  # fmt: skip
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._closed = False  # the log pipe reached its end: the process is gone
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.scheme, self.port = "http", 0
        if wait:
            self.wait_listening(timeout)

    @classmethod
    def start_all(cls, envs: list[dict[str, str]], timeout: float = 120.0) -> list[ServerProcess]:
        """Several servers started at once (each loads its models on a core of its own: a two-node
        cluster is up in about the time of one), returned once all listen; if one fails, all stop."""
        servers = [cls(env, timeout, wait=False) for env in envs]
        try:
            for server in servers:
                server.wait_listening(timeout)
        except BaseException:
            for server in servers:
                server.stop()
            raise
        return servers

    def wait_listening(self, timeout: float = 120.0) -> None:
        """Block until the server logs the address it listens on; take its scheme and port from it."""
        listening = self.wait_for(LISTENING, timeout)
        self.scheme, self.port = listening.group(1), int(listening.group(2))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def http(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"{'wss' if self.scheme == 'https' else 'ws'}://127.0.0.1:{self.port}/ws"

    @property
    def log(self) -> str:
        """The log so far, one string."""
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first log line matching `pattern`, waiting for it to be written (or the log to end)."""
        regex = re.compile(pattern)
        seen = 0

        def found() -> re.Match[str] | None:
            nonlocal seen
            for line in self.lines[seen:]:
                if match := regex.search(line):
                    return match
            seen = len(self.lines)
            return None

        with self._changed:
            match = self._changed.wait_for(lambda: found() or self._closed, timeout)
        if not isinstance(match, re.Match):
            tail = "\n".join(self.lines[-20:])
            raise AssertionError(f"no log line matching {pattern!r}; the server said:\n{tail}")
        return match

    def wait_closed(self, timeout: float = 10.0) -> None:
        """Wait until the whole log has been read (the process has exited and its pipe closed)."""
        self._reader.join(timeout)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in 15 s; the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        status = self.proc.wait()
        self.wait_closed()
        return status

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
