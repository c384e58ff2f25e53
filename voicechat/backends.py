"""Which stores a node uses: the SQLite files (the default, one node) or PostgreSQL (`VOICECHAT_DATABASE_URL`,
any number of nodes). Everything above sees the same two interfaces, ConversationStore and JobStore."""

from __future__ import annotations

from typing import Any

from .database import Database
from .media.config import MediaSettings
from .media.service import MediaService
from .pg_store import PgConversationStore, PgJobStore
from .settings import Settings
from .store import ConversationStore


class Backends:
    """Built with the app, started and closed by its lifespan (the PostgreSQL pool lives in that loop)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = settings.database_url.get_secret_value()
        self.database = Database(url) if url else None
        self.conversations: ConversationStore | PgConversationStore | None = None

    def media_service(self, media: MediaSettings | None = None) -> MediaService:
        """The node's media service: its jobs in PostgreSQL when there is a database, else the SQLite file."""
        store = PgJobStore(self.database) if self.database is not None else None
        media = media or MediaSettings(voicechat_media_gateway=self.settings.media_gateway)
        return MediaService.from_settings(media, store=store, lease_s=self.settings.media_lease_s)

    async def start(self) -> ConversationStore | PgConversationStore:
        if self.database is None:
            self.conversations = ConversationStore(self.settings.db_path, self.settings.db_max_mb)
        else:
            self.conversations = PgConversationStore(self.database)
            await self.database.start()
        return self.conversations

    async def close(self) -> None:
        if self.conversations is not None:
            self.conversations.close()
        if self.database is not None:
            await self.database.close()

    def status(self) -> dict[str, Any]:
        """For /health: where state lives and whether it can be reached (never the URL)."""
        if self.database is None:
            return {"backend": "sqlite", "status": "ok"}
        status = self.database.status()
        if isinstance(self.conversations, PgConversationStore) and self.conversations.kept_writes:
            status["kept_writes"] = self.conversations.kept_writes
        return status
