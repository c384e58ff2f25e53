"""Fuzzing of the native door and the session: 10,000+ hostile or random messages in random orders. No crash,
no internal error, every malformed input answered with a typed error, and a healthy session beside it
completes its spoken turn. The Realtime and Wyoming doors get thousands more.

The messages come from tests/fuzz_inputs.py (a seeded generator: a failure names the seed that replays it);
the REST door's requests come from hypothesis strategies."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_inputs import KNOWN_TYPES, batches, native_message, realtime_message, seed, wyoming_event
from tests.speech import piper_speech, silence
from tests.wsclient import NativeClient

TYPED_ERRORS = {"invalid_json", "invalid_event", "unknown_event", "invalid_session", "bad_audio",
                "message_too_large", "text_too_long", "media_unavailable", "chat_auth", "chat_failed",
                "chat_timeout", "chat_interrupted", "tts_failed", "stt_failed"}
EXAMPLES, PER_EXAMPLE = 200, 55  # 11,000 messages in 200 connections

finite = st.floats(allow_nan=False, allow_infinity=False)  # what JSON can carry (the REST door's fuzz)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=8,
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


def for_each_batch(run_seed: int, generated: list[list[Any]], send: Callable[[list[Any]], None]) -> None:
    """Send each batch on a connection of its own; a failure names the seed that replays it."""
    for number, batch in enumerate(generated):
        try:
            send(batch)
        except AssertionError as error:
            raise AssertionError(f"connection {number} of fuzz seed {run_seed} "
                                 f"(VOICECHAT_FUZZ_SEED={run_seed} replays it): {error}") from error


class ErrorLog(logging.Handler):
    """Collects ERROR records from any thread (the server runs in its own)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.records_lock = threading.Lock()  # not `lock`: Handler.handle holds that one around emit()

    def emit(self, record: logging.LogRecord) -> None:
        with self.records_lock:
            self.records.append(record)


@pytest.fixture
def fuzz_server(start_server, fake_chat):
    return start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                        max_connections_per_minute=0, max_requests_per_minute=0, max_sessions=1000,
                        barge_in=True)


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

    run_seed = seed()
    generated = batches(run_seed, EXAMPLES, PER_EXAMPLE, native_message)
    try:
        healthy_task = loop.create_task(healthy())
        for_each_batch(run_seed, generated, lambda batch: loop.run_until_complete(fuzz(batch)))
        loop.run_until_complete(asyncio.wait_for(healthy_task, 180))
    finally:
        loop.close()
        logging.getLogger().removeHandler(errors)
    # What was sent, by the answer each message must get: every kind of malformed input, in bulk.
    kinds = Counter(expected_error(m) or type(m).__name__ for batch in generated for m in batch)
    assert all(kinds[kind] >= 500 for kind in ("invalid_json", "invalid_event", "unknown_event",
                                               "bad_audio", "str", "bytes")), kinds
    assert counted["messages"] >= 10_000
    assert counted["errors"] > 1000
    assert healthy_result["status"] == "completed" and "bedroom" in healthy_result["user_text"].lower()
    crashes = [r for r in errors.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not crashes, [r.getMessage() for r in crashes[:5]]


# --- the other doors -----------------------------------------------------------------------------------

def test_realtime_door_survives_random_events(fuzz_server):
    import websockets

    url = f"ws://127.0.0.1:{fuzz_server.thread.port}/v1/realtime?model=fuzz"
    loop = asyncio.new_event_loop()
    counted = {"messages": 0, "errors": 0}

    async def fuzz(batch: list[str | bytes]) -> None:
        async with websockets.connect(url, max_size=None, max_queue=None) as ws:
            for message in batch:
                await ws.send(message)
            await ws.send(json.dumps({"type": "input_audio_buffer.clear", "event_id": "end"}))
            while True:  # the door still answers, in order, after everything above
                event = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if event["type"] == "error":
                    counted["errors"] += 1
                    assert isinstance(event["error"]["code"], str) and event["error"]["message"] is not None
                    assert event["error"]["code"] != "internal", event
                if event["type"] == "input_audio_buffer.cleared":
                    break
            # Drop the TCP connection: a polite close can sit out websockets' 10 s close timeout while
            # replies to the batch are still streaming, and that would measure the client, not the door.
            ws.transport.abort()
        counted["messages"] += len(batch)

    run_seed = seed()
    try:  # 4,000 events in 80 connections
        for_each_batch(run_seed, batches(run_seed, 80, 50, realtime_message),
                       lambda batch: loop.run_until_complete(fuzz(batch)))
    finally:
        loop.close()
    assert counted["messages"] >= 4000 and counted["errors"] > 500


def test_rest_door_survives_random_requests(fuzz_server):
    import httpx

    base = fuzz_server.http
    statuses: list[int] = []

    @settings(max_examples=300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(
        st.sampled_from(["/v1/audio/transcriptions", "/v1/audio/speech", "/v1/models", "/api/jobs",
                         "/api/uploads", "/api/conversations"]),
        st.one_of(
            st.binary(max_size=300).map(lambda b: {"files": {"file": ("a.wav", b, "audio/wav")}}),
            st.fixed_dictionaries({"input": st.text(max_size=8) | json_values,
                                   "voice": st.text(max_size=5) | json_values,
                                   "response_format": st.sampled_from(["mp3", "wav", "pcm", "flac", 3]),
                                   "speed": finite | st.text(max_size=3)},
                                  ).map(lambda j: {"json": j}),
            st.binary(max_size=200).map(lambda b: {"content": b}),
            json_values.map(lambda j: {"json": j}),
        ),
    )
    def one_request(path: str, body: dict) -> None:
        method = "GET" if path in ("/v1/models", "/api/jobs", "/api/conversations") and "files" not in body \
            else "POST"
        response = httpx.request(method, base + path, timeout=60, **body)
        statuses.append(response.status_code)
        assert response.status_code < 500 or response.status_code == 503, (path, response.text[:200])
        if response.status_code >= 400:
            assert response.json()["error"]["message"]

    one_request()
    assert len(statuses) >= 300 and any(code >= 400 for code in statuses)


def test_wyoming_door_survives_random_events(start_server, fake_chat):
    from wyoming.client import AsyncTcpClient
    from wyoming.event import Event

    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          wyoming_uri="tcp://127.0.0.1:0", max_connections_per_minute=0)
    port = server.thread.server.config.app.state.wyoming_port
    loop = asyncio.new_event_loop()
    counted = {"events": 0, "bad_event": 0}
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    async def fuzz(batch: list[tuple[str, dict, bytes]]) -> None:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            for kind, data, payload in batch:
                await client.write_event(Event(type=kind, data=data, payload=payload or None))
            await client.write_event(Event(type="ping", data={"text": "end"}))
            client.read_timeout = 60
            while True:  # still serving, in order
                event = await client.read_event()
                assert event is not None, "the door closed the connection"
                if event.type == "pong" and (event.data or {}).get("text") == "end":
                    break
                if event.type == "error":
                    counted["bad_event"] += (event.data or {}).get("code") == "bad_event"
        counted["events"] += len(batch)

    run_seed = seed()
    try:  # 2,000 events in 80 connections
        for_each_batch(run_seed, batches(run_seed, 80, 25, wyoming_event),
                       lambda batch: loop.run_until_complete(fuzz(batch)))
    finally:
        loop.close()
        logging.getLogger().removeHandler(errors)
    assert counted["events"] >= 2000 and counted["bad_event"] > 100
    # Malformed events are the client's mistake: each got a `bad_event` error, and the server logged
    # no error of its own.
    assert not errors.records, [r.getMessage() for r in errors.records[:5]]


async def test_control_characters_in_typed_text_are_spoken_not_a_crash(start_server, fake_chat):
    # Found by the fuzzer: a NUL in a `text` event reached espeak-ng's argv and failed the turn.
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          tts_engine="espeak")
    client = await NativeClient.connect(server.ws)
    await client.send({"type": "text", "text": "Hello\x00 there\x07, friend."})
    done = await client.expect("turn.done")
    await client.close()
    assert done["status"] == "completed" and done["audio_ms"] > 500, done
    assert not [e for e in client.events if e["type"] == "error"]
