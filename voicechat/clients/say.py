"""Headless client for the native door: stream a WAV file, collect the turns and the reply audio.

This is also the contract other tools use: `voicechat say FILE.wav --json` prints one JSON object per
server event (audio frames summarized, never dumped) and exits non-zero when anything went wrong.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets

from ..audio import Pacer, read_wav, wav_bytes

CHUNK_MS = 20


@dataclass
class SayResult:
    """Everything a `say` run saw."""

    events: list[dict[str, Any]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    audio_rate: int = 0
    audio_by_turn: dict[str, int] = field(default_factory=dict)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    @property
    def turns(self) -> list[dict[str, Any]]:
        return [e for e in self.of_type("turn.done") if e.get("status") != "ignored"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.of_type("error")


async def say(
    pcm: bytes,
    rate: int,
    url: str,
    *,
    fast: bool = False,
    barge_in: bool = False,
    session: dict[str, Any] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    timeout: float = 120.0,
) -> SayResult:
    """Stream `pcm` (mono PCM16 at `rate`) to `url`, wait until every utterance's turn is done."""
    result = SayResult()
    update = {"input_audio": {"format": "pcm16", "rate": rate}, "barge_in": barge_in, **(session or {})}
    async with websockets.connect(url, max_size=None) as ws:
        utterances = 0
        done = 0
        committed = asyncio.Event()
        finished = asyncio.Event()
        updated = asyncio.Event()
        current_turn = ""

        def note(event: dict[str, Any]) -> None:
            result.events.append(event)
            if on_event:
                on_event(event)

        async def receive() -> None:
            nonlocal utterances, done, current_turn
            async for message in ws:
                if isinstance(message, bytes):
                    result.audio += message
                    by_turn = result.audio_by_turn
                    by_turn[current_turn] = by_turn.get(current_turn, 0) + len(message)
                    note({"type": "audio", "turn_id": current_turn, "bytes": len(message)})
                    continue
                event = json.loads(message)
                note(event)
                kind = event.get("type")
                if kind == "session.updated":
                    updated.set()
                elif kind == "speech.stopped" and not event.get("ignored"):
                    utterances += 1
                elif kind == "reply.audio.start":
                    current_turn = event["turn_id"]
                    result.audio_rate = event["rate"]
                elif kind == "turn.done":
                    done += 1
                elif kind == "input.committed":
                    committed.set()
                if committed.is_set() and done >= utterances:
                    finished.set()

        receiver = asyncio.create_task(receive())
        try:
            await ws.send(json.dumps({"type": "session.update", "session": update}))
            await asyncio.wait_for(updated.wait(), timeout=10)
            step = rate * 2 * CHUNK_MS // 1000
            pacer = Pacer(rate)
            for offset in range(0, len(pcm), step):
                await ws.send(pcm[offset : offset + step])
                if not fast:
                    await pacer.wait(step)
            await ws.send(json.dumps({"type": "input.commit"}))
            await asyncio.wait_for(finished.wait(), timeout=timeout)
        finally:
            receiver.cancel()
    return result


def run_say(args: Any) -> int:
    """`voicechat say` entry point."""
    try:
        pcm, rate = read_wav(args.file)
    except (OSError, ValueError, EOFError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2

    def show(event: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps(event, ensure_ascii=False), flush=True)
        elif event.get("type") == "transcript":
            print(f"you: {event['text']}", flush=True)
        elif event.get("type") == "turn.done" and event.get("status") != "ignored":
            print(f"assistant: {event['text']}  {json.dumps(event['timings'])}", flush=True)
        elif event.get("type") == "error":
            print(f"error [{event.get('code')}]: {event.get('message')}", file=sys.stderr, flush=True)

    session: dict[str, Any] = {}
    if args.language:
        session["language"] = args.language
    if args.voice:
        session["voice"] = args.voice
    try:
        result = asyncio.run(say(pcm, rate, args.url, fast=args.fast, barge_in=args.barge_in,
                                 session=session, on_event=show, timeout=args.timeout))
    except (OSError, websockets.WebSocketException) as exc:
        print(f"error: cannot talk to {args.url}: {exc}", file=sys.stderr)
        return 3
    except TimeoutError:
        print("error: the server did not finish the turns in time", file=sys.stderr)
        return 4
    if args.out:
        with open(args.out, "wb") as handle:
            handle.write(wav_bytes(bytes(result.audio), result.audio_rate or 24000))
    failed = [t for t in result.of_type("turn.done") if t.get("status") == "failed"]
    return 1 if result.errors or failed else 0
