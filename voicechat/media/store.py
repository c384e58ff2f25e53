"""SQLite persistence for media jobs.

A job is written here before anybody is told about it, so a restart loses nothing: `unfinished()`
hands the poller everything it must pick up again. WAL mode lets readers (the browser listing jobs)
run while the poller writes.

Several processes may share the file: a job is polled only by the holder of its lease (`lease_owner`
until `lease_until`), taken with `claim` and kept with `renew` (voicechat/media/leases.py drives them;
voicechat/pg_store.py is the PostgreSQL twin). SQLite runs one writer at a time, so each claim is atomic.

A finished job's completion line is said once, by whichever connection of its conversation takes it first
(`say_once` sets `line_said_by`, atomically); `unsaid` is what a resumed conversation still has to hear.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

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
# Added for leases; files written before them gain the columns on open.
_LEASE_COLUMNS = {"lease_owner": "TEXT", "lease_until": "REAL NOT NULL DEFAULT 0"}
# Who said the completion line (NULL: nobody yet). Added later: in a file written before it, every job that
# had already ended counts as said (its line was said then, or it was listed but never said on resume).
_LINE_COLUMN = "line_said_by"
SAID_BEFORE_UPGRADE = "before-upgrade"

_UNFINISHED = (JobStatus.SUBMITTED.value, JobStatus.RUNNING.value)
_FINISHED = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value)


@runtime_checkable
class AnnouncesJobs(Protocol):
    """A job store shared by several servers that tells each of them every job update (PostgreSQL's
    NOTIFY, voicechat/pg_store.py); the SQLite file has one server and nothing to announce."""

    async def apublish(self, update: dict[str, Any]) -> None: ...

    async def awatch(self, callback: Callable[[dict[str, Any]], Awaitable[None]]) -> None: ...


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
            self._db.execute("PRAGMA busy_timeout=5000")  # another process may be writing
            self._db.executescript(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(media_jobs)")}
            for name, kind in _LEASE_COLUMNS.items():
                if name not in have:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process just added it
                        self._db.execute(f"ALTER TABLE media_jobs ADD COLUMN {name} {kind}")
            self._db.commit()
            if _LINE_COLUMN not in have:
                self._add_line_column()

    def _add_line_column(self) -> None:
        """Add `line_said_by` and mark the jobs that ended before it as said, in one transaction (a second
        process opening the file at once waits on the write lock, then finds the column there)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if _LINE_COLUMN not in {row[1] for row in self._db.execute("PRAGMA table_info(media_jobs)")}:
                self._db.execute(f"ALTER TABLE media_jobs ADD COLUMN {_LINE_COLUMN} TEXT")
                self._db.execute(f"UPDATE media_jobs SET {_LINE_COLUMN} = ? WHERE status IN (?, ?)",
                                 (SAID_BEFORE_UPGRADE, *_FINISHED))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def save(self, job: Job, holder: str | None = None, lease_s: float = 0.0) -> bool:
        """Insert or update. With `holder`, only while it holds the lease (or nobody does), which it then
        keeps for `lease_s` more (a finished job's lease is dropped); False when another holder has it."""
        row = (job.id, job.owner, job.status.value, job.created_at, job.updated_at, json.dumps(job.to_dict()))
        with self._lock:
            if holder is None:
                self._db.execute(
                    "INSERT INTO media_jobs (id, owner, status, created_at, updated_at, data)"
                    " VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET owner=excluded.owner, status=excluded.status,"
                    " updated_at=excluded.updated_at, data=excluded.data",
                    row,
                )
                self._db.commit()
                return True
            now = time.time()
            lease = (None, 0.0) if job.finished else (holder, now + lease_s)
            cursor = self._db.execute(
                "INSERT INTO media_jobs (id, owner, status, created_at, updated_at, data, lease_owner,"
                " lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET owner=excluded.owner, status=excluded.status,"
                " updated_at=excluded.updated_at, data=excluded.data, lease_owner=excluded.lease_owner,"
                " lease_until=excluded.lease_until"
                " WHERE media_jobs.lease_owner IS NULL OR media_jobs.lease_owner = ?"
                " OR media_jobs.lease_until < ?",
                (*row, *lease, holder, now),
            )
            self._db.commit()
            return cursor.rowcount > 0

    def claim(self, holder: str, lease_s: float, limit: int = 50) -> list[Job]:
        """Take the lease of unfinished jobs nobody holds (or whose holder stopped renewing), oldest first."""
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                "UPDATE media_jobs SET lease_owner = ?, lease_until = ? WHERE id IN ("
                " SELECT id FROM media_jobs WHERE status IN (?, ?)"
                " AND (lease_owner IS NULL OR lease_until < ?) ORDER BY created_at LIMIT ?) RETURNING data",
                (holder, now + lease_s, *_UNFINISHED, now, limit),
            ).fetchall()
            self._db.commit()
        jobs = [Job.from_dict(json.loads(row[0])) for row in rows]
        return sorted(jobs, key=lambda job: job.created_at)

    def renew(self, holder: str, job_ids: list[str], lease_s: float) -> set[str]:
        """Extend `holder`'s leases; returns the ids it still holds (the others were taken over)."""
        if not job_ids:
            return set()
        marks = ",".join("?" * len(job_ids))
        with self._lock:
            rows = self._db.execute(
                f"UPDATE media_jobs SET lease_until = ? WHERE lease_owner = ? AND id IN ({marks})"
                " RETURNING id",
                (time.time() + lease_s, holder, *job_ids),
            ).fetchall()
            self._db.commit()
        return {row[0] for row in rows}

    def release(self, holder: str) -> None:
        """Give up every lease of `holder` (a clean shutdown), so another process takes over at once."""
        with self._lock:
            self._db.execute(
                "UPDATE media_jobs SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = ?", (holder,))
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

    def say_once(self, job_id: str, by: str) -> bool:
        """Take the saying of a finished job's completion line for `by`; False when someone already has."""
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE media_jobs SET {_LINE_COLUMN} = ? WHERE id = ? AND {_LINE_COLUMN} IS NULL"
                " AND status IN (?, ?)", (by, job_id, *_FINISHED))
            self._db.commit()
            return cursor.rowcount > 0

    def unsaid(self, job_ids: list[str]) -> list[Job]:
        """The jobs among `job_ids` that ended and whose line nobody has said yet, oldest first."""
        if not job_ids:
            return []
        marks = ",".join("?" * len(job_ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT data FROM media_jobs WHERE id IN ({marks}) AND {_LINE_COLUMN} IS NULL"
                " AND status IN (?, ?) ORDER BY created_at", (*job_ids, *_FINISHED)).fetchall()
        return [Job.from_dict(json.loads(row[0])) for row in rows]

    def journal_mode(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA journal_mode").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    async def aopen(self) -> None:
        """Nothing to connect: the file is open (the PostgreSQL store connects here)."""

    async def asave(self, job: Job, holder: str | None = None, lease_s: float = 0.0) -> bool:
        return await asyncio.to_thread(self.save, job, holder, lease_s)

    async def aclaim(self, holder: str, lease_s: float, limit: int = 50) -> list[Job]:
        return await asyncio.to_thread(self.claim, holder, lease_s, limit)

    async def arenew(self, holder: str, job_ids: list[str], lease_s: float) -> set[str]:
        return await asyncio.to_thread(self.renew, holder, job_ids, lease_s)

    async def arelease(self, holder: str) -> None:
        await asyncio.to_thread(self.release, holder)

    async def aget(self, job_id: str) -> Job | None:
        return await asyncio.to_thread(self.get, job_id)

    async def alist(self, owner: str | None = None, limit: int = 50) -> list[Job]:
        return await asyncio.to_thread(self.list, owner, limit)

    async def aunfinished(self) -> list[Job]:
        return await asyncio.to_thread(self.unfinished)

    async def asay_once(self, job_id: str, by: str) -> bool:
        return await asyncio.to_thread(self.say_once, job_id, by)

    async def aunsaid(self, job_ids: list[str]) -> list[Job]:
        return await asyncio.to_thread(self.unsaid, job_ids)
