"""The PostgreSQL connection a node shares between its stores (`VOICECHAT_DATABASE_URL`).

Several nodes may start at once: the schema is created and migrated inside one transaction that holds an
advisory lock, so exactly one of them applies each migration and the others wait, then see it applied.
An outage never crashes the node: calls raise `DatabaseDown` (a `StoreError`, whose message is fit for a
client), `/health` reports the database down, and a probe notices when it is back and runs the callbacks
registered with `on_recovered` (the conversation store writes what it kept meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg

from .store import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key for migrations: any constant, the same on every node ("voic" in ASCII).
MIGRATION_LOCK = 0x766F6963

# (version, SQL). Append only: a node applies the versions it does not find in schema_migrations.
MIGRATIONS: list[tuple[int, str]] = [
    (1, """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        door TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX conversations_owner ON conversations (owner, updated_at);
    CREATE TABLE turns (
        conversation_id TEXT NOT NULL REFERENCES conversations(id),
        turn_id TEXT NOT NULL,
        seq BIGSERIAL,
        user_text TEXT NOT NULL DEFAULT '',
        assistant_text TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        timings JSONB NOT NULL DEFAULT '{}',
        media_job_id TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (conversation_id, turn_id)
    );
    CREATE TABLE media_jobs (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        data JSONB NOT NULL,
        lease_owner TEXT,
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0
    );
    CREATE INDEX media_jobs_owner ON media_jobs (owner, created_at);
    CREATE INDEX media_jobs_unfinished ON media_jobs (created_at) WHERE status IN ('submitted', 'running');
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        ext TEXT NOT NULL,
        data BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    """),
    # Who said a finished job's completion line (voicechat/media/bridge.py): NULL until a connection of its
    # conversation takes it. Jobs that ended before this column count as said: they were said then, or (as
    # resume worked before) listed and never said, and a resume must not say months-old lines now.
    (2, """
    ALTER TABLE media_jobs ADD COLUMN line_said_by TEXT;
    UPDATE media_jobs SET line_said_by = 'before-upgrade' WHERE status IN ('succeeded', 'failed');
    """),
    # Uploads never lived here: they are files in the shared VOICECHAT_MEDIA_DIR (docs/deployment.md), and no
    # version ever wrote this table, so nothing is lost.
    (3, "DROP TABLE IF EXISTS uploads;"),
]

# What an unreachable or restarting server raises; anything else (a constraint, a bug) is not an outage.
_OUTAGE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.OperatorInterventionError,
)

NOW = "extract(epoch from clock_timestamp())"  # the database's clock, so leases ignore node clock skew


class DatabaseDown(StoreUnavailable):
    """PostgreSQL cannot be reached; the message is safe to show a client."""


class Database:
    """An asyncpg pool, connected lazily in the server's event loop by `start()`."""

    def __init__(self, url: str, *, max_connections: int = 10, timeout_s: float = 5.0,
                 probe_interval_s: float = 1.0) -> None:
        self.url = url
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self.probe_interval_s = probe_interval_s
        self.pool: asyncpg.Pool | None = None
        self.error = "not connected yet"  # the last outage; "" while healthy
        self._recovered: list[Callable[[], Awaitable[None]]] = []
        self._probe: asyncio.Task[None] | None = None
        self._starting: asyncio.Lock | None = None
        self._listeners: list[asyncio.Task[None]] = []

    @property
    def healthy(self) -> bool:
        return self.pool is not None and not self.error

    def status(self) -> dict[str, Any]:
        """For /health: never the URL (it may hold a password)."""
        return {"backend": "postgresql", "status": "ok" if self.healthy else "down",
                **({"error": self.error} if self.error else {})}

    def on_recovered(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._recovered.append(callback)

    async def start(self) -> None:
        """Connect and migrate; when the database is down, keep trying in the background (idempotent)."""
        self._starting = self._starting or asyncio.Lock()
        async with self._starting:
            if self.pool is not None or self._probe is not None:
                return
            try:
                await self._connect()
            except _OUTAGE as exc:
                self._down(exc)

    async def _connect(self) -> None:
        pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.max_connections,
                                         timeout=self.timeout_s, command_timeout=self.timeout_s)
        try:
            await migrate(pool)
        except BaseException:
            await pool.close()
            raise
        self.pool = pool
        self.error = ""

    async def listen(self, channel: str, callback: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Deliver every NOTIFY on `channel` (JSON payloads) to `callback`, on a connection of its own that
        is reopened after an outage. Notifications sent while it was down are lost: callers reread state."""
        self._listeners.append(asyncio.create_task(self._listen(channel, callback), name=f"listen-{channel}"))

    async def _listen(self, channel: str, callback: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        def received(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
            task = asyncio.get_running_loop().create_task(callback(json.loads(payload)))
            pending.add(task)
            task.add_done_callback(pending.discard)

        pending: set[asyncio.Task[None]] = set()
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self.url, timeout=self.timeout_s)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(channel, received)
                await lost.wait()
            except asyncio.CancelledError:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connection.close(), self.timeout_s)
                raise
            except (*_OUTAGE, asyncpg.PostgresError) as exc:
                log.debug("listener on %s: %s", channel, exc)
            await asyncio.sleep(self.probe_interval_s)

    async def close(self) -> None:
        for listener in self._listeners:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        self._listeners.clear()
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), self.timeout_s)
            self.pool = None

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; an outage becomes `DatabaseDown` and starts the recovery probe."""
        if self.pool is None:
            raise DatabaseDown(f"the database is unavailable ({self.error})")
        try:
            async with self.pool.acquire(timeout=self.timeout_s) as connection:
                yield connection
        except _OUTAGE as exc:
            self._down(exc)
            raise DatabaseDown(f"the database is unavailable ({self.error})") from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"the database refused the change: {exc}") from exc

    def _down(self, exc: BaseException) -> None:
        self.error = f"{type(exc).__name__}: {exc}".strip().rstrip(":") or type(exc).__name__
        if self._probe is None or self._probe.done():
            log.error("database unavailable: %s", self.error)
            self._probe = asyncio.create_task(self._wait_until_back(), name="database-probe")

    async def _wait_until_back(self) -> None:
        while True:
            await asyncio.sleep(self.probe_interval_s)
            try:
                if self.pool is None:
                    await self._connect()
                else:
                    async with self.pool.acquire(timeout=self.timeout_s) as connection:
                        await connection.fetchval("SELECT 1")
            except (*_OUTAGE, asyncpg.PostgresError) as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                continue
            if self.pool is not None:
                await self.pool.expire_connections()  # the others died with the server: reopen them
            self.error = ""
            self._probe = None
            for callback in self._recovered:
                try:
                    await callback()
                except Exception:
                    log.exception("database recovery callback failed")
            log.info("database reachable again")
            return


async def migrate(pool: asyncpg.Pool) -> list[int]:
    """Apply the missing migrations under the advisory lock; returns the versions this call applied."""
    applied_now: list[int] = []
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                                 " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        done = {row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")}
        for version, sql in MIGRATIONS:
            if version not in done:
                await connection.execute(sql)
                await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied_now.append(version)
    if applied_now:
        log.info("database schema migrated to version %d", applied_now[-1])
    return applied_now
