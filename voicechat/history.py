"""Per-session conversation history with a size budget.

An assistant entry points at its turn (anything `Heard`), so when the client later reports how much of the
reply it really played, the history entry shrinks to what the user heard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar


class Heard(Protocol):
    """A reply whose text is what the user heard of it (all of it, or what was played before a cut)."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...

    def heard_text(self) -> str: ...


H = TypeVar("H", bound=Heard)


@dataclass
class Entry(Generic[H]):
    role: str
    text: str = ""
    turn: H | None = None

    @property
    def content(self) -> str:
        return self.turn.heard_text() if self.turn is not None and self.role == "assistant" else self.text


class History(Generic[H]):
    """User and assistant messages, oldest dropped first once over `max_chars`."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self._entries: list[Entry[H]] = []

    # Entries kept for clients reading the conversation back; the model sees only what fits max_chars.
    max_entries = 200

    def add_user(self, text: str, turn: H | None = None) -> None:
        self._append(Entry("user", text, turn))

    def add_assistant(self, turn: H) -> None:
        self._append(Entry("assistant", turn=turn))

    def add_said(self, text: str) -> None:
        """An assistant message read back from the store (a resumed conversation): text, no live turn."""
        self._append(Entry("assistant", text))

    def _append(self, entry: Entry[H]) -> None:
        self._entries.append(entry)
        del self._entries[: -self.max_entries]

    def unanswered(self) -> str | None:
        """The user's newest message, if nothing has answered it yet (a Realtime `response.create`)."""
        last = self._entries[-1] if self._entries else None
        return last.text if last is not None and last.role == "user" else None

    def remove(self, turn_id: str, role: str) -> bool:
        """Forget one message (a Realtime `conversation.item.delete`)."""
        for index, entry in enumerate(self._entries):
            if entry.role == role and entry.turn is not None and entry.turn.id == turn_id:
                del self._entries[index]
                return True
        return False

    def forget_turn(self, turn_id: str) -> None:
        """Take back everything a turn added (a speculative turn that turned out wrong)."""
        self._entries = [e for e in self._entries if e.turn is None or e.turn.id != turn_id]

    def entry(self, turn_id: str, role: str) -> Entry[H] | None:
        for entry in self._entries:
            if entry.role == role and entry.turn is not None and entry.turn.id == turn_id:
                return entry
        return None

    def turn(self, turn_id: str) -> H | None:
        for entry in reversed(self._entries):
            if entry.turn is not None and entry.turn.id == turn_id:
                return entry.turn
        return None

    def for_model(self, system_prompt: str) -> list[dict[str, Any]]:
        """System prompt plus the newest messages that fit the budget, never starting mid-exchange."""
        messages = [{"role": e.role, "content": e.content} for e in self._entries if e.content]
        total = 0
        start = len(messages)
        for index in range(len(messages) - 1, -1, -1):
            total += len(messages[index]["content"])
            if total > self.max_chars and start < len(messages):
                break
            start = index
        while start < len(messages) - 1 and messages[start]["role"] != "user":
            start += 1
        return [{"role": "system", "content": system_prompt}, *messages[start:]]

    def messages(self) -> list[dict[str, Any]]:
        """What a client sees: every kept message, with the turn it belongs to."""
        out = []
        for entry in self._entries:
            item: dict[str, Any] = {"role": entry.role, "content": entry.content}
            if entry.turn is not None:
                item["turn_id"] = entry.turn.id
                if entry.role == "assistant" and entry.turn.status != "completed":
                    item["status"] = entry.turn.status
            out.append(item)
        return out
