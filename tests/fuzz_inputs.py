"""Hostile and random messages for tests/test_fuzz.py, drawn from a seeded `random.Random`.

These were hypothesis strategies; drawing them took about 70 s of the suite (hypothesis spends ~4 ms a
message on its own bookkeeping and mutations), against well under a second here. The grammar is the same
(the same event types, fields, value kinds and size limits), and the values hypothesis leans on are drawn
on purpose: empty and longest sizes, boundary integers, extreme and negative-zero floats, control
characters, NUL, astral and formatting characters, JSON punctuation. What is lost is shrinking: a failure
names the seed and the message instead (`VOICECHAT_FUZZ_SEED=N` replays a run exactly).
"""

from __future__ import annotations

import base64
import json
import os
import random
import struct
from collections.abc import Callable
from typing import Any

Message = str | bytes

KNOWN_TYPES = ["session.update", "input.commit", "input.clear", "reply.cancel", "text", "playback",
               "conversation.get", "ping", "media.action", "media.attach"]
REALTIME_TYPES = ["session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
                  "input_audio_buffer.clear", "conversation.item.create", "conversation.item.retrieve",
                  "conversation.item.truncate", "conversation.item.delete", "response.create",
                  "response.cancel"]
WYOMING_TYPES = ["describe", "transcribe", "audio-start", "audio-chunk", "audio-stop", "synthesize",
                 "synthesize-start", "synthesize-chunk", "synthesize-stop", "transcript", "ping", "bogus"]
WYOMING_KEYS = ["text", "rate", "width", "channels", "name", "language", "voice"]

BOUNDARY_INTS = [0, 1, -1, 2**7 - 1, 2**8, 2**15, -(2**15), 2**16, 2**31 - 1, -(2**31), 2**32, 2**53,
                 2**53 + 1, -(2**53), 2**63 - 1, -(2**63), 2**64, 10**9, 10**18, 2**100]
SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-7, 1e16, 1e308, -1e308, 5e-324, -5e-324,
                  2.2250738585072014e-308, 1.7976931348623157e308, 9007199254740993.0]
SPECIAL_CHARS = ["\x00", "\x07", "\x1b", "\x7f", "\u0085", "\u00a0", "\u0301", "\u200b", "\u200d", "\u2028",
                 "\u2029", "\u202e", "\ufeff", "\ufffd", "\uffff", "\U0001f600", "\U0010ffff", '"', "\\"]
JSON_PUNCTUATION = '{}[]":,.-+eE0123456789 \t\n'


def seed() -> int:
    """This run's seed: `VOICECHAT_FUZZ_SEED` when set (to replay a failure), else a fresh one."""
    return int(os.environ.get("VOICECHAT_FUZZ_SEED") or random.SystemRandom().randrange(2**32))


class Draw:
    """Random values of the kinds a JSON message can carry, extremes included."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def chance(self, p: float = 0.5) -> bool:
        return self.random.random() < p

    def pick(self, options: list[Any]) -> Any:
        return self.random.choice(options)

    def size(self, max_size: int) -> int:
        """Empty and full sizes often (where bugs live), anything between otherwise."""
        roll = self.random.random()
        if roll < 0.1:
            return 0
        if roll < 0.2:
            return max_size
        return self.random.randint(0, max_size)

    def integer(self, low: int | None = None, high: int | None = None) -> int:
        if low is not None and high is not None:
            roll = self.random.random()
            return low if roll < 0.1 else high if roll < 0.2 else self.random.randint(low, high)
        roll = self.random.random()
        if roll < 0.4:
            return self.random.randint(-10, 10)
        if roll < 0.6:
            return self.pick(BOUNDARY_INTS) * self.pick([1, -1])
        if roll < 0.8:
            return self.random.randint(-(2**16), 2**16)
        return self.random.choice([1, -1]) * (self.random.getrandbits(self.random.randint(17, 128)))

    def floating(self) -> float:
        """Finite floats only (what JSON can carry)."""
        roll = self.random.random()
        if roll < 0.25:
            return self.pick(SPECIAL_FLOATS)
        if roll < 0.6:
            return self.random.uniform(-1000, 1000)
        while True:  # any bit pattern that is a finite double: subnormals, huge and tiny exponents
            value = struct.unpack("<d", self.random.getrandbits(64).to_bytes(8, "little"))[0]
            if value == value and abs(value) != float("inf"):
                return value

    def char(self) -> str:
        roll = self.random.random()
        if roll < 0.4:
            return chr(self.random.randint(0x20, 0x7E))
        if roll < 0.5:
            return chr(self.random.choice([*range(0x00, 0x20), 0x7F]))
        if roll < 0.6:
            return self.pick(list(JSON_PUNCTUATION))
        if roll < 0.75:
            code = self.random.randint(0x80, 0xFFFD)
            return chr(code) if not 0xD800 <= code <= 0xDFFF else "\u00e9"  # no lone surrogates (as st.text)
        if roll < 0.85:
            return chr(self.random.randint(0x10000, 0x10FFFF))
        return self.pick(SPECIAL_CHARS)

    def text(self, max_size: int) -> str:
        return "".join(self.char() for _ in range(self.size(max_size)))

    def binary(self, max_size: int) -> bytes:
        return self.random.randbytes(self.size(max_size))

    def json_value(self, max_leaves: int = 8) -> Any:
        """None, booleans, integers, floats, short text, and lists/objects of them, at most 8 leaves."""
        budget = [max_leaves]

        def value(depth: int) -> Any:
            if budget[0] <= 1 or self.chance(0.5 + 0.15 * depth):
                budget[0] -= 1
                return self.leaf()
            if self.chance():
                return [value(depth + 1) for _ in range(min(self.size(4), budget[0]))]
            return {self.text(8): value(depth + 1) for _ in range(min(self.size(4), budget[0]))}

        return value(0)

    def leaf(self) -> Any:
        makers: list[Callable[[], Any]] = [lambda: None, self.chance, self.integer, self.floating,
                                           lambda: self.text(20)]
        return self.pick(makers)()

    def fields(self, required: dict[str, Callable[[], Any]], optional: dict[str, Callable[[], Any]]) -> dict:
        """An object with every required key, about half of the optional ones, in a random key order."""
        chosen = [key for key in optional if self.chance()]
        pairs = [(key, make()) for key, make in required.items()] + [(key, optional[key]()) for key in chosen]
        self.random.shuffle(pairs)
        return dict(pairs)

    def one_of(self, *makers: Callable[[], Any], weights: list[float] | None = None) -> Any:
        return self.random.choices(makers, weights)[0]()


def native_message(draw: Draw) -> Message:
    """A message for the native door: an event-shaped object, text, any JSON, or an audio frame."""
    d = draw
    session = lambda: d.fields({}, {  # noqa: E731
        "language": lambda: d.pick(["en", "de", "auto", "xx-YY", "", "english", 5]),
        "voice": lambda: d.one_of(lambda: d.text(120), lambda: None),
        "turn_mode": lambda: d.pick(["vad", "push_to_talk", "telepathy", None]),
        "system_prompt": lambda: d.text(50),
        "input_audio": lambda: {"rate": d.pick([8000, 16000, 44100, 48000, 1, -5])},
        "output_audio": lambda: {"rate": d.pick([16000, 24000, 0]), "format": d.pick(["pcm16", "mp3"])},
        "barge_in": lambda: d.one_of(d.chance, d.integer),
        "unknown": d.json_value,
    })
    # Proportions as hypothesis drew them: 40 % events, three in four of a known type, half of those
    # session.update (the richest to validate).
    known_type = lambda: d.one_of(lambda: "session.update", lambda: d.pick(KNOWN_TYPES))  # noqa: E731
    event = lambda: d.fields({"type": lambda: d.one_of(known_type, lambda: d.text(12), weights=[3, 1])}, {  # noqa: E731
        "session": lambda: d.one_of(session, d.json_value),
        "text": lambda: d.one_of(lambda: d.text(40), d.json_value),
        "turn_id": lambda: d.one_of(lambda: d.pick(["turn_1", "turn_2", "nope"]), d.json_value),
        "played_ms": lambda: d.one_of(lambda: d.integer(-10, 10**9), d.floating, lambda: d.text(5)),
        "job_id": lambda: d.text(10),
        "action": lambda: d.pick(["upscale", "variation", "reroll", "explode"]),
        "index": lambda: d.integer(-3, 9),
        "upload_ids": d.json_value,
        "id": d.json_value,
    })
    return d.one_of(lambda: json.dumps(event()), lambda: d.text(60), lambda: json.dumps(d.json_value()),
                    lambda: d.binary(1500), weights=[2, 1, 1, 1])


def realtime_message(draw: Draw) -> Message:
    """A message for the OpenAI Realtime door: an event-shaped object, text, any JSON, or binary."""
    d = draw
    session = lambda: d.fields({}, {  # noqa: E731
        "instructions": lambda: d.one_of(lambda: d.text(30), d.json_value),
        "input_audio_format": lambda: d.pick(["pcm16", "g711_ulaw", "g711_alaw", "mp3", 7]),
        "output_audio_format": lambda: d.pick(["pcm16", "g711_alaw", "opus"]),
        "turn_detection": lambda: d.one_of(lambda: None, lambda: d.fields({}, {
            "type": lambda: d.pick(["server_vad", "semantic_vad", "x"]),
            "create_response": d.chance, "interrupt_response": d.chance})),
        "audio": d.json_value,
        "output_modalities": lambda: [d.pick(["audio", "text", "video"]) for _ in range(d.size(2))],
    })
    event = lambda: d.fields({"type": lambda: d.one_of(lambda: d.pick(REALTIME_TYPES), lambda: d.text(12))}, {  # noqa: E731
        "event_id": lambda: d.text(8),
        "session": lambda: d.one_of(session, d.json_value),
        "audio": lambda: d.one_of(lambda: base64.b64encode(d.binary(600)).decode(), lambda: d.text(20),
                                  d.json_value),
        "item": lambda: d.one_of(d.json_value, lambda: {"type": "message",
                                                        "role": d.pick(["user", "assistant", "x"]),
                                                        "content": d.json_value()}),
        "item_id": lambda: d.one_of(lambda: d.text(10), d.json_value),
        "audio_end_ms": lambda: d.one_of(lambda: d.integer(-5, 10**6), d.json_value),
        "response": d.json_value,
        "response_id": lambda: d.text(10),
    })
    return d.one_of(lambda: json.dumps(event()), lambda: d.text(40), lambda: json.dumps(d.json_value()),
                    lambda: d.binary(200))


def wyoming_event(draw: Draw) -> tuple[str, dict[str, Any], bytes]:
    """A Wyoming event: a known or random type, up to 4 data keys of any JSON value, a payload."""
    d = draw
    kind = d.one_of(lambda: d.pick(WYOMING_TYPES), lambda: d.text(8))
    data = {d.pick(WYOMING_KEYS): d.json_value() for _ in range(d.size(4))}
    return kind, data, d.binary(64)


def batches(seed: int, count: int, size: int, make: Callable[[Draw], Any]) -> list[list[Any]]:
    """`count` batches of `size` messages, the same ones for the same seed."""
    draw = Draw(seed)
    return [[make(draw) for _ in range(size)] for _ in range(count)]
