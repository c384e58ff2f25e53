"""Honest provider configuration through the real server: a chat gateway serves media only when the
user says so, and a gateway that has no media routes gets an error that names the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.providers import KEY, FakeMediaServer, shared_fake
from tests.test_media_voice import media_event
from tests.wsclient import NativeClient
from voicechat.media.config import MediaSettings
from voicechat.media.service import MediaService


@pytest.fixture
def fake() -> FakeMediaServer:
    return shared_fake()


def service_from_env(root: Path, **values: str) -> MediaService:
    """The media service exactly as the server builds it from its environment."""
    settings = MediaSettings(
        _env_file=None,
        voicechat_media_db=str(root / "media.sqlite3"),
        voicechat_media_dir=str(root / "files"),
        voicechat_media_poll_interval_s=0.05,
        **values,
    )
    return MediaService.from_settings(settings)


def start(start_server, fake_chat, media: MediaService):  # type: ignore[no-untyped-def]
    return start_server(media=media, openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key)


async def ask(client: NativeClient, text: str) -> dict:
    mark = len(client.events)
    await client.send({"type": "text", "text": text})
    return await client.find("turn.done", after=mark)


async def test_a_chat_gateway_alone_sends_no_media_anywhere(start_server, fake_chat, fake, tmp_path):
    # The README's examples: OPENAI_API_BASE_URL and a key, nothing else. The gateway here would even
    # answer /suno: nothing may reach it unless the user opts in.
    media = service_from_env(tmp_path, openai_api_base_url=fake.url, openai_api_key=KEY)
    server = start(start_server, fake_chat, media)
    client = await NativeClient.connect(server.ws)
    done = await ask(client, "Make a song about a happy Sunday")
    failed = await media_event(client, "failed")
    picture = await ask(client, "Draw a red fox sleeping in the snow")
    await client.close()
    server.thread.stop()
    assert "SUNO_SERVER" in done["text"] and "VOICECHAT_MEDIA_GATEWAY" in done["text"]
    assert done["audio_ms"] > 0
    assert failed["job"]["error_code"] == "not_configured"
    assert "MJ_SERVER" in picture["text"]
    assert fake.requests == [] and fake_chat.requests == []


async def test_the_gateway_opt_in_routes_media_to_it(start_server, fake_chat, fake, tmp_path):
    media = service_from_env(
        tmp_path, openai_api_base_url=fake.url + "/v1", openai_api_key=KEY, voicechat_media_gateway="true"
    )
    server = start(start_server, fake_chat, media)
    client = await NativeClient.connect(server.ws)
    await ask(client, "Make a song about a happy Sunday")
    job = (await media_event(client, "submitted"))["job"]
    finished = await media_event(client, "succeeded", id=job["id"])
    await client.close()
    server.thread.stop()
    assert job["provider"] == "suno" and finished["job"]["result_urls"]
    submitted = fake.sent("/suno/generate/description-mode")
    assert len(submitted) == 1 and submitted[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("gateway", ["chat_server", "html"])
async def test_a_gateway_without_the_route_is_named_in_the_spoken_error(
    gateway, start_server, fake_chat, fake, tmp_path
):
    if gateway == "chat_server":
        # A plain chat server (like Ollama) opted in by mistake: it answers 404 at /suno/...
        base = fake_chat.base_url
    else:
        base = fake.url  # a gateway that answers its web UI's HTML page
        fake.fault("suno", "html")
    media = service_from_env(
        tmp_path, openai_api_base_url=base, openai_api_key=fake_chat.api_key, voicechat_media_gateway="true"
    )
    server = start(start_server, fake_chat, media)
    client = await NativeClient.connect(server.ws)
    await client.send({"type": "text", "text": "Make a song about a happy Sunday"})
    failed = await media_event(client, "failed")
    notice = await client.find("turn.done", media_job_id=None)  # spoken unprompted when the job fails
    await client.close()
    server.thread.stop()
    assert failed["job"]["error_code"] == ("no_route" if gateway == "chat_server" else "bad_response")
    for said in (failed["message"], notice["text"]):
        assert "VOICECHAT_MEDIA_GATEWAY" in said and "SUNO_SERVER" in said, said
    assert notice["audio_ms"] > 0
