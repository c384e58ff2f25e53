"""The typed event vocabulary (voicechat/events.py) and docs/protocol.md name the same events."""

from __future__ import annotations

import re
from pathlib import Path

from voicechat import client_events, events
from voicechat.doors.realtime_client import REALTIME
from voicechat.session import Session  # noqa: F401  (importing it registers the native handlers)

DOCS = Path(__file__).resolve().parent.parent / "docs"
PROTOCOL = DOCS / "protocol.md"


def documented(section: str, doc: Path = PROTOCOL) -> set[str]:
    """Event types in the first column of the table under `## <section>`."""
    text = doc.read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n#", 1)[0]  # up to the next heading
    names: set[str] = set()
    for line in body.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_.]+)`", line.split("|")[1]))
    return names


def test_server_events_in_the_code_are_the_documented_ones() -> None:
    assert set(events.SERVER_EVENTS) == documented("Server → client events")


def test_client_events_in_the_code_are_the_documented_ones() -> None:
    native = client_events.NATIVE
    assert set(native.events) == documented("Client → server events")
    assert set(native.handlers) == set(native.events.values())  # the session serves every one, nothing else


def test_realtime_client_events_in_the_code_are_the_documented_ones() -> None:
    from voicechat.doors.realtime import RealtimeTranslator  # noqa: F401  (registers its handlers)

    assert set(REALTIME.events) == documented("Client events", DOCS / "realtime.md")
    assert set(REALTIME.handlers) == set(REALTIME.events.values())


def test_a_client_event_is_parsed_into_its_class_with_every_field_checked() -> None:
    native = client_events.NATIVE
    assert native.parse({"type": "playback", "turn_id": "turn_1", "played_ms": 120}) == \
        client_events.Playback(played_ms=120, turn_id="turn_1")
    assert native.parse({"type": "ping"}) == client_events.Ping()
    for bad, code in [({"type": 5}, "invalid_event"), ({"type": "nope"}, "unknown_event"),
                      ({"type": "playback", "played_ms": "lots"}, "invalid_event"),
                      ({"type": "playback", "played_ms": True}, "invalid_event"),
                      ({"type": "playback", "played_ms": -1}, "invalid_event"),
                      ({"type": "text"}, "invalid_event"), ({"type": "text", "text": "  "}, "invalid_event"),
                      ({"type": "media.action", "job_id": "j", "action": "explode"}, "invalid_event"),
                      ({"type": "media.action", "job_id": "j", "action": "upscale", "index": 9},
                       "invalid_event")]:
        try:
            native.parse(bad)
        except client_events.EventError as exc:
            assert exc.code == code, (bad, exc.code)
        else:
            raise AssertionError(f"{bad} was taken")


def test_an_event_serializes_with_its_type_and_leaves_out_unset_optional_fields() -> None:
    assert events.Error("stt_busy", "busy").to_dict() == {
        "type": "error", "code": "stt_busy", "message": "busy", "recoverable": True}
    assert events.Error("internal", "bug", turn_id="turn_1").to_dict()["turn_id"] == "turn_1"
    assert events.SpeechStopped(10, "silence", 0, None).to_dict()["ignored"] is None  # not optional
    done = events.TurnDone("turn_1", "completed", "hi", "hello", 100, "piper", {}, speculative=True)
    assert "reason" not in done.to_dict() and done.to_dict()["speculative"] is True
