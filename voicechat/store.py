"""Conversations and their turns in SQLite (WAL), written before the client hears about them.

One writer thread keeps SQLite off the event loop and serializes writes; WAL makes every committed write
survive a `kill -9` of the server.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    door TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    turn_id TEXT NOT NULL,
    user_text TEXT NOT NULL DEFAULT '',
    assistant_text TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    timings TEXT NOT NULL DEFAULT '{}',
    media_job_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (conversation_id, turn_id)
);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations(owner, updated_at);
"""


class StoreError(Exception):
    """Writing failed (disk full, read-only file system…); the message is safe to show a client."""


class StoreUnavailable(StoreError):
    """The shared database cannot be reached for now (voicechat/database.py); writes wait until it is back."""


class ConversationStore:
    """Thread-safe; the async methods run on one writer thread."""

    def __init__(self, path: str | Path, max_mb: float = 0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        if max_mb > 0:  # a cap: past it, writes fail exactly as they would on a full disk
            page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
            self._db.execute(f"PRAGMA max_page_count={max(1, int(max_mb * 1024 * 1024 // page_size))}")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            self._db.close()

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            with self._lock:
                self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"could not save the conversation: {exc}") from exc

    # --- writes -----------------------------------------------------------------------------------

    async def open_conversation(self, conversation_id: str, owner: str, door: str) -> None:
        now = time.time()
        await self._run(self._write,
                        "INSERT OR IGNORE INTO conversations VALUES (?, ?, ?, ?, ?)",
                        (conversation_id, owner, door, now, now))  # fmt: skip

    async def save_turn(
        self,
        conversation_id: str,
        turn_id: str,
        *,
        user_text: str,
        assistant_text: str,
        status: str,
        timings: dict[str, Any] | None = None,
        media_job_id: str | None = None,
    ) -> None:
        """Insert or update one turn (called when it starts, when it ends, and when it is truncated)."""
        now = time.time()
        await self._run(self._write_turn, conversation_id, turn_id, user_text, assistant_text, status,
                        json.dumps(timings or {}), media_job_id, now)  # fmt: skip

    def _write_turn(self, conversation_id: str, turn_id: str, user_text: str, assistant_text: str,
                    status: str, timings: str, media_job_id: str | None, now: float) -> None:
        try:
            with self._lock:
                self._db.execute("BEGIN")
                self._db.execute(
                    "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(conversation_id, turn_id) DO UPDATE SET user_text=excluded.user_text, "
                    "assistant_text=excluded.assistant_text, status=excluded.status, "
                    "timings=excluded.timings, media_job_id=excluded.media_job_id, "
                    "updated_at=excluded.updated_at",
                    (conversation_id, turn_id, user_text, assistant_text, status, timings, media_job_id,
                     now, now),
                )  # fmt: skip
                self._db.execute("UPDATE conversations SET updated_at=? WHERE id=?", (now, conversation_id))
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise StoreError(f"could not save the conversation: {exc}") from exc

    # --- reads ------------------------------------------------------------------------------------

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._db.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]  # type: ignore[misc]

    async def conversations(self, owner: str, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self._run(self._read,
                               "SELECT * FROM conversations WHERE owner=? ORDER BY updated_at DESC LIMIT ?",
                               (owner, limit))  # fmt: skip
        return [await self._with_turns(row) for row in rows]

    async def conversation(self, conversation_id: str, owner: str) -> dict[str, Any] | None:
        rows = await self._run(self._read, "SELECT * FROM conversations WHERE id=? AND owner=?",
                               (conversation_id, owner))
        return await self._with_turns(rows[0]) if rows else None

    async def owner_of(self, conversation_id: str) -> str | None:
        rows = await self._run(self._read, "SELECT owner FROM conversations WHERE id=?", (conversation_id,))
        return rows[0]["owner"] if rows else None

    async def open(self) -> None:
        """Nothing to connect (the PostgreSQL store connects here)."""

    async def _with_turns(self, row: dict[str, Any]) -> dict[str, Any]:
        turns = await self._run(self._read,
                                "SELECT * FROM turns WHERE conversation_id=? ORDER BY created_at, rowid",
                                (row["id"],))  # fmt: skip
        for turn in turns:
            turn["timings"] = json.loads(turn["timings"])
            del turn["conversation_id"]
        return {**row, "turns": turns}
