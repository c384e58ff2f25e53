"""Every non-Midjourney adapter against the fake gateway: request shapes, status mapping, results."""

from __future__ import annotations

import base64
import socket

import pytest
from pydantic import SecretStr

from tests.fakes.media_helpers import drive
from tests.fakes.media_routes import TINY_PNG
from tests.fakes.providers import KEY, FakeMediaServer, shared_fake
from voicechat.media.jobs import JobStatus, MediaKind, MediaRequest
from voicechat.media.providers import ADAPTERS
from voicechat.media.providers.base import FollowsUp, ListsTemplates, MediaProvider, ProviderError

CDN = "https://cdn.example.test"
IMAGE = "data:image/png;base64," + base64.b64encode(TINY_PNG).decode()


@pytest.fixture
def fake() -> FakeMediaServer:
    return shared_fake()


@pytest.fixture
async def make(fake: FakeMediaServer):
    adapters = []

    def build(name: str, **kwargs):
        adapter = ADAPTERS[name](kwargs.pop("base_url", fake.url), SecretStr(KEY), **kwargs)
        adapters.append(adapter)
        return adapter

    yield build
    for adapter in adapters:
        await adapter.aclose()


async def test_openai_dall_e_answers_with_a_url(make, fake):
    job, _ = await drive(
        make("openai", options={"model": "dall-e-3"}), MediaRequest(MediaKind.IMAGE, "a fox")
    )
    assert job.status is JobStatus.SUCCEEDED and job.result_urls == [f"{CDN}/openai/1.png"]
    assert job.result["revised_prompt"] == "A detailed a fox"
    sent = fake.sent("/v1/images/generations")[0]
    assert sent.json == {
        "model": "dall-e-3",
        "prompt": "a fox",
        "n": 1,
        "size": "1024x1024",
        "response_format": "url",
    }
    assert sent.headers["authorization"] == f"Bearer {KEY}"


async def test_openai_gpt_image_answers_with_base64_files(make, fake):
    adapter = make(
        "openai", base_url=fake.url + "/v1", options={"model": "gpt-image-1"}
    )  # base written with /v1
    update = await adapter.submit(MediaRequest(MediaKind.IMAGE, "a fox"))
    assert update.status is JobStatus.SUCCEEDED
    assert update.files == [(".png", TINY_PNG)] and update.result_urls == []
    assert "response_format" not in fake.sent("/v1/images/generations")[0].json


async def test_openai_content_policy_is_a_banned_prompt(make, fake):
    fake.fail_with["openai"] = "Your request was rejected by our safety system."
    with pytest.raises(ProviderError) as caught:
        await make("openai").submit(MediaRequest(MediaKind.IMAGE, "something"))
    assert caught.value.code == "banned_prompt" and "safety system" in caught.value.message


async def test_ideogram_is_synchronous(make, fake):
    job, updates = await drive(
        make("ideogram"), MediaRequest(MediaKind.IMAGE, "a neon sign", options={"aspect_ratio": "16:9"})
    )
    assert len(updates) == 1 and job.result_urls == [f"{CDN}/ideogram/1.png"]
    assert fake.sent("/ideogram/generate")[0].json == {
        "image_request": {
            "model": "V_2",
            "prompt": "a neon sign",
            "aspect_ratio": "ASPECT_16_9",
            "magic_prompt_option": "AUTO",
        }
    }


async def test_ideogram_unsafe_images_are_refused(make, fake):
    fake.fail_with["ideogram"] = "unsafe"
    with pytest.raises(ProviderError, match="unsafe"):
        await make("ideogram").submit(MediaRequest(MediaKind.IMAGE, "x"))


async def test_suno_description_mode_polls_the_array_feed(make, fake):
    job, updates = await drive(make("suno"), MediaRequest(MediaKind.MUSIC, "a song about Sunday"))
    assert job.status is JobStatus.SUCCEEDED
    assert len(job.provider_task_ids) == 2 and len(job.result_urls) == 2
    assert job.result["titles"] == ["Sunday Song 1", "Sunday Song 2"]
    assert [u.status for u in updates] == [JobStatus.SUBMITTED] * 3 + [JobStatus.RUNNING, JobStatus.SUCCEEDED]
    assert fake.sent("/suno/generate/description-mode")[0].json == {
        "gpt_description_prompt": "a song about Sunday",
        "make_instrumental": False,
        "mv": "chirp-v4",
        "prompt": "",
    }
    assert fake.sent("/suno/feed/")[0].path == "/suno/feed/" + ",".join(job.provider_task_ids)


async def test_suno_custom_lyrics_use_generate(make, fake):
    request = MediaRequest(MediaKind.MUSIC, "pop", options={"lyrics": "[Verse]\nSunday", "title": "Sunday"})
    await make("suno").submit(request)
    sent = fake.sent("/suno/generate")[0].json
    assert (sent["prompt"], sent["title"], sent["tags"], sent["task"]) == (
        "[Verse]\nSunday",
        "Sunday",
        "pop",
        "",
    )


async def test_suno_prefix_is_skipped_when_the_url_names_suno(make):
    assert make("suno", base_url="http://suno-api.local").prefix == ""
    assert make("suno").prefix == "/suno"


async def test_suno_error_clips_fail_with_their_message(make, fake):
    fake.fail_with["suno"] = "Unable to generate lyrics"
    job, _ = await drive(make("suno"), MediaRequest(MediaKind.MUSIC, "x"))
    assert job.status is JobStatus.FAILED and job.error == "Suno failed: Unable to generate lyrics"


async def test_udio(make, fake):
    job, _ = await drive(
        make("udio"), MediaRequest(MediaKind.MUSIC, "lofi beats", options={"instrumental": True})
    )
    assert job.status is JobStatus.SUCCEEDED and len(job.result_urls) == 2
    params = fake.sent("/udio/submit/music")[0].json["gen_params"]
    assert params["lyrics_type"] == "instrumental" and params["config"] == {"mode": "regular"}


@pytest.mark.parametrize("as_array", [True, False])
async def test_luma_takes_array_or_object_and_waits_for_download_url(make, fake, as_array):
    fake.state.luma_array = as_array
    job, updates = await drive(make("luma"), MediaRequest(MediaKind.VIDEO, "a sunrise"))
    # step 3 says "completed" without download_url: still running
    assert [u.status for u in updates] == [
        JobStatus.SUBMITTED,
        JobStatus.SUBMITTED,
        JobStatus.RUNNING,
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
    ]
    assert job.result_urls == [f"{CDN}/luma/{job.provider_task_ids[0]}-dl.mp4"]
    assert fake.sent("/luma/generations/")[0].json["user_prompt"] == "a sunrise"


async def test_luma_failure(make, fake):
    fake.fail_with["luma"] = "prompt rejected"
    job, _ = await drive(make("luma"), MediaRequest(MediaKind.VIDEO, "x"))
    assert job.error == "Luma failed: prompt rejected"


async def test_runway_web_style(make, fake):
    job, updates = await drive(make("runway"), MediaRequest(MediaKind.VIDEO, "waves"))
    assert job.status is JobStatus.SUCCEEDED and updates[2].progress == 42
    sent = fake.sent("/runway/tasks")[0].json
    assert sent["taskType"] == "gen3a_turbo" and sent["options"]["text_prompt"] == "waves"


async def test_runwayml_sends_its_version_header_and_needs_an_image(make, fake):
    adapter = make("runwayml")
    with pytest.raises(ProviderError) as caught:
        await adapter.submit(MediaRequest(MediaKind.VIDEO, "waves"))
    assert caught.value.code == "needs_image"
    job, _ = await drive(adapter, MediaRequest(MediaKind.VIDEO, "waves", options={"images": [IMAGE]}))
    assert job.status is JobStatus.SUCCEEDED
    sent = fake.sent("/runwayml/v1/image_to_video")[0]
    assert sent.headers["x-runway-version"] == "2024-11-06"
    assert sent.json["promptImage"] == [{"uri": IMAGE, "position": "first"}]


async def test_runwayml_talks_to_runwayml_com_without_prefix(make):
    assert make("runwayml", base_url="https://api.dev.runwayml.com").prefix == ""
    assert make("runwayml").prefix == "/runwayml"


@pytest.mark.parametrize(
    ("kind", "options", "path", "url_end"),
    [
        (MediaKind.VIDEO, {}, "/kling/v1/videos/text2video", ".mp4"),
        (MediaKind.VIDEO, {"images": [IMAGE]}, "/kling/v1/videos/image2video", ".mp4"),
        (MediaKind.IMAGE, {}, "/kling/v1/images/generations", ".png"),
    ],
)
async def test_kling_envelope_for_video_and_image(make, fake, kind, options, path, url_end):
    job, _ = await drive(make("kling"), MediaRequest(kind, "a koi pond", options=options))
    assert job.status is JobStatus.SUCCEEDED and job.result_urls[0].endswith(url_end)
    sent = fake.sent(path)
    assert sent[0].method == "POST" and sent[-1].path == f"{path}/{job.provider_task_ids[0]}"
    if options:
        assert sent[0].json["image"] == IMAGE.split(",", 1)[1]  # raw base64, data-URL prefix stripped


@pytest.mark.parametrize(
    ("code", "error_code", "retryable"),
    [(1301, "banned_prompt", False), (1002, "auth", False), (1303, "rate_limited", True)],
)
async def test_kling_envelope_codes(make, fake, code, error_code, retryable):
    fake.state.kling_codes = [code]
    with pytest.raises(ProviderError) as caught:
        await make("kling").submit(MediaRequest(MediaKind.VIDEO, "x"))
    assert (caught.value.code, caught.value.retryable) == (error_code, retryable)


async def test_kling_failed_task(make, fake):
    fake.fail_with["kling"] = "Failure to pass the risk control system"
    job, _ = await drive(make("kling"), MediaRequest(MediaKind.VIDEO, "x"))
    assert job.error == "Kling failed: Failure to pass the risk control system"


async def test_pika(make, fake):
    job, updates = await drive(make("pika"), MediaRequest(MediaKind.VIDEO, "a cat dancing"))
    assert job.status is JobStatus.SUCCEEDED and updates[2].progress == 50
    assert fake.sent("/pika/generate")[0].json["promptText"] == "a cat dancing"


async def test_pixverse_and_its_failure_status(make, fake):
    job, _ = await drive(make("pixverse"), MediaRequest(MediaKind.VIDEO, "rain"))
    assert job.status is JobStatus.SUCCEEDED and job.result_urls[0].endswith(".mp4")
    fake.fail_with["pixverse"] = "x"
    job, _ = await drive(make("pixverse"), MediaRequest(MediaKind.VIDEO, "rain"))
    assert job.status is JobStatus.FAILED and job.error == "PixVerse failed: the generation failed"


async def test_viggle_uploads_the_picture_then_polls_by_ids(make, fake):
    adapter = make("viggle")
    with pytest.raises(ProviderError) as caught:
        await adapter.submit(MediaRequest(MediaKind.VIDEO, "", options={"images": [IMAGE]}))
    assert caught.value.code == "needs_template"
    request = MediaRequest(MediaKind.VIDEO, "", options={"images": [IMAGE], "template_id": "tpl-robot"})
    job, _ = await drive(adapter, request)
    assert job.status is JobStatus.SUCCEEDED and job.result_urls[0].endswith(".mp4")
    assert fake.sent("/viggle/video-task")[0].json["imageID"] == "img-1"
    assert fake.sent("/viggle/video-task/by-ids")[0].json == {"ids": job.provider_task_ids}


async def test_viggle_fetches_a_picture_url_and_uploads_the_picture(make, fake):
    adapter = make("viggle")
    picture = fake.url + "/cdn/person.png"  # a finished picture job's result, on the provider's CDN
    request = MediaRequest(MediaKind.VIDEO, "", options={"images": [picture], "template_id": "tpl-robot"})
    job, _ = await drive(adapter, request)
    assert job.status is JobStatus.SUCCEEDED
    fetched = fake.sent("/cdn/person.png")[-1]
    assert "authorization" not in fetched.headers  # the provider's key never goes to the picture's host
    upload = fake.sent("/viggle/asset/image")[-1]
    assert TINY_PNG in upload.raw and b"image/png" in upload.raw


async def test_viggle_says_why_a_picture_url_cannot_be_used_and_submits_nothing(make, fake):
    adapter = make("viggle")
    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    cases = [
        (f"http://127.0.0.1:{closed}/person.png", "image_unreachable", "127.0.0.1"),
        (fake.url + "/cdn/missing.png", "image_unreachable", "HTTP 404"),
        (fake.url + "/cdn/page.html", "unsupported_image", "text/html"),
        (fake.url + "/cdn/huge.png", "image_too_large", "10 MB"),
        ("ftp://example.test/person.png", "needs_image", "http(s) URL"),
    ]
    submitted = len(fake.sent("/viggle/"))
    for url, code, said in cases:
        request = MediaRequest(MediaKind.VIDEO, "", options={"images": [url], "template_id": "tpl-robot"})
        with pytest.raises(ProviderError) as caught:
            await adapter.submit(request)
        assert (caught.value.code, said in caught.value.message) == (code, True), (url, caught.value.message)
    assert len(fake.sent("/viggle/")) == submitted  # no upload, no task


def test_optional_provider_features_are_found_by_their_protocols():
    """The service and bridge ask `isinstance(adapter, FollowsUp)` / `ListsTemplates`: only Midjourney has
    buttons, only Viggle a template catalogue, and every adapter is a MediaProvider naming its actions."""
    adapters = {name: cls("http://127.0.0.1:9", SecretStr(KEY)) for name, cls in ADAPTERS.items()}
    assert {n for n, a in adapters.items() if isinstance(a, FollowsUp)} == {"midjourney"}
    assert {n for n, a in adapters.items() if isinstance(a, ListsTemplates)} == {"viggle"}
    assert all(isinstance(a, MediaProvider) and a.actions for a in adapters.values())
