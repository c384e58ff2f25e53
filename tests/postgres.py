"""A real PostgreSQL for the tests: Debian's `postgresql` package (scripts/setup.sh --test installs it),
initdb into a temporary folder, served on a free loopback port by pg_ctl, stopped and started at will.

initdb refuses to run as root, so as root the server runs as the `postgres` user the package creates.
pg_ctl detaches the server, so a killed test run leaves it running: the folder is named after the run's
process (tests/leftovers.py), and the next cluster made stops and removes those of runs that are gone.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

from tests import leftovers

PREFIX = "voicechat-pg-"


def _bin_dir() -> Path | None:
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))  # Debian keeps them off the PATH
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(os.path.realpath(found)).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Postgres:
    """One throwaway cluster; `database()` hands each test a fresh database URL."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed: run scripts/setup.sh --test "
                               "(apt-get install postgresql)")
        self.bin = bin_dir
        self._as_postgres = os.geteuid() == 0
        self.root = leftovers.new_dir(PREFIX)
        leftovers.sweep(PREFIX, stop=self._stop_stale)  # (ours is alive: it stays)
        self.data = self.root / "data"
        self.port = _free_port()
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
            os.chmod(self.root, 0o700)
        self.user = "postgres" if self._as_postgres else os.environ.get("USER", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                  "--no-sync")

    def _stop_stale(self, root: Path) -> None:
        """A dead run's cluster: stop it if it still runs (and only if it is the one serving `root`)."""
        if leftovers.serving_from(root, root / "data" / "postmaster.pid") is not None:
            self._run("pg_ctl", "-D", str(root / "data"), "-m", "immediate", "-w", "stop")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stdout}{result.stderr}")

    def start(self) -> Postgres:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres",
                  "-q", "-c", f"CREATE DATABASE {name}")
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)
