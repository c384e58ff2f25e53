"""The typed event vocabulary (voicechat/events.py) and docs/protocol.md name the same events."""

from __future__ import annotations

import re
from pathlib import Path

from voicechat import events
from voicechat.session import _HANDLERS

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def documented(section: str) -> set[str]:
    """Event types in the first column of the table under `## <section>`."""
    text = PROTOCOL.read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n#", 1)[0]  # up to the next heading
    names: set[str] = set()
    for line in body.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_.]+)`", line.split("|")[1]))
    return names


def test_server_events_in_the_code_are_the_documented_ones() -> None:
    assert set(events.SERVER_EVENTS) == documented("Server → client events")


def test_client_events_in_the_code_are_the_documented_ones() -> None:
    assert set(events.CLIENT_EVENTS) == documented("Client → server events")
    assert set(_HANDLERS) == set(events.CLIENT_EVENTS)  # the session dispatches every one, nothing else


def test_an_event_serializes_with_its_type_and_leaves_out_unset_optional_fields() -> None:
    assert events.Error("stt_busy", "busy").to_dict() == {
        "type": "error", "code": "stt_busy", "message": "busy", "recoverable": True}
    assert events.Error("internal", "bug", turn_id="turn_1").to_dict()["turn_id"] == "turn_1"
    assert events.SpeechStopped(10, "silence", 0, None).to_dict()["ignored"] is None  # not optional
    done = events.TurnDone("turn_1", "completed", "hi", "hello", 100, "piper", {}, speculative=True)
    assert "reason" not in done.to_dict() and done.to_dict()["speculative"] is True
