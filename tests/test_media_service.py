"""MediaService end to end: SQLite, the one poller, events, restarts, caps, retries and faults."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.fakes.media_helpers import next_event, until_finished
from tests.fakes.providers import KEY, MJ_SECRET, FakeMediaServer, shared_fake
from voicechat.media.config import ProviderSet
from voicechat.media.jobs import JobStatus, MediaKind, MediaRequest
from voicechat.media.providers import ADAPTERS
from voicechat.media.service import MediaError, MediaService
from voicechat.media.store import JobStore

FAST = {"poll_interval_s": 0.02, "max_polls": 50}
FOX = MediaRequest(MediaKind.IMAGE, "a red fox sleeping in the snow")


@pytest.fixture
def fake() -> FakeMediaServer:
    return shared_fake()


def providers(
    fake: FakeMediaServer, names=("midjourney", "openai", "suno", "luma"), **overrides
) -> ProviderSet:
    adapters = []
    for name in names:
        key = SecretStr(MJ_SECRET if name == "midjourney" else KEY)
        adapters.append(ADAPTERS[name](fake.url, key, **{**FAST, **overrides}))
    return ProviderSet(adapters)


@pytest.fixture
async def build(fake: FakeMediaServer, tmp_path: Path):
    services: list[MediaService] = []

    async def make(start: bool = True, **options) -> MediaService:
        provider_set = options.pop("providers", None) or providers(fake, **options.pop("adapter", {}))
        service = MediaService(
            JobStore(tmp_path / "media.sqlite3"),
            provider_set,
            files_dir=tmp_path / "files",
            max_backoff_s=0.5,
            **options,
        )
        services.append(service)
        if start:
            await service.start()
        return service

    yield make
    for service in services:
        if service._poller is not None or service.store:
            await service.stop()


async def test_job_is_persisted_before_submit_returns(build, tmp_path):
    service = await build(start=False)  # no poller: nothing but submit() touches the store
    job = await service.submit(FOX, owner="alice")
    other_connection = JobStore(tmp_path / "media.sqlite3")
    stored = other_connection.get(job.id)
    other_connection.close()
    assert stored is not None and stored.status is JobStatus.SUBMITTED
    assert (stored.owner, stored.provider, stored.prompt) == ("alice", "midjourney", FOX.prompt)


async def test_lifecycle_events_sentences_and_store(build):
    service = await build()
    queue, second, stranger = service.subscribe("alice"), service.subscribe("alice"), service.subscribe("bob")
    job = await service.submit(FOX, owner="alice")
    events = await until_finished(queue, job.id)
    assert events[0]["event"] == "submitted"
    assert events[0]["message"] == "Okay, drawing a red fox sleeping in the snow."
    progress = [e["job"]["progress"] for e in events if e["event"] == "progress"]
    assert progress == sorted(progress) and 50 in progress
    done = events[-1]
    assert done["event"] == "succeeded" and done["type"] == "media.job"
    assert done["message"] == "Your picture of a red fox sleeping in the snow is ready."
    assert done["job"]["result_urls"][0].endswith("grid.webp") and "params" not in done["job"]
    assert (await next_event(second))["job"]["id"] == job.id  # every connection of the user hears it
    assert stranger.empty()
    stored = await service.get(job.id)
    assert stored.status is JobStatus.SUCCEEDED and stored.polls == 6
    assert [j.id for j in await service.list(owner="alice")] == [job.id]


async def test_upscale_makes_a_child_job(build, fake):
    service = await build()
    queue = service.subscribe("alice")
    grid = await service.submit(FOX, owner="alice")
    await until_finished(queue, grid.id)
    child = await service.act(grid.id, "upscale", 2, owner="alice")
    assert child.parent_job_id == grid.id and child.action == "upscale"
    events = await until_finished(queue, child.id)
    assert events[0]["message"] == "Okay, upscaling number two."
    assert events[-1]["message"] == "The upscaled picture is ready."
    assert "::upsample::2::" in fake.sent("/mj/submit/action")[0].json["customId"]


async def test_act_refuses_clearly(build):
    service = await build()
    queue = service.subscribe("alice")
    with pytest.raises(MediaError, match="can't find"):
        await service.act("nope", "upscale", 1, owner="alice")
    grid = await service.submit(FOX, owner="alice")
    with pytest.raises(MediaError, match="isn't finished"):
        await service.act(grid.id, "upscale", 1, owner="alice")
    await until_finished(queue, grid.id)
    with pytest.raises(MediaError, match="one to four"):
        await service.act(grid.id, "variation", 5, owner="alice")
    with pytest.raises(MediaError, match="can't find"):
        await service.act(grid.id, "upscale", 1, owner="mallory")


async def test_restart_resumes_an_unfinished_job(build, fake):
    first = await build()
    queue = first.subscribe("alice")
    job = await first.submit(FOX, owner="alice")
    while (await next_event(queue))["event"] != "progress":  # the provider has the task now
        pass
    await first.stop()
    assert (await JobStore(first.store.path).aget(job.id)).status is not JobStatus.SUCCEEDED

    second = await build(start=False)
    queue = second.subscribe("alice")
    await second.start()
    events = await until_finished(queue, job.id)
    assert events[-1]["event"] == "succeeded"
    assert len(fake.sent("/mj/submit/imagine")) == 1  # resumed, not submitted again


async def test_stuck_job_hits_the_cap(build, fake):
    fake.stuck.add("luma")
    service = await build(adapter={"max_polls": 5})
    queue = service.subscribe("alice")
    job = await service.submit(MediaRequest(MediaKind.VIDEO, "a sunrise"), owner="alice")
    done = (await until_finished(queue, job.id))[-1]
    assert done["job"]["error_code"] == "timeout"
    assert done["job"]["error"].startswith("Luma timed out after ")
    assert done["message"].startswith("The video failed: Luma timed out after ")
    assert len([r for r in fake.sent("/luma/generations/") if r.method == "GET"]) == 5


async def test_retries_5xx_with_growing_backoff_then_succeeds(build, fake):
    fake.fault("suno", "status", status=502, times=3, on="/feed/")
    service = await build()
    queue = service.subscribe("alice")
    job = await service.submit(MediaRequest(MediaKind.MUSIC, "a song about Sunday"), owner="alice")
    done = (await until_finished(queue, job.id))[-1]
    assert done["event"] == "succeeded"
    assert done["message"] == "Your songs \u201cSunday Song 1\u201d and \u201cSunday Song 2\u201d are ready."
    feeds = [r.at for r in fake.sent("/suno/feed/")]
    gaps = [b - a for a, b in zip(feeds, feeds[1:], strict=False)]
    # Back-off doubles from the poll interval: 0.02, 0.04, 0.08 s (lower bounds only; CI may be slow).
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.08


async def test_submit_is_retried_after_a_transient_fault(build, fake):
    fake.fault("midjourney", "status", status=503, times=1, on="/submit/imagine")
    service = await build()
    queue = service.subscribe("alice")
    job = await service.submit(FOX, owner="alice")
    assert (await until_finished(queue, job.id))[-1]["event"] == "succeeded"
    assert len(fake.sent("/mj/submit/imagine")) == 2


FAULTS = [
    (lambda f: f.fault("midjourney", "html"), "bad_response", "web page instead of JSON"),
    (lambda f: f.fault("midjourney", "bad_json"), "bad_response", "not JSON"),
    (lambda f: f.fault("midjourney", "status", status=401), "auth", "check MJ_API_SECRET"),
    (lambda f: f.fault("midjourney", "token_check"), "auth", "HTTP 423"),
    (lambda f: setattr(f.state, "mj_submit_codes", [24]), "banned_prompt", "\u201cgore\u201d"),
    (lambda f: setattr(f.state, "mj_submit_codes", [23] * 9), "queue_full", "queue is full"),
    (lambda f: f.fault("midjourney", "status", status=500), "http_error", "HTTP 500"),
    (lambda f: f.fault("midjourney", "slow", delay=0.6, on="/fetch"), "timeout", "did not answer within"),
    (
        lambda f: f.fail_with.update(midjourney="Job action restricted"),
        "provider_failed",
        "Job action restricted",
    ),
]


@pytest.mark.parametrize(("arrange", "code", "phrase"), FAULTS)
async def test_every_fault_fails_with_a_clear_reason(build, fake, caplog, arrange, code, phrase):
    arrange(fake)
    caplog.set_level(logging.DEBUG)
    # A short timeout only where the timeout is the fault: elsewhere a slow machine taking 0.15 s to
    # answer would turn the fault under test into a "timeout".
    service = await build(max_retries=2, adapter={"timeout_s": 0.15 if code == "timeout" else 10.0})
    queue = service.subscribe("alice")
    job = await service.submit(FOX, owner="alice")
    done = (await until_finished(queue, job.id))[-1]
    assert done["event"] == "failed"
    assert done["job"]["error_code"] == code and phrase in done["job"]["error"]
    assert done["message"].startswith("The picture failed: ")
    stored = await service.get(job.id)
    assert stored.status is JobStatus.FAILED and stored.error_code == code
    for secret in (KEY, MJ_SECRET):
        assert secret not in done["message"] and secret not in caplog.text


async def test_nothing_configured_says_what_to_set(build):
    service = await build(providers=ProviderSet([]))
    queue = service.subscribe("alice")
    job = await service.submit(MediaRequest(MediaKind.MUSIC, "a song about Sunday"), owner="alice")
    assert job.status is JobStatus.FAILED and job.error_code == "not_configured"
    assert "SUNO_SERVER" in job.error and "VOICECHAT_MEDIA_GATEWAY=true" in job.error
    assert (await next_event(queue))["message"] == job.error
    assert (await service.get(job.id)).error_code == "not_configured"


async def test_hinted_provider_that_is_not_set_up(build):
    service = await build()
    job = await service.submit(MediaRequest(MediaKind.VIDEO, "waves", provider="kling"), owner="alice")
    assert job.error == (
        "Kling is not set up; set KLING_SERVER to use it "
        "(or VOICECHAT_MEDIA_GATEWAY=true if your chat gateway serves it)."
    )


async def test_base64_images_are_kept_as_files(build, tmp_path):
    service = await build(
        providers=ProviderSet(
            [ADAPTERS["openai"](shared_fake().url, SecretStr(KEY), options={"model": "gpt-image-1"})]
        )
    )
    queue = service.subscribe("alice")
    job = await service.submit(FOX, owner="alice")
    done = (await until_finished(queue, job.id))[-1]
    assert done["job"]["result_urls"] == [f"/media/files/{job.id}-0.png"]
    assert (tmp_path / "files" / f"{job.id}-0.png").read_bytes().startswith(b"\x89PNG")


async def test_chinese_prompts_get_chinese_sentences(build):
    service = await build()
    queue = service.subscribe("alice")
    job = await service.submit(MediaRequest(MediaKind.IMAGE, "雪地里的狐狸"), owner="alice")
    events = await until_finished(queue, job.id)
    assert events[0]["message"] == "好的，正在画雪地里的狐狸。"
    assert events[-1]["message"] == "你的图片好了：雪地里的狐狸。"
