"""Remote STT/TTS: one voicechat (the front) uses a second voicechat process (the back) through its
OpenAI-shaped REST door, and falls back to local Piper when the remote voice is down."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.process import ServerProcess
from tests.speech import MAX_WER, wer
from tests.wsclient import NativeClient
from voicechat.audio import rms_dbfs

from .test_conversation import spoken_turn


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
                         stt_url=back.http, tts_url=back.http + "/v1", tts_remote_voice="alloy")
    async with httpx.AsyncClient() as http:
        health = (await http.get(front.http + "/health")).json()
    assert back.http in health["engines"]["stt"] and back.http in health["engines"]["tts"]
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
