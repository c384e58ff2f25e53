"""Media by voice, end to end: spoken request -> routed -> job at a (fake) provider -> progress and
result events -> spoken acknowledgement and completion; follow-ups by voice and by button; HTTP API."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.providers import FakeMediaServer
from tests.speech import piper_speech, silence
from tests.wsclient import NativeClient


@pytest.fixture
def fake(fake_media: FakeMediaServer) -> FakeMediaServer:
    return fake_media  # the one `start_media_server` points its providers at


@pytest.fixture
def media_server(start_media_server):
    return start_media_server()


async def say_it(client: NativeClient, text: str) -> None:
    await client.stream(silence(300) + piper_speech(text) + silence(900))


async def media_event(client: NativeClient, event: str, after: int = 0, **match) -> dict:
    """A media.job update (in any order relative to the turn's own events)."""
    checked = after
    try:
        while True:
            for update in client.events[checked:]:
                if update["type"] == "media.job" and update["event"] == event \
                        and all(update["job"].get(k) == v for k, v in match.items()):
                    return update
            checked = len(client.events)
            await client.next(timeout=20)
    except TimeoutError:
        recent = [(e["type"], e.get("text") or e.get("event")) for e in client.events[-10:]]
        raise AssertionError(f"no {event} media.job event; last events: {recent}") from None


async def test_spoken_picture_request_to_result_and_upscale(media_server, fake, fake_chat):
    client = await NativeClient.connect(media_server.ws)
    await say_it(client, "Draw a red fox sleeping in the snow.")
    submitted = await media_event(client, "submitted")
    job = submitted["job"]
    assert job["kind"] == "image" and job["provider"] == "midjourney"
    prompt = job["prompt"].lower()
    assert prompt.startswith("a red fox") and prompt.rstrip(".").endswith("in the snow"), prompt
    ack = await client.find("turn.done", media_job_id=job["id"])
    assert ack["text"] == submitted["message"]
    assert ack["audio_ms"] > 500  # the acknowledgement was spoken
    assert not fake_chat.requests  # a media request never reaches the chat model
    progress = await media_event(client, "progress", id=job["id"])
    assert 0 <= progress["job"]["progress"] < 100
    done = await media_event(client, "succeeded", id=job["id"])
    labels = [b["label"] for b in done["job"]["result"]["buttons"]]
    assert {"U1", "U2", "V3"} <= set(labels) and done["job"]["result_urls"]
    notice = await client.find("turn.done", media_job_id=None)  # the completion, spoken unprompted
    assert "ready" in notice["text"].lower() and notice["audio_ms"] > 500

    mark = len(client.events)
    await say_it(client, "Upscale the second one.")
    heard = await client.find("transcript", after=mark)
    child = (await media_event(client, "submitted", after=mark))["job"]
    assert child["action"] == "upscale" and child["parent_job_id"] == job["id"], heard
    await media_event(client, "succeeded", id=child["id"])
    assert any("upsample::2" in str(r.json) for r in fake.sent("/mj/submit/action"))

    # The browser's V3 button is the same as saying it.
    mark = len(client.events)
    await client.send({"type": "media.action", "job_id": job["id"], "action": "variation", "index": 3})
    variation = (await media_event(client, "submitted", after=mark))["job"]
    assert variation["action"] == "variation" and variation["parent_job_id"] == job["id"]
    await client.close()

    async with httpx.AsyncClient(base_url=media_server.http) as http:
        listed = (await http.get("/api/jobs")).json()["jobs"]
        assert {j["id"] for j in listed} >= {job["id"], child["id"], variation["id"]}
        one = await http.get(f"/api/jobs/{job['id']}")
        assert one.json()["status"] == "succeeded"
        assert (await http.get("/api/jobs/nope")).status_code == 404


async def test_every_connection_of_the_user_sees_the_job(media_server):
    speaker = await NativeClient.connect(media_server.ws)
    watcher = await NativeClient.connect(media_server.ws)
    await speaker.send({"type": "text", "text": "Make a video of the sun rising over a forest"})
    seen = await media_event(watcher, "submitted")
    assert seen["job"]["kind"] == "video" and seen["job"]["provider"] == "luma"
    await media_event(watcher, "succeeded", id=seen["job"]["id"])
    finished = await media_event(speaker, "succeeded", id=seen["job"]["id"])
    assert finished["job"]["result_urls"]
    # Only the session that asked speaks the completion.
    notice = await speaker.find("turn.done", media_job_id=None)
    assert "ready" in notice["text"].lower()
    await watcher.send({"type": "ping", "id": "w"})
    await watcher.expect("pong", id="w")
    assert not [e for e in watcher.events if e["type"] == "turn.done"]
    await speaker.close()
    await watcher.close()


async def test_unconfigured_kind_says_what_to_set(media_server, fake_chat):
    client = await NativeClient.connect(media_server.ws)
    await client.send({"type": "text", "text": "Make a song about a happy Sunday"})
    failed = await media_event(client, "failed")
    done = await client.find("turn.done")
    await client.close()
    assert failed["job"]["error_code"] == "not_configured"
    assert "SUNO_SERVER" in done["text"] and done["audio_ms"] > 500
    assert not fake_chat.requests


async def test_banned_prompt_is_explained(media_server, fake):
    fake.state.mj_submit_codes = [24]
    client = await NativeClient.connect(media_server.ws)
    await client.send({"type": "text", "text": "Draw a picture of a gory battle"})
    failed = await media_event(client, "failed")
    notice = await client.find("turn.done", media_job_id=None)
    await client.close()
    assert failed["job"]["error_code"] == "banned_prompt"
    assert "refused" in notice["text"].lower()


async def test_upload_reference_image(media_server):
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    async with httpx.AsyncClient(base_url=media_server.http) as http:
        ok = await http.post("/api/uploads", files={"file": ("face.png", png, "image/png")})
        assert ok.status_code == 201
        body = ok.json()
        assert (await http.get(body["url"])).content == png
        fake_png = await http.post("/api/uploads", files={"file": ("x.png", b"MZ\x90\x00", "image/png")})
        assert fake_png.status_code == 415 and fake_png.json()["error"]["code"] == "unsupported_image"
        empty = await http.post("/api/uploads", data={"nothing": "here"})
        assert empty.status_code == 400
    client = await NativeClient.connect(media_server.ws)
    await client.send({"type": "media.attach", "upload_ids": [body["id"]]})
    assert (await client.expect("media.attached"))["count"] == 1
    await client.send({"type": "media.attach", "upload_ids": ["../../etc/passwd"]})
    assert (await client.expect("error"))["code"] == "invalid_event"
    await client.close()


async def test_a_tool_calling_model_starts_media_the_router_would_miss(media_server, fake_chat):
    fake_chat.mode = "tools"
    client = await NativeClient.connect(media_server.ws)
    await client.send({"type": "text", "text": "I would love to see the sunset over Paris as a watercolor"})
    submitted = await media_event(client, "submitted")
    done = await client.find("turn.done", media_job_id=submitted["job"]["id"])
    await client.close()
    assert submitted["job"]["prompt"] == "the sunset over Paris as a watercolor painting"
    assert done["text"].startswith("Sure.") and submitted["message"] in done["text"]
    offered = [t["function"]["name"] for t in fake_chat.requests[-1]["body"]["tools"]]
    assert "generate_image" in offered


async def test_a_model_without_tools_is_asked_again_without_them(media_server, fake_chat):
    fake_chat.mode = "no_tools"
    client = await NativeClient.connect(media_server.ws)
    await client.send({"type": "text", "text": "How are you today?"})
    first = await client.expect("turn.done")
    await client.send({"type": "text", "text": "And tomorrow?"})
    second = await client.expect("turn.done")
    await client.close()
    assert first["status"] == second["status"] == "completed"
    assert ["tools" in r["body"] for r in fake_chat.requests] == [True, False, False]
