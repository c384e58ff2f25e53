"""Continuing a stored conversation on a new connection (`/ws?conversation_id=…`), on any node.

The conversation's turns are read from the store, its owner is checked (another user is refused with
close code 4403, an unknown id with 4404), the model's history is rebuilt from what the user heard, turn
numbers continue after the stored ones, and media jobs the conversation started are followed, so the
completion line of one still running is spoken on this connection when it ends, and that of one which
ended with nobody saying it is spoken at once (voicechat/media/bridge.py: once per job, on any node).
"""

from __future__ import annotations

import re
from typing import Any

from .store import StoreError

_TURN_NUMBER = re.compile(r"turn_(\d+)$")


class ResumeRefused(Exception):
    """The conversation cannot be continued by this client; `code` is the WebSocket close code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def load(store: Any, conversation_id: str, owner: str) -> dict[str, Any]:
    """The stored conversation, if `owner` may continue it; else ResumeRefused."""
    if store is None:
        raise ResumeRefused(4404, "conversations are not stored on this server")
    if not conversation_id or len(conversation_id) > 64 or not conversation_id.replace("_", "").isalnum():
        raise ResumeRefused(4404, "no such conversation")
    try:
        found = await store.conversation(conversation_id, owner)
        if found is None:
            other = await store.owner_of(conversation_id)
    except StoreError as exc:
        raise ResumeRefused(1011, f"cannot resume now: {exc}"[:120]) from exc
    if found is not None:
        return found
    if other is not None:
        raise ResumeRefused(4403, "this conversation belongs to another user")
    raise ResumeRefused(4404, "no such conversation")


def restore(session: Any, conversation: dict[str, Any]) -> None:
    """Give a fresh session the stored conversation: history for the model, turn numbers, running jobs."""
    last = 0
    for turn in conversation["turns"]:
        if turn["user_text"]:
            session.history.add_user(turn["user_text"])
        if turn["assistant_text"]:
            session.history.add_said(turn["assistant_text"])
        if match := _TURN_NUMBER.match(turn["turn_id"]):
            last = max(last, int(match.group(1)))
        if turn.get("media_job_id"):
            session.jobs_to_follow.append(turn["media_job_id"])
    session.continue_turn_numbers(last)
