"""Two `python server.py` nodes sharing one real PostgreSQL behave as one service.

A job asked for on node A, with A killed (-9) mid-job, is submitted to the provider once, finished by B
and pushed to the user's connection on B; the conversation continues on B; another user may not
continue it; a job caught mid-submission is never sent twice; the database going down and coming back
loses no turn and crashes nothing.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import websockets

from tests.conftest import ROOT
from tests.fakes.providers import MJ_SECRET, shared_fake
from tests.nginx import Nginx
from tests.postgres import Postgres
from tests.process import ServerProcess
from tests.wsclient import NativeClient

ALICE, BOB = "tok-alice-0123456789", "tok-bob-0123456789"
SUBMIT = "/mj/submit/imagine"


def node_env(tmp_path: Path, database_url: str, fake_chat, name: str) -> dict[str, str]:
    """A node's environment: its own local folders, the shared database, the fake chat and media servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MJ_", "VOICECHAT_"))}
    env.update({
        "PYTHONUNBUFFERED": "1",
        "VOICECHAT_MODELS_DIR": str(ROOT / "models"),
        "VOICECHAT_DATABASE_URL": database_url,
        "VOICECHAT_DB_PATH": str(tmp_path / name / "unused.sqlite3"),  # must stay unused with a database
        "VOICECHAT_MEDIA_DB": str(tmp_path / name / "unused-media.sqlite3"),
        "VOICECHAT_MEDIA_DIR": str(tmp_path / "shared-media"),
        "VOICECHAT_MEDIA_POLL_INTERVAL_S": "0.1",
        "VOICECHAT_MEDIA_LEASE_S": "1.5",
        "VOICECHAT_TOKENS": f"alice:{ALICE},bob:{BOB}",
        "OPENAI_API_BASE_URL": fake_chat.base_url,
        "OPENAI_API_KEY": fake_chat.api_key,
        "MJ_SERVER": shared_fake().url,
        "MJ_API_SECRET": MJ_SECRET,
    })  # fmt: skip
    return env


@pytest.fixture
def cluster_url(postgres) -> str:
    """The database the two nodes share (a test may reach into it, to hold a lock)."""
    return postgres.database()


@pytest.fixture
def two_nodes(tmp_path: Path, cluster_url: str, fake_chat) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = cluster_url
    nodes: list[ServerProcess] = []
    try:
        nodes += ServerProcess.start_all([node_env(tmp_path, url, fake_chat, name) for name in ("a", "b")])
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            node.stop()
    # With a database, neither the conversations nor the media jobs may land in a node's own SQLite file
    # (`voicechat serve` once built its media service on the file, and no job event crossed nodes).
    for name in ("a", "b"):
        assert not (tmp_path / name / "unused.sqlite3").exists()
        assert not (tmp_path / name / "unused-media.sqlite3").exists()


def ws(node: ServerProcess, token: str, **query: str) -> str:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"{node.ws}?token={token}{extra}"


async def test_a_job_outlives_the_node_polling_it_and_the_conversation_moves_on(two_nodes, fake_chat):
    a, b = two_nodes
    fake = shared_fake()
    submitted_before = len(fake.sent(SUBMIT))
    fake.stuck.add("midjourney")  # it cannot finish before A dies
    try:
        asker = await NativeClient.connect(ws(a, ALICE))
        watcher = await NativeClient.connect(ws(b, ALICE))  # the same user, on the other node
        conversation_id = asker.ready["conversation_id"]
        assert conversation_id == asker.ready["session_id"] and asker.ready["resumed"] is False
        await asker.send({"type": "text", "text": "Draw a lighthouse in a storm"})
        job_id = (await asker.find("media.job", event="submitted"))["job"]["id"]
        await asker.find("media.job", event="progress")  # the provider has it; A polls it
        await asker.find("turn.done")
        # A's updates reached B's connection through the database (LISTEN/NOTIFY).
        assert (await watcher.find("media.job", event="progress"))["job"]["id"] == job_id

        a.kill9()
        await asker.close()
        fake.stuck.discard("midjourney")
        done = await watcher.find("media.job", event="succeeded", timeout=30)  # B took the lease over
        assert done["job"]["id"] == job_id and done["job"]["result_urls"]
        assert "taking it over" in b.log
        assert len(fake.sent(SUBMIT)) == submitted_before + 1  # submitted once, polled to the end by B
        await watcher.close()

        # The reconnect lands on B: the conversation continues there, with its history.
        resumed = await NativeClient.connect(ws(b, ALICE, conversation_id=conversation_id))
        assert resumed.ready["conversation_id"] == conversation_id and resumed.ready["resumed"] is True
        await resumed.send({"type": "conversation.get"})
        history = (await resumed.expect("conversation"))["messages"]
        assert history[0] == {"role": "user", "content": "Draw a lighthouse in a storm"}
        assert history[1]["role"] == "assistant" and history[1]["content"]
        # The job ended while no connection of the conversation was open: its line is said now, first.
        line = await resumed.expect("turn.done")
        assert line["turn_id"] == "turn_2"  # numbered after the stored turn, never over it
        said = "".join(e["delta"] for e in resumed.events
                       if e.get("type") == "reply.text.delta" and e.get("turn_id") == "turn_2")
        assert said.strip() == done["message"].strip()
        fake_chat.requests.clear()
        await resumed.send({"type": "text", "text": "What did I just ask for?"})
        done_turn = await resumed.expect("turn.done")
        assert done_turn["turn_id"] == "turn_3"
        sent_to_model = fake_chat.requests[-1]["body"]["messages"]
        assert {"role": "user", "content": "Draw a lighthouse in a storm"} in sent_to_model
        await resumed.close()

        async with httpx.AsyncClient(base_url=b.http, headers={"authorization": f"Bearer {ALICE}"}) as http:
            saved = (await http.get(f"/api/conversations/{conversation_id}")).json()
        assert [t["turn_id"] for t in saved["turns"]] == ["turn_1", "turn_2", "turn_3"]
        assert saved["turns"][0]["media_job_id"] == job_id

        # Another user may not continue it, on any node; an unknown id is refused too.
        with pytest.raises(websockets.ConnectionClosed) as refused:
            await NativeClient.connect(ws(b, BOB, conversation_id=conversation_id))
        assert refused.value.rcvd is not None and refused.value.rcvd.code == 4403
        with pytest.raises(websockets.ConnectionClosed) as unknown:
            await NativeClient.connect(ws(b, ALICE, conversation_id="sess_doesnotexist"))
        assert unknown.value.rcvd is not None and unknown.value.rcvd.code == 4404
    finally:
        fake.stuck.discard("midjourney")


@pytest.mark.parametrize("provider_answers", ["at once", "after the acknowledgement"])
async def test_the_asking_node_speaks_the_completion_of_a_job_finished_elsewhere(two_nodes, provider_answers):
    a, b = two_nodes
    fake = shared_fake()
    fake.stuck.add("midjourney")
    if provider_answers != "at once":
        # The acknowledgement's turn.done then comes before the job's first progress. The test once
        # assumed the opposite order, waited for a second turn.done (the job timing out after its last
        # poll, said on A) and only then connected B's watcher: it failed whenever the machine was busy.
        fake.fault("midjourney", "slow", delay=2, on=SUBMIT, times=1)
    try:
        asker, job_id = await asked_for_a_picture(a, "Draw a red fox in the snow")
        # A polls it to the end; B's connection of the same user, joining mid-job, hears every update
        # from now on, but only A, which holds the session that asked, speaks the completion line.
        watcher = await NativeClient.connect(ws(b, ALICE))
        fake.stuck.discard("midjourney")
        ended = await finished(watcher, job_id)
        assert ended["event"] == "succeeded", ended["job"]
        heard = await finished(asker, job_id)
        assert heard["event"] == "succeeded"
        spoken = await asker.find("turn.done", timeout=30, turn_id="turn_2")  # the completion line, on A
        assert spoken["status"] == "completed"
        assert asker.events.index(heard) < asker.events.index(spoken)
        await watcher.send({"type": "text", "text": "Hello"})
        hello = await watcher.expect("turn.done")
        assert hello["turn_id"] == "turn_1"  # B said nothing before it: its first turn is the user's
        await asker.close()
        await watcher.close()
    finally:
        fake.stuck.discard("midjourney")


async def finished(client: NativeClient, job_id: str, timeout: float = 30) -> dict:
    """The job's last update (succeeded or failed), received on `client` in any order among the others."""
    while True:
        for event in client.events:
            if (event.get("type") == "media.job" and event["job"]["id"] == job_id
                    and event.get("event") in ("succeeded", "failed")):
                return event
        await client.next(timeout)


async def asked_for_a_picture(node: ServerProcess, text: str) -> tuple[NativeClient, str]:
    """Alice asks `node` for a picture: her connection and the job's id, once the job has reached the
    provider and the acknowledgement turn (turn_1) is over, in whichever order those two come."""
    asker = await NativeClient.connect(ws(node, ALICE))
    await asker.send({"type": "text", "text": text})
    job_id = (await asker.find("media.job", event="progress"))["job"]["id"]
    await asker.find("turn.done", turn_id="turn_1")
    return asker, job_id


async def test_a_conversation_resumed_on_the_other_node_mid_job_hears_its_completion_there(two_nodes):
    """#14's "done when" as a user lives it: A dies mid-job, the page reconnects with its conversation id
    and lands on B, B takes the job over, and that connection gets the result and hears it said."""
    a, b = two_nodes
    fake = shared_fake()
    submitted_before = len(fake.sent(SUBMIT))
    fake.stuck.add("midjourney")
    try:
        asker, job_id = await asked_for_a_picture(a, "Draw a paper boat on a pond")
        conversation_id = asker.ready["conversation_id"]
        a.kill9()
        await asker.close()
        resumed = await NativeClient.connect(ws(b, ALICE, conversation_id=conversation_id))
        assert resumed.ready["resumed"] is True
        fake.stuck.discard("midjourney")  # still running: nobody could finish it while A was dying
        ended = await finished(resumed, job_id)
        assert ended["event"] == "succeeded", ended["job"]
        assert "taking it over" in b.log
        spoken = await resumed.find("turn.done", timeout=30, turn_id="turn_2")  # after the stored turn_1
        assert spoken["status"] == "completed"
        said = "".join(e["delta"] for e in resumed.events
                       if e.get("type") == "reply.text.delta" and e.get("turn_id") == "turn_2")
        assert said.strip() == ended["message"].strip() and said.strip()
        assert len(fake.sent(SUBMIT)) == submitted_before + 1
        await resumed.close()
    finally:
        fake.stuck.discard("midjourney")


async def test_a_job_ending_while_a_resume_is_being_opened_is_said_on_it_once(two_nodes, cluster_url):
    """The page reconnects with its conversation id just as the job ends: B has read the conversation but
    not yet subscribed to job events (held there by a table lock the test takes: the new session's first
    write waits on it) when the job ends and B's node hears of it. The line is still said on B, once."""
    a, b = two_nodes
    fake = shared_fake()
    fake.stuck.add("midjourney")
    lock = await asyncpg.connect(cluster_url)
    try:
        asker, job_id = await asked_for_a_picture(a, "Draw a windmill at dusk")
        conversation_id = asker.ready["conversation_id"]
        await asker.close()  # the page reloads; A goes on polling the job
        watcher = await NativeClient.connect(ws(b, ALICE))  # another tab: B's node hears the job's events
        held = lock.transaction()
        await held.start()
        await lock.execute("LOCK TABLE conversations IN SHARE MODE")  # reads pass, writes wait
        opening = asyncio.create_task(NativeClient.connect(ws(b, ALICE, conversation_id=conversation_id)))
        await waiting_on_the_lock(cluster_url, "INSERT INTO conversations")  # the resume's read is done
        fake.stuck.discard("midjourney")
        ended = await finished(watcher, job_id)  # ended, and told to B's node, before the resume subscribed
        assert ended["event"] == "succeeded", ended["job"]
        await held.rollback()
        resumed = await opening
        spoken = await resumed.find("turn.done", timeout=30, turn_id="turn_2")
        assert spoken["status"] == "completed"
        said = "".join(e["delta"] for e in resumed.events
                       if e.get("type") == "reply.text.delta" and e.get("turn_id") == "turn_2")
        assert said.strip() == ended["message"].strip() and said.strip()
        await resumed.close()
        await watcher.close()

        again = await NativeClient.connect(ws(a, ALICE, conversation_id=conversation_id))  # said: not again
        await again.send({"type": "text", "text": "Thanks"})
        assert (await again.expect("turn.done"))["turn_id"] == "turn_3"
        assert [e["turn_id"] for e in again.events if e.get("type") == "turn.done"] == ["turn_3"]
        await again.close()
    finally:
        fake.stuck.discard("midjourney")
        await lock.close()


async def waiting_on_the_lock(url: str, statement: str, timeout: float = 10) -> None:
    """Until a session's `statement` is waiting for a lock, as pg_stat_activity says (read on a connection
    of its own, outside any transaction: inside one, PostgreSQL serves the first snapshot again)."""
    deadline = time.monotonic() + timeout
    connection = await asyncpg.connect(url)
    try:
        while not await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
                statement + "%"):
            assert time.monotonic() < deadline, f"nobody waited on the lock with {statement!r}"
            await asyncio.sleep(0.02)  # a condition checked each time, not a guess at how long it takes
    finally:
        await connection.close()


async def test_a_job_caught_mid_submission_is_not_sent_again(two_nodes):
    a, b = two_nodes
    fake = shared_fake()
    submitted_before = len(fake.sent(SUBMIT))
    fake.fault("midjourney", "slow", delay=8, on=SUBMIT, times=1)  # A dies while the provider answers
    asker = await NativeClient.connect(ws(a, ALICE))
    watcher = await NativeClient.connect(ws(b, ALICE))
    await asker.send({"type": "text", "text": "Draw a castle on a hill"})
    job_id = (await asker.find("media.job", event="submitted"))["job"]["id"]
    await watcher.find("media.job", event="submitted")
    # The request is at the provider now (held there 8 s). Reading A's messages until it showed up would
    # wait on whatever A says meanwhile (its acknowledgement may be over already).
    await asyncio.to_thread(fake.wait_sent, SUBMIT, submitted_before + 1)
    a.kill9()
    failed = await watcher.find("media.job", event="failed", timeout=30)
    assert failed["job"]["id"] == job_id and failed["job"]["error_code"] == "submission_uncertain"
    assert "did not send it again" in failed["job"]["error"]
    assert len(fake.sent(SUBMIT)) == submitted_before + 1
    await watcher.close()


async def test_database_down_and_back(tmp_path: Path, fake_chat):
    server = Postgres().start()  # its own cluster: stopping it must not touch other tests' databases
    node = None
    try:
        node = ServerProcess(node_env(tmp_path, server.database(), fake_chat, "a"))
        client = await NativeClient.connect(ws(node, ALICE))
        conversation_id = client.ready["conversation_id"]
        await client.send({"type": "text", "text": "Hello before"})
        await client.expect("turn.done")
        server.stop()
        await client.send({"type": "text", "text": "Hello during"})
        warned = await client.expect("error", code="storage_unavailable")
        assert warned["turn_id"] == "turn_2" and "saved when the database is back" in warned["message"]
        assert (await client.expect("turn.done"))["status"] == "completed"  # the conversation goes on
        headers = {"authorization": f"Bearer {ALICE}"}
        async with httpx.AsyncClient(base_url=node.http, headers=headers) as http:
            health = (await http.get("/health")).json()
            assert health["status"] == "degraded" and health["database"]["status"] == "down"
            assert health["database"]["kept_writes"] >= 1
            assert (await http.get("/api/conversations")).status_code == 503
            server.start()
            node.wait_for("database reachable again", timeout=30)
            health = (await http.get("/health")).json()
            assert health["status"] == "ok" and "kept_writes" not in health["database"], node.log
            saved = (await http.get(f"/api/conversations/{conversation_id}")).json()
        assert [t["user_text"] for t in saved["turns"]] == ["Hello before", "Hello during"]
        assert [t["status"] for t in saved["turns"]] == ["completed", "completed"]
        await client.send({"type": "text", "text": "Hello after"})
        assert (await client.expect("turn.done"))["turn_id"] == "turn_3"
        await client.close()
        assert node.proc.poll() is None  # never crashed
    finally:
        if node is not None:
            node.stop()
        server.destroy()


async def test_behind_nginx_a_reconnect_landing_on_the_other_node_resumes(two_nodes, fake_chat):
    nodes = list(two_nodes)
    proxy = Nginx([node.port for node in nodes]).start()
    try:
        async with httpx.AsyncClient(base_url=proxy.http) as http:
            assert (await http.get("/health")).json()["database"]["status"] == "ok"
        client = await NativeClient.connect(f"{proxy.ws}?token={ALICE}")
        conversation_id = client.ready["conversation_id"]
        await client.send({"type": "text", "text": "Remember the word pineapple"})
        await client.expect("turn.done")
        landed = next(node for node in nodes if "WebSocket /ws?token=***" in node.log)
        other = next(node for node in nodes if node is not landed)
        landed.kill9()  # the node dies under the connection; the page reconnects through the balancer
        with pytest.raises(websockets.ConnectionClosed):
            await client.next(timeout=30)

        resumed = await NativeClient.connect(f"{proxy.ws}?token={ALICE}&conversation_id={conversation_id}")
        assert resumed.ready["resumed"] is True and resumed.ready["conversation_id"] == conversation_id
        assert f"conversation_id={conversation_id}" in other.log  # nginx skipped the dead node
        await resumed.send({"type": "conversation.get"})
        history = (await resumed.expect("conversation"))["messages"]
        assert history[0] == {"role": "user", "content": "Remember the word pineapple"}
        fake_chat.requests.clear()
        await resumed.send({"type": "text", "text": "Which word?"})
        assert (await resumed.expect("turn.done"))["turn_id"] == "turn_2"
        assert {"role": "user", "content": "Remember the word pineapple"} in \
            fake_chat.requests[-1]["body"]["messages"]
        await resumed.close()
    finally:
        proxy.stop()
