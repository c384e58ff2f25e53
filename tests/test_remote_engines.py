"""Remote STT/TTS: one voicechat (the front) uses a second voicechat process (the back) through its
OpenAI-shaped REST door, and falls back to local Piper when the remote voice is down."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.test_rest import MAX_WER, wer
from tests.wsclient import NativeClient
from voicechat.audio import rms_dbfs

from .test_conversation import spoken_turn


class ServerProcess:
    """`python server.py --port 0` as a subprocess; its log is read line by line as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "server.py", "--port", "0"], cwd=ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        match = self.wait_for(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", timeout=120)
        self.url = f"http://127.0.0.1:{match.group(1)}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip())
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first log line matching `pattern`, waiting for it to be written."""
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
            match = self._changed.wait_for(lambda: found() or self.proc.poll() is not None, timeout)
        if not isinstance(match, re.Match):
            tail = "\n".join(self.lines[-20:])
            raise AssertionError(f"no log line matching {pattern!r}; the back said:\n{tail}")
        return match

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def back(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data: Path = tmp_path_factory.mktemp("back")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICECHAT_", "OPENAI_"))}
    env.update({
        "VOICECHAT_MODELS_DIR": os.environ.get("VOICECHAT_MODELS_DIR", str(ROOT / "models")),
        "VOICECHAT_MEDIA_DB": str(data / "media.sqlite3"),
        "VOICECHAT_MEDIA_DIR": str(data / "media"),
        "VOICECHAT_DB_PATH": str(data / "voicechat.sqlite3"),
        # The back serves audio only; a chat URL keeps it from loading the local chat model.
        "OPENAI_API_BASE_URL": "http://127.0.0.1:9",
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    server = ServerProcess(env)
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_spoken_turn_through_a_remote_voicechat(start_server, fake_chat, back):
    front = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                         stt_url=back.url, tts_url=back.url + "/v1", tts_remote_voice="alloy")
    async with httpx.AsyncClient() as http:
        health = (await http.get(front.http + "/health")).json()
    assert back.url in health["engines"]["stt"] and back.url in health["engines"]["tts"]
    assert health["tts_engines"][0]["name"] == "remote"

    client = await NativeClient.connect(front.ws)
    said = "What time is it in Tokyo?"
    done = await spoken_turn(client, said)
    await client.close()

    assert done["status"] == "completed", done
    assert wer(said, done["user_text"]) <= MAX_WER, done["user_text"]
    assert done["tts_engine"] == "remote"
    assert done["text"] == fake_chat.reply_for(done["user_text"])
    assert len(client.audio) / 2 / 24000 > 2.0 and rms_dbfs(bytes(client.audio)) > -35
    # The back really did the work, through its REST door.
    back.wait_for(r'"POST /v1/audio/transcriptions HTTP/1\.1" 200')
    back.wait_for(r'"POST /v1/audio/speech HTTP/1\.1" 200')


async def test_local_piper_speaks_when_the_remote_voice_is_down(start_server, fake_chat):
    front = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                         tts_url=f"http://127.0.0.1:{free_port()}", remote_timeout_s=2.0)
    client = await NativeClient.connect(front.ws)
    await client.send({"type": "text", "text": "Good morning"})
    done = await client.expect("turn.done")
    await client.close()
    assert done["status"] == "completed" and done["tts_engine"] == "piper"
    async with httpx.AsyncClient() as http:
        health = (await http.get(front.http + "/health")).json()
    status = {e["name"]: e for e in health["tts_engines"]}
    assert status["remote"]["state"] == "skipped" and status["remote"]["failures"] == 1
