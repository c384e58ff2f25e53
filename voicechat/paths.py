"""Where a running server keeps what it writes: assembled models, conversations, media, its generated
access token and its self-signed certificate.

Relative paths in the settings (`models/`, `data/…`) are kept in one folder, the *home*:

1. `VOICECHAT_HOME` when set (the Docker image sets `/data`);
2. else the working folder, when it is writable (a checkout, as in the quick start);
3. else `/var/lib/voicechat` for root (a system service), or `$XDG_DATA_HOME/voicechat`
   (`~/.local/share/voicechat`) for anyone else (a wheel installed and started from a read-only folder).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SYSTEM_HOME = Path("/var/lib/voicechat")
TOKEN_FILE = Path("data/access-token")


def writable(folder: Path) -> bool:
    """True when files can be created in `folder` (it need not exist yet if its parent is writable)."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def user_home() -> Path:
    """The per-user data folder: `$XDG_DATA_HOME/voicechat`, `~/.local/share/voicechat` by default."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "voicechat"


def choose_home(configured: Path | None, cwd: Path | None = None) -> Path:
    """The folder relative paths are kept in (see the module docstring for the order)."""
    if configured is not None:
        return configured.expanduser().resolve()
    cwd = (cwd or Path.cwd()).resolve()
    if writable(cwd):
        return cwd
    if os.geteuid() == 0:
        return SYSTEM_HOME
    return user_home()


def enter_home(configured: Path | None) -> Path:
    """Create the home folder if needed and make it the working folder, so every relative path in the
    settings (ours and the media providers') lands there. Returns it."""
    home = choose_home(configured)
    home.mkdir(parents=True, exist_ok=True)
    if home != Path.cwd().resolve():
        os.chdir(home)
    return home


def generated_token(home: Path) -> tuple[str, bool]:
    """The access token kept in `home/data/access-token`, made on first use (like Jupyter's). Returns the
    token and whether it was made just now. The file is readable by its owner only."""
    path = home / TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        if len(token) >= 16:
            return token, False
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    # Written under a temporary name and renamed: a crash never leaves a half-written token behind.
    partial = path.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    partial.replace(path)
    return token, True
