"""Conversations and media jobs survive: saved before the client is told, readable over HTTP,
intact after `kill -9`, and an unfinished media job finishes after the restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import ROOT
from tests.fakes.providers import MJ_SECRET, shared_fake
from tests.process import ServerProcess
from tests.speech import piper_speech, silence
from tests.wsclient import NativeClient


async def test_conversation_is_saved_with_timings_and_truncation(remote_server, fake_chat):
    fake_chat.mode = "long"
    client = await NativeClient.connect(remote_server.ws)
    session_id = client.ready["session_id"]
    await client.stream(silence(300) + piper_speech("Tell me everything about the history of Rome.")
                        + silence(900))
    start = await client.expect("reply.audio.start")
    await client.send({"type": "reply.cancel"})
    await client.expect("turn.done")
    await client.send({"type": "playback", "turn_id": start["turn_id"], "played_ms": 1200})
    fake_chat.mode = "ok"
    await client.send({"type": "text", "text": "Thanks"})
    await client.expect("turn.done", turn_id="turn_2")
    await client.close()

    async with httpx.AsyncClient(base_url=remote_server.http) as http:
        listed = (await http.get("/api/conversations")).json()["conversations"]
        saved = next(c for c in listed if c["id"] == session_id)
        one = (await http.get(f"/api/conversations/{session_id}")).json()
        assert (await http.get("/api/conversations/nope")).status_code == 404
    assert one == saved
    first, second = saved["turns"]
    assert "history of rome" in first["user_text"].lower()
    assert first["status"] == "interrupted"
    full = fake_chat.reply_for(first["user_text"])
    assert 0 < len(first["assistant_text"]) < len(full) / 4  # what was heard, not what was written
    assert first["timings"]["transcript_ms"] > 0
    assert second["user_text"] == "Thanks" and second["status"] == "completed"


@pytest.fixture
def server_env(tmp_path: Path, fake_chat) -> dict[str, str]:
    fake = shared_fake()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MJ_", "VOICECHAT_"))}
    env.update({
        "PYTHONUNBUFFERED": "1",
        "VOICECHAT_MODELS_DIR": str(ROOT / "models"),
        "VOICECHAT_DB_PATH": str(tmp_path / "voicechat.sqlite3"),
        "VOICECHAT_MEDIA_DB": str(tmp_path / "media.sqlite3"),
        "VOICECHAT_MEDIA_DIR": str(tmp_path / "media"),
        "VOICECHAT_MEDIA_POLL_INTERVAL_S": "0.1",
        "VOICECHAT_MEDIA_LEASE_S": "2",  # the restarted server takes the dead one's job over in <3 s
        "OPENAI_API_BASE_URL": fake_chat.base_url,
        "OPENAI_API_KEY": fake_chat.api_key,
        "VOICECHAT_CHAT_TIMEOUT_S": "60",
        "MJ_SERVER": fake.url,
        "MJ_API_SECRET": MJ_SECRET,
    })  # fmt: skip
    return env


async def test_kill_9_during_a_turn_and_a_media_job(server_env, fake_chat):
    fake = shared_fake()
    fake.stuck.add("midjourney")  # the job cannot finish before the crash
    first = ServerProcess(server_env)
    client = await NativeClient.connect(first.ws)
    session_id = client.ready["session_id"]
    await client.send({"type": "text", "text": "Draw a lighthouse in a storm"})
    submitted = await client.find("media.job", event="submitted")
    job_id = submitted["job"]["id"]
    await client.find("media.job", event="progress")  # the provider has the job
    await client.find("turn.done")
    # A second turn is mid-reply when the server dies.
    fake_chat.mode = "slow"
    await client.send({"type": "text", "text": "What is the tallest lighthouse?"})
    await client.expect("reply.started")
    first.kill9()
    await client.close()
    fake_chat.server.call_soon(fake_chat.release.set)

    fake.stuck.discard("midjourney")
    fake_chat.mode = "ok"
    second = ServerProcess(server_env)
    try:
        watcher = await NativeClient.connect(second.ws)  # same user: gets the resumed job's updates
        done = await watcher.find("media.job", event="succeeded", timeout=60)
        await watcher.close()
        assert done["job"]["id"] == job_id and done["job"]["result_urls"]
        async with httpx.AsyncClient(base_url=second.http) as http:
            saved = (await http.get(f"/api/conversations/{session_id}")).json()
            job = (await http.get(f"/api/jobs/{job_id}")).json()
        assert job["status"] == "succeeded"
        turns = saved["turns"]
        assert [t["user_text"] for t in turns] == ["Draw a lighthouse in a storm",
                                                  "What is the tallest lighthouse?"]
        assert turns[0]["status"] == "completed" and turns[0]["media_job_id"] == job_id
        assert turns[1]["status"] == "running"  # it was cut by the crash, and the record says so
    finally:
        second.stop()
        fake_chat.server.call_soon(fake_chat.release.clear)


async def test_sigterm_lets_the_running_turn_finish_then_closes(server_env, fake_chat):
    server = ServerProcess(server_env)
    client = await NativeClient.connect(server.ws)
    fake_chat.mode = "slow"
    try:
        await client.send({"type": "text", "text": "Tell me about the moon"})
        await client.expect("reply.started")
        server.proc.send_signal(signal.SIGTERM)
        # Shutdown has begun: nobody new gets in...
        server.wait_for("letting 1 sessions finish")
        with pytest.raises(OSError):
            await NativeClient.connect(server.ws)
        # ...while the turn in progress is allowed to end.
        fake_chat.server.call_soon(fake_chat.release.set)
        done = await client.expect("turn.done")
        assert done["status"] == "completed"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.next(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert server.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        fake_chat.server.call_soon(fake_chat.release.clear)
        server.stop()


async def test_sigterm_lets_a_realtime_response_finish_then_closes_with_1001(server_env, fake_chat):
    """The Realtime door shares the native door's socket loop, so shutdown treats its clients the same."""
    server = ServerProcess(server_env)
    fake_chat.mode = "slow"

    async def next_of(ws: websockets.ClientConnection, kind: str) -> dict:
        while (event := json.loads(await asyncio.wait_for(ws.recv(), 30)))["type"] != kind:
            pass
        return event

    try:
        async with websockets.connect(server.http.replace("http", "ws") + "/v1/realtime?model=t") as ws:
            await next_of(ws, "session.created")
            await ws.send(json.dumps({"type": "conversation.item.create", "item": {
                "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}}))
            await ws.send(json.dumps({"type": "response.create",
                                      "response": {"output_modalities": ["text"]}}))
            await next_of(ws, "response.created")
            server.proc.send_signal(signal.SIGTERM)
            server.wait_for("letting 1 sessions finish")
            fake_chat.server.call_soon(fake_chat.release.set)
            done = await next_of(ws, "response.done")
            assert done["response"]["status"] == "completed"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await next_of(ws, "never")
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert server.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        fake_chat.server.call_soon(fake_chat.release.clear)
        server.stop()


async def test_sigterm_lets_a_wyoming_request_finish_then_closes_the_connection(server_env, fake_chat):
    """Wyoming's requests run through the same connection loop: on SIGTERM the running `handle` request is
    answered in full, then the connection closes cleanly (Wyoming has no close code: the door's 1001)."""
    from wyoming.asr import Transcript
    from wyoming.client import AsyncTcpClient
    from wyoming.handle import Handled

    server = ServerProcess({**server_env, "VOICECHAT_WYOMING_URI": "tcp://127.0.0.1:0"})
    port = int(server.wait_for(r"wyoming: serving .* at tcp://127\.0\.0\.1:(\d+)").group(1))
    fake_chat.mode = "slow"
    try:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            client.read_timeout = 30
            await client.write_event(Transcript(text="Tell me about the moon").event())
            assert (await client.read_event()).type == "handled-start"
            server.proc.send_signal(signal.SIGTERM)
            server.wait_for("letting 1 sessions finish")
            with pytest.raises(OSError):  # nobody new gets in
                async with AsyncTcpClient("127.0.0.1", port) as late:
                    await late.write_event(Transcript(text="Hello").event())
                    await late.read_event()
            fake_chat.server.call_soon(fake_chat.release.set)
            while (event := await client.read_event()) is not None and event.type != "handled":
                pass
            assert event is not None and Handled.from_event(event).text == fake_chat.reply_for(
                "Tell me about the moon")
            assert await client.read_event() is None  # then the connection closes
        assert server.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        fake_chat.server.call_soon(fake_chat.release.clear)
        server.stop()
