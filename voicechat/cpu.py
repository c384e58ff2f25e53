"""Who gets the CPU first when the speech models and the local chat model share it.

On a small box every engine runs on the same few cores. What the user waits for is a transcript and the
first sentence of the reply; the rest of a reply is only needed once that sentence has played, seconds
later. So the work someone waits on ("foreground": a final transcription on the CPU, the first sentence of
a reply through Piper) marks itself here, and the local chat model, which writes token by token, pauses
between two tokens while any foreground work runs. A pause is bounded: after waiting `max_pause_s` the
model writes a few tokens regardless, so a steady stream of foreground work slows it but cannot stop it.

One gate per process: the CPU is shared by every app and session in it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class CpuGate:
    """A count of foreground jobs running, and a way for background work to wait until there are none."""

    def __init__(self, max_pause_s: float = 1.0, grace_tokens: int = 4) -> None:
        self.enabled = True
        self.max_pause_s = max_pause_s
        self.grace_tokens = grace_tokens
        self._running = 0
        self._idle = threading.Condition()
        self._grace = 0  # tokens background work may still take without waiting, after a timed-out pause
        self.waiting = 0  # background threads paused right now
        self.pauses = 0  # how many times background work waited (for `/health` and benchmarks)
        self.paused_s = 0.0
        self.runs: Counter[str] = Counter()  # foreground jobs run, by kind
        self._started = 0  # foreground jobs begun, ever (to see one begin)
        self.handoffs = 0  # times background work stopped to let the work it had just handed over begin

    @contextmanager
    def foreground(self, kind: str) -> Iterator[None]:
        """Mark work someone waits on (`kind`: "stt", "tts") as running, for as long as the block runs."""
        if not self.enabled:
            yield
            return
        with self._idle:
            self._running += 1
            self._started += 1
            self.runs[kind] += 1
            self._idle.notify_all()  # a background thread may be waiting to see it begin
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                if self._running == 0:
                    self._idle.notify_all()

    def yield_to_foreground(self) -> None:
        """Called by background work between two steps: wait while foreground work runs (bounded)."""
        if not self.enabled or self._running == 0:
            return
        with self._idle:
            if self._grace > 0:
                self._grace -= 1
                return
            began = time.monotonic()
            self.waiting += 1
            try:
                finished = self._idle.wait_for(lambda: self._running == 0, timeout=self.max_pause_s)
            finally:
                self.waiting -= 1
            self.pauses += 1
            self.paused_s += time.monotonic() - began
            if not finished:
                self._grace = self.grace_tokens

    def mark(self) -> int:
        """A token for `hand_over`: how many foreground jobs had begun up to now."""
        return self._started

    def hand_over(self, since: int, timeout_s: float = 0.05) -> None:
        """Background work has just produced what foreground work will take up next (the local model wrote
        a reply's first speakable piece, which goes to the voice): wait up to `timeout_s` for a foreground
        job to begin after `since` (a `mark()`), then yield to it as between two steps. Without this the
        model's next token, begun the moment it let go of the piece, runs against the voice's first
        ~50 ms. A foreground job that never comes (a remote voice) costs the wait, once."""
        if not self.enabled:
            return
        with self._idle:
            begun = self._idle.wait_for(lambda: self._started != since or self._running > 0, timeout_s)
        if begun:
            self.handoffs += 1
            self.yield_to_foreground()

    def snapshot(self) -> dict[str, Any]:
        """For `/health`: on or off, foreground jobs run, how often and how long background work waited."""
        return {"enabled": self.enabled, "foreground": dict(self.runs), "pauses": self.pauses,
                "paused_s": round(self.paused_s, 3), "handoffs": self.handoffs}


GATE = CpuGate()
