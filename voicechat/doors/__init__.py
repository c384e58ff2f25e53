"""Doors translate a wire format into Session calls and back; they hold no conversation logic.

`new_session` is the one place a Session is built, for every door: the loop (doors/socket.py) builds one
per WebSocket connection, the Wyoming door one per Home Assistant conversation.
"""

from __future__ import annotations

from typing import Any

from ..engines import Engines
from ..server_state import ServerState
from ..session import Output, Session


def new_session(state: ServerState, *, door: str, output: Output, owner: str = "local",
                engines: Engines | None = None, **fields: Any) -> Session:
    """A Session on the server's shared engines, store and media (`engines` replaces them, e.g. a
    text-only set); `fields` are Session fields a door sets itself (a resumed conversation's `id`)."""
    return Session(engines=engines or state.loaded_engines(), settings=state.settings, output=output,
                   media=state.media, store=state.store, uploads_dir=state.uploads_dir, door=door,
                   owner=owner, **fields)
