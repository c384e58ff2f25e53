"""SQLite persistence for media jobs.

A job is written here before anybody is told about it, so a restart loses nothing: `unfinished()`
hands the poller everything it must pick up again. WAL mode lets readers (the browser listing jobs)
run while the poller writes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path

from voicechat.media.jobs import Job, JobStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS media_jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS media_jobs_owner ON media_jobs (owner, created_at);
CREATE INDEX IF NOT EXISTS media_jobs_status ON media_jobs (status);
"""

_UNFINISHED = (JobStatus.SUBMITTED.value, JobStatus.RUNNING.value)


class JobStore:
    """Jobs in one SQLite file. Safe to share between threads; the `a*` methods keep the event loop free."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across application crashes in WAL mode; only power loss can drop
            # the last transactions, which is fine for a job list.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.commit()

    def save(self, job: Job) -> None:
        row = (job.id, job.owner, job.status.value, job.created_at, job.updated_at, json.dumps(job.to_dict()))
        with self._lock:
            self._db.execute(
                "INSERT INTO media_jobs (id, owner, status, created_at, updated_at, data)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET owner=excluded.owner, status=excluded.status,"
                " updated_at=excluded.updated_at, data=excluded.data",
                row,
            )
            self._db.commit()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM media_jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_dict(json.loads(row[0])) if row else None

    def list(self, owner: str | None = None, limit: int = 50) -> list[Job]:
        """Newest first."""
        query = "SELECT data FROM media_jobs"
        args: tuple = ()
        if owner is not None:
            query += " WHERE owner = ?"
            args = (owner,)
        query += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*args, limit)).fetchall()
        return [Job.from_dict(json.loads(row[0])) for row in rows]

    def unfinished(self) -> list[Job]:
        """Jobs a poller still has to drive, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM media_jobs WHERE status IN (?, ?) ORDER BY created_at", _UNFINISHED
            ).fetchall()
        return [Job.from_dict(json.loads(row[0])) for row in rows]

    def journal_mode(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA journal_mode").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    async def asave(self, job: Job) -> None:
        await asyncio.to_thread(self.save, job)

    async def aget(self, job_id: str) -> Job | None:
        return await asyncio.to_thread(self.get, job_id)

    async def alist(self, owner: str | None = None, limit: int = 50) -> list[Job]:
        return await asyncio.to_thread(self.list, owner, limit)

    async def aunfinished(self) -> list[Job]:
        return await asyncio.to_thread(self.unfinished)
