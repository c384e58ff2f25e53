"""End to end over /ws with the fake OpenAI chat server."""

from __future__ import annotations

from tests.speech import piper_speech, silence
from tests.wsclient import NativeClient


async def test_one_spoken_turn(remote_server, fake_chat):
    client = await NativeClient.connect(remote_server.ws)
    await client.stream(silence(300) + piper_speech("What is the capital of France?") + silence(900))
    transcript = await client.expect("transcript")
    done = await client.expect("turn.done")
    print(transcript, done)
    assert "capital of france" in transcript["text"].lower()
    assert done["status"] == "completed"
    assert len(client.audio) > 16000
    await client.close()
