"""What the running server holds, typed: `app.state` is one `ServerState` (set in `create_app`).

Routes and doors read `request.app.state.engines` and friends as before; the fields that exist only once the
lifespan has run (engines, store) are None until then, so a route asks `loaded_engines()` instead of
probing with `getattr(..., None)`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .backends import Backends
from .engines import Engines
from .media.service import MediaService
from .metrics import ServerMetrics
from .pg_store import PgConversationStore
from .settings import Settings
from .store import ConversationStore


class Served(Protocol):
    """What the connection loop keeps alive for a connection and shutdown drains: a Session, or a door's
    own request tracker (Wyoming's)."""

    id: str
    stop_requested: asyncio.Event  # drained: the door should close now
    closed: asyncio.Event  # set once the connection is closed

    async def start(self) -> None: ...

    async def drain(self, timeout: float) -> bool: ...

    async def close(self) -> None: ...


class Listener(Protocol):
    """A door with a listening socket of its own (Wyoming): stopped first on shutdown."""

    port: int | None

    def stop_listening(self) -> None: ...

    async def stop(self) -> None: ...


class NotLoaded(RuntimeError):
    """The models are still loading (the lifespan has not finished starting)."""


@dataclass(eq=False)
class ServerState:
    settings: Settings
    media: MediaService
    uploads_dir: Path
    server_metrics: ServerMetrics
    backends: Backends
    sessions: set[Served] = field(default_factory=set)  # every open connection, every door
    engines: Engines | None = None  # loaded in the lifespan
    store: ConversationStore | PgConversationStore | None = None  # opened in the lifespan (backends.py)
    wyoming: Listener | None = None
    wyoming_port: int | None = None

    def loaded_engines(self) -> Engines:
        """The engines, or `NotLoaded` while the server is still starting."""
        if self.engines is None:
            raise NotLoaded("the server is still loading its models")
        return self.engines


def server_state(app: Any) -> ServerState:
    """`app.state`, typed (Starlette declares its own `State` there)."""
    state = app.state
    assert isinstance(state, ServerState), "create_app() sets app.state to a ServerState"
    return state
