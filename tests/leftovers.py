"""Temporary folders of a test run, named after the run's process, so that a run removes what a killed run
(kill -9, a CI timeout) left behind: its folders, and the PostgreSQL or nginx still serving from them.

A run's folder is `<tmp>/<prefix><pid>-<random>`. It is stale once that process is gone. A folder named
before this scheme (`<prefix><random>`) is stale once it is an hour old: no run lasts that long. Several
runs at once (several checkouts, xdist workers) each keep their own: only dead runs' folders are touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LEGACY_AGE_S = 3600.0


def new_dir(prefix: str) -> Path:
    """A fresh folder of this run (its name carries this process's id)."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's, but alive
    return True


def stale(prefix: str) -> list[Path]:
    """Folders with `prefix` whose run is gone."""
    found = []
    for path in Path(tempfile.gettempdir()).glob(prefix + "*"):
        pid, dash, _ = path.name[len(prefix):].partition("-")
        try:
            if dash and pid.isdigit():
                gone = not alive(int(pid))
            else:
                gone = time.time() - path.stat().st_mtime > LEGACY_AGE_S
        except OSError:  # removed meanwhile by another run's sweep
            continue
        if gone and path.is_dir():
            found.append(path)
    return found


def serving_from(root: Path, pid_file: Path) -> int | None:
    """The live process whose pid `pid_file` holds, if its command line names `root` (a reused pid is not
    ours: it is never signalled)."""
    try:
        pid = int(pid_file.read_text().split()[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return None
    return pid if str(root) in command and alive(pid) else None


def sweep(prefix: str, stop: Callable[[Path], None] | None = None) -> list[Path]:
    """Remove the stale folders with `prefix`, first calling `stop(folder)` (a server still running from
    it); returns what was removed."""
    removed = []
    for path in stale(prefix):
        if stop is not None:
            try:
                stop(path)
            except Exception:  # a server that will not stop keeps its folder until the next sweep
                continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
