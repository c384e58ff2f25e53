"""A media job's completion line is said exactly once per job, on whichever connection of its conversation
comes first: live, on a resume after the job ended while no connection was open, and also when the job
ends in the gap between a resume reading the conversation and its connection subscribing to job events.

Real sessions on scripted engines (tests/session_harness.py), a real SQLite conversation store and a real
MediaService whose Midjourney is the fake provider server; the timing is set by holding the fake's tasks
(`stuck`) and by doing the resume's two steps (read, then start) in the order under test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.media_helpers import until_finished
from tests.fakes.providers import FakeMediaServer, fake_media_service, shared_fake
from tests.session_harness import Harness
from voicechat.media.service import MediaService
from voicechat.resume import load
from voicechat.store import ConversationStore

ASK = "Draw a lighthouse in a storm"
LINE = "Your picture of a lighthouse in a storm is ready."


@pytest.fixture
def fake() -> FakeMediaServer:
    fake = shared_fake()
    fake.stuck.add("midjourney")  # every job waits on its last step until the test lets it finish
    yield fake
    fake.stuck.discard("midjourney")


@pytest.fixture
async def media(fake: FakeMediaServer, tmp_path: Path):
    service = fake_media_service(fake, tmp_path / "media")
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
def store(tmp_path: Path):
    opened = ConversationStore(tmp_path / "conversations.sqlite3")
    yield opened
    opened.close()


def said(h: Harness, turn_id: str) -> str:
    return "".join(e["delta"] for e in h.events
                   if e["type"] == "reply.text.delta" and e["turn_id"] == turn_id)


def done(h: Harness) -> list[dict[str, Any]]:
    return [e for e in h.events if e["type"] == "turn.done"]


async def ask_and_leave(store: ConversationStore, media: MediaService) -> tuple[str, str]:
    """A connection asks for a picture and closes while the job runs: (conversation id, job id)."""
    async with Harness(store=store, media=media) as asker:
        await asker.send("text", text=ASK)
        job_id = (await asker.next("media.job", event="submitted"))["job"]["id"]
        assert (await asker.next("turn.done"))["turn_id"] == "turn_1"
        return asker.session.id, job_id


async def finish(fake: FakeMediaServer, media: MediaService, job_id: str) -> None:
    """Let the job end, and wait until the service has saved and published its end."""
    watch = media.subscribe("*")
    try:
        fake.stuck.discard("midjourney")
        assert (await until_finished(watch, job_id))[-1]["event"] == "succeeded"
    finally:
        media.unsubscribe("*", watch)


async def test_a_job_ending_between_the_resume_read_and_the_subscription_is_said(store, media, fake):
    conversation_id, job_id = await ask_and_leave(store, media)
    conversation = await load(store, conversation_id, "local")  # the reconnect reads the conversation...
    await finish(fake, media, job_id)  # ...the job ends before the new connection hears of job events...
    async with Harness(store=store, media=media, resume=conversation) as back:  # ...then it subscribes
        spoken = await back.next("turn.done")
        assert spoken["turn_id"] == "turn_2" and spoken["status"] == "completed"
        assert said(back, "turn_2") == LINE
        await back.idle()
        assert len(done(back)) == 1
    # It is in the conversation now, and said: the next reconnect does not say it again.
    again = await load(store, conversation_id, "local")
    assert [t["assistant_text"] for t in again["turns"]][-1] == LINE
    async with Harness(store=store, media=media, resume=again) as later:
        await later.idle()
        await later.send("text", text="Thanks")
        assert (await later.next("turn.done"))["turn_id"] == "turn_3"
        assert said(later, "turn_3") != LINE and len(done(later)) == 1


async def test_two_connections_resuming_at_once_say_it_once(store, media, fake):
    conversation_id, job_id = await ask_and_leave(store, media)
    await finish(fake, media, job_id)  # ended while no connection of the conversation was open
    conversation = await load(store, conversation_id, "local")
    first, second = Harness(store=store, media=media, resume=conversation), \
        Harness(store=store, media=media, resume=conversation)
    await asyncio.gather(first.__aenter__(), second.__aenter__())
    try:
        await asyncio.gather(first.idle(), second.idle())
        spoken = [said(h, "turn_2") for h in (first, second)]
        assert sorted(spoken) == ["", LINE]
        assert sum(len(done(h)) for h in (first, second)) == 1
    finally:
        await asyncio.gather(first.__aexit__(), second.__aexit__())


async def test_a_line_said_live_is_not_said_again_on_resume(store, media, fake):
    async with Harness(store=store, media=media) as asker:
        await asker.send("text", text=ASK)
        await asker.next("media.job", event="submitted")
        await asker.next("turn.done", turn_id="turn_1")
        # A second connection of the same conversation is open too: the line is still said once.
        other = Harness(store=store, media=media, resume=await load(store, asker.session.id, "local"))
        async with other:
            fake.stuck.discard("midjourney")
            await asker.next("media.job", event="succeeded")
            await other.next("media.job", event="succeeded")
            heard = await asyncio.wait_for(_first_done(asker, other), 5)
            await asyncio.gather(asker.idle(), other.idle())
            assert said(heard, "turn_2") == LINE
            assert len(done(asker)) + len(done(other)) == 2  # turn_1 and one completion line
        conversation_id = asker.session.id
    async with Harness(store=store, media=media, resume=await load(store, conversation_id, "local")) as back:
        await back.idle()
        assert done(back) == []


async def _first_done(*harnesses: Harness) -> Harness:
    """Whichever harness ends a turn first (after the ones already seen)."""
    seen = [len(done(h)) for h in harnesses]
    while True:
        for h, before in zip(harnesses, seen, strict=True):
            if len(done(h)) > before:
                return h
        await asyncio.wait({asyncio.ensure_future(h._arrived.wait()) for h in harnesses},
                           return_when=asyncio.FIRST_COMPLETED)
        for h in harnesses:
            h._arrived.clear()


async def test_a_line_cut_off_mid_sentence_by_a_dying_connection_is_not_said_twice(store, media, fake):
    conversation_id, job_id = await ask_and_leave(store, media)
    await finish(fake, media, job_id)
    dying = Harness(store=store, media=media, resume=await load(store, conversation_id, "local"))
    dying.tts.hold_at = "lighthouse"  # the line stops mid-sentence: the connection dies there
    await dying.__aenter__()
    await dying.until(dying.tts.holding)
    await dying.__aexit__()
    async with Harness(store=store, media=media, resume=await load(store, conversation_id, "local")) as back:
        await back.idle()
        assert done(back) == []


async def test_a_line_still_queued_when_the_connection_closed_is_said_on_resume(store, media, fake):
    async with Harness(store=store, media=media) as asker:
        await asker.send("text", text=ASK)
        await asker.next("media.job", event="submitted")
        await asker.next("turn.done", turn_id="turn_1")
        asker.chat.gate = asyncio.Event()  # a reply is being thought about when the job ends
        await asker.send("text", text="Tell me a story")
        await asker.until(asker.chat.stalled)
        fake.stuck.discard("midjourney")
        await asker.next("media.job", event="succeeded")  # its line waits behind the reply...
        conversation_id = asker.session.id
    # ...and the connection closes first: the line was never said, so the resume says it.
    async with Harness(store=store, media=media, resume=await load(store, conversation_id, "local")) as back:
        await back.next("turn.done")
        assert LINE in [said(back, t) for t in ("turn_2", "turn_3")]
        await back.idle()
        assert len(done(back)) == 1


async def test_a_request_refused_at_once_is_not_said_again_on_resume(store, media):
    async with Harness(store=store, media=media) as asker:
        await asker.send("text", text="Make a song about the sea")  # no music provider is set up
        failed = await asker.next("media.job", event="failed")
        assert failed["job"]["error_code"] == "not_configured"
        assert (await asker.next("turn.done"))["turn_id"] == "turn_1"  # the refusal was its answer
        conversation_id = asker.session.id
    conversation = await load(store, conversation_id, "local")
    assert conversation["turns"][0]["media_job_id"] == failed["job"]["id"]
    async with Harness(store=store, media=media, resume=conversation) as back:
        await back.idle()
        assert done(back) == []
