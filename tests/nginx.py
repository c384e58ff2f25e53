"""Debian's nginx (scripts/setup.sh --test installs it) in front of test nodes, with the configuration
docs/deployment.md documents: its load-balancer ```nginx block, with the test's node addresses and a free
port."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests import leftovers
from tests.conftest import ROOT
from tests.process import dies_with_this_process

PREFIX = "voicechat-nginx-"


def documented_config() -> str:
    text = (ROOT / "docs" / "deployment.md").read_text()
    # The load balancer's block is the one with the `voicechat` upstream (the single-node proxy's has none).
    blocks = [b for b in re.findall(r"```nginx\n(.*?)```", text, flags=re.S) if "upstream voicechat" in b]
    assert len(blocks) == 1, "docs/deployment.md should hold one ```nginx block with `upstream voicechat`"
    return blocks[0]


class Nginx:
    def __init__(self, node_ports: list[int]) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(binary):
            raise RuntimeError("nginx is not installed: run scripts/setup.sh --test (apt-get install nginx)")
        self.binary = binary
        leftovers.sweep(PREFIX, stop=_stop_stale)  # a killed run's nginx outlives it (its parent is gone)
        self.root = leftovers.new_dir(PREFIX)
        os.chmod(self.root, 0o755)  # nginx workers may run as another user
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        config = documented_config()
        servers = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;\n"
                          for port in node_ports)
        config, count = re.subn(r"(upstream voicechat \{\n(?:\s*#.*\n)*)(?:\s*server .*\n)+",
                                rf"\g<1>{servers}", config)
        assert count == 1, "the documented upstream block was not found"
        config = config.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        temp = self.root / "temp"
        temp.mkdir()
        (self.root / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {self.root}/nginx.pid;
error_log {self.root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {self.root}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{config}
}}
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        self.proc = subprocess.Popen([self.binary, "-p", str(self.root), "-c", str(self.root / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=dies_with_this_process())
        # Listening is the signal nginx is up; connect() fails until then (no log line to wait for).
        deadline = time.monotonic() + 30  # a bound, not a guess: ~10 ms here, more on a loaded machine
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                said = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"nginx failed: {said}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("nginx did not start listening")

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def _stop_stale(root: Path) -> None:
    pid = leftovers.serving_from(root, root / "nginx.pid")
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
