"""The Job model round-trips, and JobStore keeps jobs in SQLite (WAL) safely across threads."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.store import AnnouncesJobs, JobStore
from voicechat.pg_store import PgJobStore


def job(**fields) -> Job:
    return Job(kind=MediaKind.IMAGE, provider="midjourney", action="imagine", prompt="a fox", **fields)


@pytest.fixture
def store(tmp_path: Path):
    store = JobStore(tmp_path / "db" / "media.sqlite3")
    yield store
    store.close()


def test_job_round_trips_through_a_plain_dict():
    original = job(
        owner="alice",
        status="running",
        progress=46,
        result_urls=["u"],
        result={"buttons": [{"label": "U1", "custom_id": "MJ::JOB::upsample::1::h"}]},
        provider_task_ids=["17"],
        params={"images": ["data:,"]},
    )
    data = json.loads(json.dumps(original.to_dict()))
    assert data["status"] == "running" and data["kind"] == "image"
    assert Job.from_dict(data) == original
    assert Job.from_dict({**data, "field_from_the_future": 1}) == original
    public = original.to_public_dict()
    assert "params" not in public and "retries" not in public and public["progress"] == 46


def test_status_and_sent():
    fresh = job()
    assert fresh.status is JobStatus.SUBMITTED and not fresh.finished and not fresh.sent
    assert job(provider_task_ids=["1"]).sent and job(status="succeeded").finished
    fresh.fail("banned_prompt", "refused")
    assert (fresh.status, fresh.error_code, fresh.error) == (JobStatus.FAILED, "banned_prompt", "refused")


def test_request_defaults_and_rebuild_from_job():
    assert MediaRequest("music", "x").action == "generate"
    assert MediaRequest(MediaKind.IMAGE, "x").action == "imagine"
    rebuilt = MediaRequest.from_job(job(params={"aspect_ratio": "16:9"}))
    assert (rebuilt.kind, rebuilt.prompt, rebuilt.options) == (
        MediaKind.IMAGE,
        "a fox",
        {"aspect_ratio": "16:9"},
    )


def test_store_is_wal_and_saves_and_updates(store):
    assert store.journal_mode() == "wal"
    item = job(owner="alice")
    store.save(item)
    item.status, item.progress = JobStatus.RUNNING, 50
    store.save(item)
    assert store.get(item.id) == item
    assert store.get("missing") is None


def test_list_is_newest_first_per_owner_with_limit(store):
    jobs = [job(owner="alice" if n % 2 else "bob", created_at=1000.0 + n) for n in range(6)]
    for item in jobs:
        store.save(item)
    assert [j.id for j in store.list(owner="alice")] == [jobs[5].id, jobs[3].id, jobs[1].id]
    assert [j.id for j in store.list(limit=2)] == [jobs[5].id, jobs[4].id]


def test_unfinished_is_what_a_restart_resumes(store):
    waiting, running, done, failed = (
        job(),
        job(status="running"),
        job(status="succeeded"),
        job(status="failed"),
    )
    for item in (waiting, running, done, failed):
        store.save(item)
    assert {j.id for j in store.unfinished()} == {waiting.id, running.id}


def test_concurrent_saves_from_threads(store):
    jobs = [job(owner=str(n)) for n in range(40)]
    threads = [threading.Thread(target=store.save, args=(item,)) for item in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.list(limit=100)) == 40


async def test_async_wrappers(store):
    item = job(owner="alice")
    await store.asave(item)
    assert await store.aget(item.id) == item
    assert [j.id for j in await store.alist("alice")] == [item.id]
    assert [j.id for j in await store.aunfinished()] == [item.id]


def test_only_the_shared_store_announces_job_updates_to_other_servers():
    # MediaService starts its announcer by this protocol: a renamed method must fail here, not go quiet.
    assert issubclass(PgJobStore, AnnouncesJobs)
    assert not issubclass(JobStore, AnnouncesJobs)


def test_a_file_from_before_the_said_record_counts_its_ended_jobs_as_said(tmp_path):
    """Jobs that ended before the upgrade were said then, or (as resume used to work) listed and never said:
    a resume must not say them now. The jobs still running get their line said when they end."""
    path = tmp_path / "media.sqlite3"
    ended, running = job(status=JobStatus.SUCCEEDED), job(status=JobStatus.RUNNING)
    old = sqlite3.connect(path)  # the schema as released before `line_said_by`, leases included
    old.executescript("CREATE TABLE media_jobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL,"
                      " status TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,"
                      " data TEXT NOT NULL,"
                      " lease_owner TEXT, lease_until REAL NOT NULL DEFAULT 0)")
    for item in (ended, running):
        old.execute("INSERT INTO media_jobs (id, owner, status, created_at, updated_at, data)"
                    " VALUES (?, '', ?, ?, ?, ?)",
                    (item.id, item.status.value, item.created_at, item.updated_at,
                     json.dumps(item.to_dict())))
    old.commit()
    old.close()
    upgraded, second = JobStore(path), JobStore(path)  # two processes opening it: the column is added once
    try:
        assert upgraded.unsaid([ended.id, running.id]) == []
        assert not upgraded.say_once(ended.id, "conn-a")
        assert not upgraded.say_once(running.id, "conn-a")  # not ended: there is nothing to say yet
        running.status = JobStatus.SUCCEEDED
        upgraded.save(running)
        assert [j.id for j in second.unsaid([ended.id, running.id])] == [running.id]
        assert second.say_once(running.id, "conn-b") and not upgraded.say_once(running.id, "conn-a")
        assert upgraded.unsaid([ended.id, running.id]) == []
    finally:
        upgraded.close()
        second.close()
