"""The two store backends (SQLite files, PostgreSQL) answer the same way: every test here runs on both.

Conversations and turns, media jobs, and the leases that let several processes share one store: a lease
is held by one process at a time, taken over once its holder stops renewing, and never taken twice by
processes claiming at the same instant.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import make_settings
from voicechat.backends import Backends
from voicechat.database import MIGRATIONS, Database, migrate
from voicechat.media.jobs import Job, JobStatus, MediaKind
from voicechat.media.store import JobStore
from voicechat.pg_store import PgJobStore


def job(**fields) -> Job:
    return Job(kind=MediaKind.IMAGE, provider="midjourney", action="imagine", prompt="a fox", **fields)


@pytest.fixture
async def backends(database_url: str, tmp_path: Path):
    opened = Backends(make_settings(database_url=database_url, db_path=tmp_path / "voicechat.sqlite3"))
    await opened.start()
    yield opened
    await opened.close()


def job_store(backends: Backends, tmp_path: Path):
    """A job store on the same state: a second handle is what a second process would open."""
    if backends.database is None:
        return JobStore(tmp_path / "media.sqlite3")
    return PgJobStore(backends.database)


async def test_conversations_and_turns_round_trip(backends):
    store = backends.conversations
    await store.open_conversation("sess_a", "alice", "native")
    await store.open_conversation("sess_a", "alice", "native")  # reopening (a resume) changes nothing
    await store.open_conversation("sess_b", "bob", "realtime")
    await store.save_turn("sess_a", "turn_1", user_text="Hello", assistant_text="", status="running")
    await store.save_turn("sess_a", "turn_2", user_text="Bye", assistant_text="See you", status="completed")
    await store.save_turn("sess_a", "turn_1", user_text="Hello", assistant_text="Hi there",
                          status="interrupted", timings={"transcript_ms": 12.5}, media_job_id="job1")
    found = await store.conversation("sess_a", "alice")
    assert found["owner"] == "alice" and found["door"] == "native"
    assert [(t["turn_id"], t["assistant_text"], t["status"]) for t in found["turns"]] == [
        ("turn_1", "Hi there", "interrupted"), ("turn_2", "See you", "completed")]
    assert found["turns"][0]["timings"] == {"transcript_ms": 12.5}
    assert found["turns"][0]["media_job_id"] == "job1"
    assert set(found["turns"][0]) == {"turn_id", "user_text", "assistant_text", "status", "timings",
                                      "media_job_id", "created_at", "updated_at"}
    assert await store.conversation("sess_a", "bob") is None
    assert await store.owner_of("sess_a") == "alice" and await store.owner_of("nope") is None
    listed = await store.conversations("alice")
    assert [c["id"] for c in listed] == ["sess_a"] and listed[0] == found
    assert [c["id"] for c in await store.conversations("bob")] == ["sess_b"]


async def test_jobs_save_update_list_and_unfinished(backends, tmp_path):
    store = job_store(backends, tmp_path)
    await store.aopen()
    jobs = [job(owner="alice" if n % 2 else "bob", created_at=1000.0 + n) for n in range(5)]
    for item in jobs:
        await store.asave(item)
    jobs[1].status, jobs[1].progress = JobStatus.RUNNING, 40
    jobs[3].status = JobStatus.SUCCEEDED
    await store.asave(jobs[1])
    await store.asave(jobs[3])
    assert await store.aget(jobs[1].id) == jobs[1]
    assert await store.aget("missing") is None
    assert [j.id for j in await store.alist("alice")] == [jobs[3].id, jobs[1].id]
    assert [j.id for j in await store.alist(limit=2)] == [jobs[4].id, jobs[3].id]
    assert [j.id for j in await store.aunfinished()] == [jobs[0].id, jobs[1].id, jobs[2].id, jobs[4].id]


async def test_a_lease_is_held_by_one_process_until_it_lapses(backends, tmp_path):
    first, second = job_store(backends, tmp_path), job_store(backends, tmp_path)
    item = job(owner="alice")
    assert await first.asave(item, holder="node-a", lease_s=60)
    assert await second.aclaim("node-b", 60) == []  # held and renewed: nobody else gets it
    item.progress = 10
    assert not await second.asave(item, holder="node-b", lease_s=60)  # nor may write it
    assert await first.arenew("node-a", [item.id], 60) == {item.id}
    assert await first.asave(item, holder="node-a", lease_s=-1)  # node-a stops renewing: the lease lapses
    taken = await second.aclaim("node-b", 60)
    assert [j.id for j in taken] == [item.id] and taken[0].progress == 10
    assert await first.arenew("node-a", [item.id], 60) == set()  # node-a learns it lost the job
    assert not await first.asave(item, holder="node-a", lease_s=60)
    item.status = JobStatus.SUCCEEDED
    assert await second.asave(item, holder="node-b", lease_s=60)  # finished: the lease is dropped
    assert await first.aclaim("node-a", 60) == []  # and a finished job is never claimed


async def test_released_leases_are_claimed_at_once(backends, tmp_path):
    first, second = job_store(backends, tmp_path), job_store(backends, tmp_path)
    items = [job(created_at=2000.0 + n) for n in range(3)]
    for item in items:
        await first.asave(item, holder="node-a", lease_s=60)
    await first.arelease("node-a")  # a clean shutdown
    assert [j.id for j in await second.aclaim("node-b", 60)] == [j.id for j in items]


async def test_simultaneous_claims_never_share_a_job(backends, tmp_path):
    stores = [job_store(backends, tmp_path) for _ in range(4)]
    items = [job(created_at=3000.0 + n) for n in range(40)]
    for item in items:
        await stores[0].asave(item)
    claims = await asyncio.gather(*(store.aclaim(f"node-{n}", 60, limit=15)
                                    for n, store in enumerate(stores)))
    claimed = [j.id for jobs in claims for j in jobs]
    assert sorted(claimed) == sorted(j.id for j in items)  # every job claimed, none twice


async def test_nodes_starting_at_once_migrate_once(postgres):
    url = postgres.database()
    databases = [Database(url) for _ in range(5)]
    try:
        await asyncio.gather(*(d.start() for d in databases))
        assert all(d.healthy for d in databases)
        async with databases[0].connection() as connection:
            versions = await connection.fetch("SELECT version FROM schema_migrations")
        assert [r["version"] for r in versions] == [version for version, _ in MIGRATIONS]
        assert await migrate(databases[1].pool) == []  # nothing left to apply
    finally:
        for database in databases:
            await database.close()


async def test_a_completion_line_is_taken_once_by_connections_asking_at_once(backends, tmp_path):
    stores = [job_store(backends, tmp_path) for _ in range(4)]  # four connections, on four nodes
    running = job(owner="alice", created_at=4000.0)
    ended = job(owner="alice", created_at=4001.0, status=JobStatus.SUCCEEDED)
    refused = job(owner="alice", created_at=4002.0, status=JobStatus.FAILED)
    for item in (running, ended, refused):
        await stores[0].asave(item)
    ids = [running.id, ended.id, refused.id, "missing"]
    assert [j.id for j in await stores[1].aunsaid(ids)] == [ended.id, refused.id]  # only ended ones
    assert not await stores[1].asay_once(running.id, "conn-1")  # nothing to say before it ends
    taken = await asyncio.gather(*(store.asay_once(ended.id, f"conn-{n}") for n, store in enumerate(stores)))
    assert sorted(taken) == [False, False, False, True]
    assert [j.id for j in await stores[2].aunsaid(ids)] == [refused.id]
    await stores[3].asave(ended)  # a later save of the job (its poller's last write) keeps the record
    running.status = JobStatus.SUCCEEDED
    await stores[3].asave(running, holder="node-3", lease_s=60)
    assert [j.id for j in await stores[0].aunsaid(ids)] == [running.id, refused.id]
    assert await stores[0].aunsaid([]) == []


async def test_a_database_from_before_the_said_record_is_migrated(postgres):
    """Version 1 had no `line_said_by` and an `uploads` table nothing ever wrote. Migrating keeps the jobs,
    counts the ones that had ended as said (a resume must not say months-old lines), drops `uploads`."""
    url = postgres.database()
    ended, running = job(status=JobStatus.SUCCEEDED), job(status=JobStatus.RUNNING)
    old = await asyncpg.connect(url)
    try:
        await old.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                          " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        await old.execute(MIGRATIONS[0][1])
        await old.execute("INSERT INTO schema_migrations (version) VALUES (1)")
        for item in (ended, running):
            await old.execute("INSERT INTO media_jobs (id, owner, status, created_at, updated_at, data)"
                              " VALUES ($1, '', $2, $3, $3, $4::jsonb)", item.id, item.status.value,
                              item.created_at, json.dumps(item.to_dict()))
    finally:
        await old.close()
    database = Database(url)
    try:
        await database.start()
        async with database.connection() as connection:
            assert await connection.fetchval("SELECT to_regclass('uploads')") is None
            assert await connection.fetchval("SELECT count(*) FROM media_jobs") == 2
        store = PgJobStore(database)
        assert await store.aunsaid([ended.id, running.id]) == []
        running.status = JobStatus.SUCCEEDED
        await store.asave(running)
        assert [j.id for j in await store.aunsaid([ended.id, running.id])] == [running.id]
    finally:
        await database.close()
