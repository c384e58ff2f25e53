"""The PostgreSQL backend of the two stores: conversations and turns, and media jobs with leases and events.

Same methods and same answers as the SQLite stores (voicechat/store.py, voicechat/media/store.py); the
shared tests run against both. What PostgreSQL adds for several nodes:

- leases are taken with `FOR UPDATE SKIP LOCKED` and timed by the database's clock, so two nodes never
  hold one job and a node's clock cannot steal one early;
- job updates are announced with `NOTIFY` so every node's connections hear them;
- while the database is down a conversation write is kept in memory, in order, and written when it is
  back: the turn the client was told about is not lost, and the client is told it is only kept for now.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from .database import NOW, Database, DatabaseDown
from .media.jobs import Job

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "voicechat_media_jobs"
_UNFINISHED = "('submitted', 'running')"
_FINISHED = "('succeeded', 'failed')"
MAX_KEPT_WRITES = 10_000  # writes held through an outage (a few per turn); past it the oldest are dropped


class PgConversationStore:
    """Conversations in PostgreSQL; the async methods are the whole interface."""

    backend = "postgresql"

    def __init__(self, database: Database) -> None:
        self.database = database
        self._kept: list[tuple[str, tuple[Any, ...]]] = []  # writes waiting for the database, oldest first
        database.on_recovered(self.flush)

    async def open(self) -> None:
        await self.database.start()

    def close(self) -> None:
        """The database itself is closed by whoever started it (the app's lifespan)."""

    @property
    def kept_writes(self) -> int:
        return len(self._kept)

    async def open_conversation(self, conversation_id: str, owner: str, door: str) -> None:
        now = time.time()
        await self._write("INSERT INTO conversations VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
                          (conversation_id, owner, door, now))

    async def save_turn(self, conversation_id: str, turn_id: str, *, user_text: str, assistant_text: str,
                        status: str, timings: dict[str, Any] | None = None,
                        media_job_id: str | None = None) -> None:
        """Insert or update one turn (when it starts, when it ends, and when it is truncated)."""
        await self._write(
            "WITH turn AS (INSERT INTO turns (conversation_id, turn_id, user_text, assistant_text, status,"
            " timings, media_job_id, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $8)"
            " ON CONFLICT (conversation_id, turn_id) DO UPDATE SET user_text = excluded.user_text,"
            " assistant_text = excluded.assistant_text, status = excluded.status, timings = excluded.timings,"
            " media_job_id = excluded.media_job_id, updated_at = excluded.updated_at RETURNING 1)"
            " UPDATE conversations SET updated_at = $8 WHERE id = $1",
            (conversation_id, turn_id, user_text, assistant_text, status, json.dumps(timings or {}),
             media_job_id, time.time()),
        )  # fmt: skip

    async def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        if self._kept:  # keep the order: nothing overtakes a write still waiting
            self._keep(sql, args)
            raise DatabaseDown("the database is unavailable; this conversation is kept on this node and "
                               "saved when the database is back")
        try:
            async with self.database.connection() as connection:
                await connection.execute(sql, *args)
        except DatabaseDown:
            self._keep(sql, args)
            raise DatabaseDown("the database is unavailable; this conversation is kept on this node and "
                               "saved when the database is back") from None

    def _keep(self, sql: str, args: tuple[Any, ...]) -> None:
        self._kept.append((sql, args))
        if len(self._kept) > MAX_KEPT_WRITES:
            del self._kept[0]
            log.error("database down too long: dropped the oldest kept conversation write")

    async def flush(self) -> None:
        """Write what was kept during an outage, in order; stops at the first failure (keeps the rest)."""
        written = 0
        while self._kept:
            sql, args = self._kept[0]
            try:
                async with self.database.connection() as connection:
                    await connection.execute(sql, *args)
            except DatabaseDown:
                break
            except Exception:
                log.exception("a kept conversation write was refused; dropping it")
            self._kept.pop(0)
            written += 1
        if written:
            log.info("wrote %d conversation changes kept during the database outage", written)

    async def conversations(self, owner: str, limit: int = 20) -> list[dict[str, Any]]:
        async with self.database.connection() as connection:
            rows = await connection.fetch("SELECT * FROM conversations WHERE owner = $1"
                                          " ORDER BY updated_at DESC LIMIT $2", owner, limit)
            return [await _with_turns(connection, dict(row)) for row in rows]

    async def conversation(self, conversation_id: str, owner: str) -> dict[str, Any] | None:
        async with self.database.connection() as connection:
            row = await connection.fetchrow("SELECT * FROM conversations WHERE id = $1 AND owner = $2",
                                            conversation_id, owner)
            return await _with_turns(connection, dict(row)) if row else None

    async def owner_of(self, conversation_id: str) -> str | None:
        async with self.database.connection() as connection:
            return await connection.fetchval("SELECT owner FROM conversations WHERE id = $1", conversation_id)


async def _with_turns(connection: asyncpg.Connection, row: dict[str, Any]) -> dict[str, Any]:
    turns = []
    for turn in await connection.fetch(
            "SELECT turn_id, user_text, assistant_text, status, timings, media_job_id, created_at, updated_at"
            " FROM turns WHERE conversation_id = $1 ORDER BY created_at, seq", row["id"]):
        turns.append({**dict(turn), "timings": json.loads(turn["timings"])})
    return {**row, "turns": turns}


class PgJobStore:
    """Media jobs in PostgreSQL: the SQLite JobStore's async interface, plus cross-node events."""

    path = "postgresql"

    def __init__(self, database: Database) -> None:
        self.database = database

    async def aopen(self) -> None:
        await self.database.start()

    def close(self) -> None:
        """The database is closed by the app's lifespan."""

    async def asave(self, job: Job, holder: str | None = None, lease_s: float = 0.0) -> bool:
        data = json.dumps(job.to_dict())
        args = (job.id, job.owner, job.status.value, job.created_at, job.updated_at, data)
        async with self.database.connection() as connection:
            if holder is None:
                await connection.execute(
                    "INSERT INTO media_jobs (id, owner, status, created_at, updated_at, data)"
                    " VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (id) DO UPDATE SET"
                    " owner = excluded.owner, status = excluded.status, updated_at = excluded.updated_at,"
                    " data = excluded.data", *args)
                return True
            lease_owner, lease_s = (None, -1.0) if job.finished else (holder, lease_s)
            saved = await connection.fetchval(
                "INSERT INTO media_jobs (id, owner, status, created_at, updated_at, data, lease_owner,"
                " lease_until)"
                f" VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, {NOW} + $8) ON CONFLICT (id) DO UPDATE SET"
                " owner = excluded.owner, status = excluded.status, updated_at = excluded.updated_at,"
                " data = excluded.data, lease_owner = excluded.lease_owner,"
                " lease_until = excluded.lease_until"
                f" WHERE media_jobs.lease_owner IS NULL OR media_jobs.lease_owner = $9"
                f" OR media_jobs.lease_until < {NOW} RETURNING true",
                *args, lease_owner, lease_s, holder)  # fmt: skip
            return bool(saved)

    async def aget(self, job_id: str) -> Job | None:
        async with self.database.connection() as connection:
            data = await connection.fetchval("SELECT data FROM media_jobs WHERE id = $1", job_id)
        return Job.from_dict(json.loads(data)) if data else None

    async def alist(self, owner: str | None = None, limit: int = 50) -> list[Job]:
        """Newest first."""
        async with self.database.connection() as connection:
            if owner is None:
                rows = await connection.fetch(
                    "SELECT data FROM media_jobs ORDER BY created_at DESC, id DESC LIMIT $1", limit)
            else:
                rows = await connection.fetch("SELECT data FROM media_jobs WHERE owner = $1"
                                              " ORDER BY created_at DESC, id DESC LIMIT $2", owner, limit)
        return [Job.from_dict(json.loads(row["data"])) for row in rows]

    async def aunfinished(self) -> list[Job]:
        async with self.database.connection() as connection:
            rows = await connection.fetch(
                f"SELECT data FROM media_jobs WHERE status IN {_UNFINISHED} ORDER BY created_at")
        return [Job.from_dict(json.loads(row["data"])) for row in rows]

    async def asay_once(self, job_id: str, by: str) -> bool:
        """Take the saying of a finished job's completion line for `by`: one UPDATE, so of two nodes (or
        two connections) asking at once exactly one gets True."""
        async with self.database.connection() as connection:
            taken = await connection.fetchval(
                "UPDATE media_jobs SET line_said_by = $2 WHERE id = $1 AND line_said_by IS NULL"
                f" AND status IN {_FINISHED} RETURNING true", job_id, by)
        return bool(taken)

    async def aunsaid(self, job_ids: list[str]) -> list[Job]:
        """The jobs among `job_ids` that ended and whose line nobody has said yet, oldest first."""
        if not job_ids:
            return []
        async with self.database.connection() as connection:
            rows = await connection.fetch(
                "SELECT data FROM media_jobs WHERE id = ANY($1::text[]) AND line_said_by IS NULL"
                f" AND status IN {_FINISHED} ORDER BY created_at", job_ids)
        return [Job.from_dict(json.loads(row["data"])) for row in rows]

    async def aclaim(self, holder: str, lease_s: float, limit: int = 50) -> list[Job]:
        """Take the leases nobody holds or whose holder stopped renewing; rows another node is claiming
        at this instant are skipped (SKIP LOCKED), never waited for or taken twice."""
        async with self.database.connection() as connection:
            rows = await connection.fetch(
                f"WITH due AS (SELECT id FROM media_jobs WHERE status IN {_UNFINISHED}"
                f" AND (lease_owner IS NULL OR lease_until < {NOW}) ORDER BY created_at LIMIT $3"
                " FOR UPDATE SKIP LOCKED)"
                f" UPDATE media_jobs SET lease_owner = $1, lease_until = {NOW} + $2 FROM due"
                " WHERE media_jobs.id = due.id RETURNING media_jobs.data",
                holder, lease_s, limit)  # fmt: skip
        jobs = [Job.from_dict(json.loads(row["data"])) for row in rows]
        return sorted(jobs, key=lambda job: job.created_at)

    async def arenew(self, holder: str, job_ids: list[str], lease_s: float) -> set[str]:
        if not job_ids:
            return set()
        async with self.database.connection() as connection:
            rows = await connection.fetch(
                f"UPDATE media_jobs SET lease_until = {NOW} + $3"
                " WHERE lease_owner = $1 AND id = ANY($2::text[]) RETURNING id", holder, job_ids, lease_s)
        return {row["id"] for row in rows}

    async def arelease(self, holder: str) -> None:
        async with self.database.connection() as connection:
            await connection.execute(
                "UPDATE media_jobs SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = $1", holder)

    # -- events between nodes ----------------------------------------------------------------------

    async def apublish(self, update: dict[str, Any]) -> None:
        """Tell every node about a job update (small: the receivers read the job itself)."""
        async with self.database.connection() as connection:
            await connection.execute("SELECT pg_notify($1, $2)", EVENTS_CHANNEL, json.dumps(update))

    async def awatch(self, callback: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Call `callback` with every update any node publishes (this one's included)."""
        await self.database.listen(EVENTS_CHANNEL, callback)
