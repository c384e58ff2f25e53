"""Property-based fuzzing of the native door and the session: 10,000+ hostile or random messages in random
orders. No crash, no internal error, every malformed input answered with a typed error, and a healthy
session beside it completes its spoken turn."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.speech import piper_speech, silence
from tests.wsclient import NativeClient

KNOWN_TYPES = ["session.update", "input.commit", "input.clear", "reply.cancel", "text", "playback",
               "conversation.get", "ping", "media.action", "media.attach"]
TYPED_ERRORS = {"invalid_json", "invalid_event", "unknown_event", "invalid_session", "bad_audio",
                "message_too_large", "text_too_long", "media_unavailable", "chat_auth", "chat_failed",
                "chat_timeout", "chat_interrupted", "tts_failed", "stt_failed"}
EXAMPLES, PER_EXAMPLE = 100, 110  # 11,000 messages

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=8,
)
session_fields = st.fixed_dictionaries({}, optional={
    "language": st.sampled_from(["en", "de", "auto", "xx-YY", "", "english", 5]),
    "voice": st.text(max_size=120) | st.none(),
    "turn_mode": st.sampled_from(["vad", "push_to_talk", "telepathy", None]),
    "system_prompt": st.text(max_size=50),
    "input_audio": st.fixed_dictionaries({"rate": st.sampled_from([8000, 16000, 44100, 48000, 1, -5])}),
    "output_audio": st.fixed_dictionaries({"rate": st.sampled_from([16000, 24000, 0]),
                                           "format": st.sampled_from(["pcm16", "mp3"])}),
    "barge_in": st.booleans() | st.integers(),
    "unknown": json_values,
})
events = st.fixed_dictionaries(
    {"type": st.sampled_from(KNOWN_TYPES) | st.text(max_size=12)},
    optional={
        "session": session_fields | json_values,
        "text": st.text(max_size=40) | json_values,
        "turn_id": st.sampled_from(["turn_1", "turn_2", "nope"]) | json_values,
        "played_ms": st.integers(-10, 10**9) | st.floats(allow_nan=False) | st.text(max_size=5),
        "job_id": st.text(max_size=10),
        "action": st.sampled_from(["upscale", "variation", "reroll", "explode"]),
        "index": st.integers(-3, 9),
        "upload_ids": json_values,
        "id": json_values,
    },
)
messages = st.one_of(
    events.map(json.dumps),
    st.text(max_size=60),  # mostly not JSON
    json_values.map(json.dumps),  # JSON, but rarely an event
    st.binary(max_size=1500),  # audio frames of any length, odd ones included
)


def expected_error(message: str | bytes) -> str | None:
    """The error a message must get, when it can be told from the message alone."""
    if isinstance(message, bytes):
        return "bad_audio" if len(message) % 2 else None
    try:
        value = json.loads(message)
    except ValueError:
        return "invalid_json"
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return "invalid_event"
    if value["type"] not in KNOWN_TYPES:
        return "unknown_event"
    return None


class ErrorLog(logging.Handler):
    """Collects ERROR records from any thread (the server runs in its own)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock:
            self.records.append(record)


@pytest.fixture
def fuzz_server(start_server, fake_chat):
    return start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                        max_connections_per_minute=0, max_sessions=1000, barge_in=True)


def test_random_messages_never_break_the_server(fuzz_server):
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    counted = {"messages": 0, "errors": 0}
    loop = asyncio.new_event_loop()
    healthy_result: dict = {}

    async def healthy() -> None:
        client = await NativeClient.connect(fuzz_server.ws)
        await client.stream(silence(300) + piper_speech("Turn off the bedroom lights.") + silence(900))
        healthy_result.update(await client.expect("turn.done", timeout=120))
        await client.close()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(messages, min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
    def one_connection(batch: list[str | bytes]) -> None:
        loop.run_until_complete(fuzz(batch))

    async def fuzz(batch: list[str | bytes]) -> None:
        client = await NativeClient.connect(fuzz_server.ws)
        for message in batch:
            await client.send_raw(message)
        await client.send({"type": "ping", "id": "end"})
        await client.expect("pong", id="end", timeout=60)  # the session still answers, in order
        got = [e for e in client.events if e["type"] == "error"]
        await client.send({"type": "reply.cancel"})
        await client.close()
        for error in got:
            assert error["code"] in TYPED_ERRORS, error
            assert error["recoverable"] is True and isinstance(error["message"], str)
        wanted = [code for code in map(expected_error, batch) if code]
        # Every malformed message got its error, in order; others may add typed errors of their own.
        remaining = iter(e["code"] for e in got)
        assert all(code in remaining for code in wanted), (wanted, [e["code"] for e in got])
        counted["messages"] += len(batch)
        counted["errors"] += len(got)

    try:
        healthy_task = loop.create_task(healthy())
        one_connection()
        loop.run_until_complete(asyncio.wait_for(healthy_task, 180))
    finally:
        loop.close()
        logging.getLogger().removeHandler(errors)
    assert counted["messages"] >= 10_000
    assert counted["errors"] > 1000
    assert healthy_result["status"] == "completed" and "bedroom" in healthy_result["user_text"].lower()
    crashes = [r for r in errors.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not crashes, [r.getMessage() for r in crashes[:5]]
