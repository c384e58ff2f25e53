"""Midjourney adapter against the fake midjourney-proxy: codes, task steps, buttons, follow-ups."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.fakes.media_helpers import drive, drive_action
from tests.fakes.providers import KEY, MJ_SECRET, FakeMediaServer, shared_fake
from voicechat.media.jobs import JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import ProviderError
from voicechat.media.providers.midjourney import MidjourneyAdapter


@pytest.fixture
def fake() -> FakeMediaServer:
    return shared_fake()


@pytest.fixture
async def mj(fake: FakeMediaServer):
    adapter = MidjourneyAdapter(fake.url, SecretStr(MJ_SECRET))
    yield adapter
    await adapter.aclose()


def imagine(prompt: str = "a red fox sleeping in the snow") -> MediaRequest:
    return MediaRequest(MediaKind.IMAGE, prompt)


async def test_imagine_steps_through_statuses_to_a_grid_with_buttons(mj, fake):
    job, updates = await drive(mj, imagine())
    assert [u.status for u in updates] == [JobStatus.SUBMITTED] * 3 + [JobStatus.RUNNING] * 3 + [
        JobStatus.SUCCEEDED
    ]
    assert [u.progress for u in updates[3:]] == [25, 50, 75, 100]
    assert job.result_urls == [f"https://cdn.example.test/mj/{job.provider_task_ids[0]}/grid.webp"]
    assert len(job.result["images"]) == 4
    labels = [b["label"] for b in job.result["buttons"]]
    assert labels[:4] == ["U1", "U2", "U3", "U4"] and "V3" in labels
    body = fake.sent("/mj/submit/imagine")[0].json
    assert body == {
        "prompt": "a red fox sleeping in the snow",
        "base64Array": [],
        "botType": "MID_JOURNEY",
        "notifyHook": "",
        "state": "",
    }


async def test_sends_the_secret_only_in_mj_api_secret(mj, fake):
    await mj.submit(imagine())
    headers = fake.sent("/mj/submit/imagine")[0].headers
    assert headers["mj-api-secret"] == MJ_SECRET
    assert "authorization" not in headers


async def test_no_secret_header_when_no_secret_is_set(fake):
    adapter = MidjourneyAdapter(fake.url, None)
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.submit(imagine())
    finally:
        await adapter.aclose()
    assert "mj-api-secret" not in fake.sent("/mj/submit/imagine")[0].headers
    assert caught.value.code == "auth" and "MJ_API_SECRET" in caught.value.message


async def test_gateway_key_goes_as_bearer(fake):
    adapter = MidjourneyAdapter(fake.url, SecretStr(KEY), auth="bearer")
    try:
        update = await adapter.submit(imagine())
    finally:
        await adapter.aclose()
    assert update.provider_task_ids
    assert fake.sent("/mj/submit/imagine")[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("action", "index", "needle"),
    [
        ("upscale", 2, "::upsample::2::"),
        ("variation", 3, "::variation::3::"),
        ("reroll", 0, "::reroll::0::"),
    ],
)
async def test_follow_up_picks_the_button_custom_id(mj, fake, action, index, needle):
    grid, _ = await drive(mj, imagine())
    update = await mj.action(grid, action, index)
    sent = fake.sent("/mj/submit/action")[0].json
    assert sent["taskId"] == grid.provider_task_ids[0]
    assert needle in sent["customId"]
    assert update.status is JobStatus.SUBMITTED and update.provider_task_ids != grid.provider_task_ids


async def test_upscale_child_task_finishes_with_its_own_buttons(mj, fake):
    grid, _ = await drive(mj, imagine())
    child = await drive_action(mj, grid, "upscale", 1)
    assert child.status is JobStatus.SUCCEEDED
    assert child.result["mj_action"] == "UPSCALE"
    assert not any(
        "upsample::" in b["custom_id"] and b["label"].startswith("U") for b in child.result["buttons"]
    )


async def test_open_source_proxy_without_buttons_uses_submit_change(mj, fake):
    fake.state.mj_buttons = False
    grid, _ = await drive(mj, imagine())
    assert grid.result["buttons"] == []
    await mj.action(grid, "upscale", 2)
    await mj.action(grid, "reroll", 0)
    changes = [r.json for r in fake.sent("/mj/submit/change")]
    assert changes == [
        {"taskId": grid.provider_task_ids[0], "action": "UPSCALE", "index": 2},
        {"taskId": grid.provider_task_ids[0], "action": "REROLL"},
    ]
    assert fake.sent("/mj/submit/action") == []


async def test_missing_button_is_a_clear_error(mj):
    grid, _ = await drive(mj, imagine())
    with pytest.raises(ProviderError, match="no upscale button for number 5"):
        await mj.action(grid, "upscale", 5)


async def test_code_22_is_accepted_as_queued(mj, fake):
    fake.state.mj_submit_codes = [22]
    update = await mj.submit(imagine())
    assert update.status is JobStatus.SUBMITTED and update.provider_task_ids
    assert update.result["queue_position"] == 3


async def test_code_23_queue_full_is_retryable(mj, fake):
    fake.state.mj_submit_codes = [23]
    with pytest.raises(ProviderError) as caught:
        await mj.submit(imagine())
    assert (caught.value.code, caught.value.retryable) == ("queue_full", True)


async def test_code_24_banned_prompt_names_the_word(mj, fake):
    fake.state.mj_submit_codes = [24]
    with pytest.raises(ProviderError) as caught:
        await mj.submit(imagine("something with gore"))
    assert caught.value.code == "banned_prompt" and not caught.value.retryable
    assert "\u201cgore\u201d" in caught.value.message


async def test_code_21_is_confirmed_through_the_modal(mj, fake):
    fake.state.mj_submit_codes = [21]
    update = await mj.submit(imagine("a fox"))
    modal = fake.sent("/mj/submit/modal")[0].json
    assert modal == {"taskId": update.provider_task_ids[0], "prompt": "a fox"}


async def test_failure_carries_fail_reason(mj, fake):
    fake.fail_with["midjourney"] = "Job action restricted"
    job, _ = await drive(mj, imagine())
    assert job.status is JobStatus.FAILED
    assert job.error == "Midjourney failed: Job action restricted"


async def test_describe_returns_text(mj, fake):
    request = MediaRequest(
        MediaKind.IMAGE, "", action="describe", options={"images": ["data:image/png;base64,AAAA"]}
    )
    job, _ = await drive(mj, request)
    assert job.status is JobStatus.SUCCEEDED
    assert "red fox" in job.result["text"]
    assert fake.sent("/mj/submit/describe")[0].json == {
        "base64": "data:image/png;base64,AAAA",
        "botType": "MID_JOURNEY",
    }


async def test_blend_and_face_swap_send_their_images(mj, fake):
    images = ["data:image/png;base64,AAAA", "data:image/png;base64,BBBB"]
    await mj.submit(MediaRequest(MediaKind.IMAGE, "", action="blend", options={"images": images}))
    await mj.submit(MediaRequest(MediaKind.IMAGE, "", action="face_swap", options={"images": images}))
    assert fake.sent("/mj/submit/blend")[0].json == {
        "base64Array": images,
        "dimensions": "SQUARE",
        "botType": "MID_JOURNEY",
    }
    assert fake.sent("/mj/insight-face/swap")[0].json == {
        "sourceBase64": images[0],
        "targetBase64": images[1],
    }
    with pytest.raises(ProviderError, match="between two and five"):
        await mj.submit(MediaRequest(MediaKind.IMAGE, "", action="blend", options={"images": images[:1]}))


async def test_vary_strong_on_an_upscale_is_not_vary_subtle(mj, fake):
    grid, _ = await drive(mj, imagine())
    upscaled = await drive_action(mj, grid, "upscale", 1)
    await mj.action(upscaled, "variation", 1)
    custom_id = fake.sent("/mj/submit/action")[-1].json["customId"]
    assert custom_id.startswith("MJ::JOB::variation::1::")
