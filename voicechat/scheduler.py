"""One queue in front of the local speech model, shared by every session and door of a server.

- **Finals first.** A final (an utterance the user finished, or one a speculative turn is betting on)
  always goes before a partial (a look at speech still going on). Partials run only when no final waits,
  and a newer partial of the same session replaces its older one in the queue.
- **Batches.** When several finals with the same language and vocabulary wait, they go to the model in one
  call (`stt_batch_max`). On a GPU one call for eight is far cheaper than eight calls; on a CPU it gains
  little (measured in docs/benchmarks.md), so the default batches only on CUDA.
- **Bounded.** The queue holds at most `stt_queue_max` finals; beyond that a final is refused at once with
  `SttBusy` (the turn reports `stt_busy`) instead of waiting without bound. New connections are refused
  (close code 1013) while the estimated wait for a final is over `stt_admission_wait_ms`, so the sessions
  already admitted keep their latency.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .audio import pcm16_to_float
from .cpu import GATE
from .settings import Settings
from .stt import Abandoned, Transcript

if TYPE_CHECKING:
    from .stt import WhisperSTT

log = logging.getLogger(__name__)


class SttBusy(Exception):
    """The speech model's queue is full: the caller should say so rather than wait."""


@dataclass
class _Job:
    pcm: bytes
    language: str | None
    hotwords: str | None
    timestamps: bool = False
    owner: str | None = None  # partials: the session whose newest partial replaces older ones
    future: asyncio.Future[Transcript | None] = field(default_factory=lambda: asyncio.get_running_loop()
                                                      .create_future())
    queued_at: float = field(default_factory=time.monotonic)
    # Set (from the loop, by the future's callback) once the caller no longer waits: the model thread reads
    # it at its stop points (WhisperSTT.transcribe_batch_sync's `wanted`).
    given_up: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.future.add_done_callback(lambda _: self.given_up.set())

    @property
    def key(self) -> tuple[str | None, str | None]:
        return self.language, self.hotwords


@dataclass
class SchedulerStats:
    finals: int = 0
    partials: int = 0
    partials_skipped: int = 0
    refused: int = 0
    batches: int = 0
    batched_finals: int = 0  # finals that shared a model call with at least one other
    max_batch: int = 0
    abandoned: int = 0  # model calls stopped early because nobody waited for them any more


class SttScheduler:
    """The `SpeechToText` every session uses when whisper runs in this process."""

    def __init__(self, engine: WhisperSTT, settings: Settings) -> None:
        self.engine = engine
        self.description = engine.description
        self.multilingual = engine.multilingual
        self.workers = max(1, settings.stt_workers)
        batch = settings.stt_batch_max
        self.max_batch = max(1, batch if batch > 0 else (8 if engine.device == "cuda" else 1))
        self.queue_max = max(1, settings.stt_queue_max)
        self.admission_wait_ms = settings.stt_admission_wait_ms
        self.stats = SchedulerStats()
        self._finals: deque[_Job] = deque()
        self._partials: dict[str, _Job] = {}
        self._running_partials: dict[str, _Job] = {}  # by owner: a partial the model is working on
        self._running = 0
        self._running_finals = 0
        self._service_ms = 250.0  # moving average of one final's model time; refined as finals run
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- what callers use ---------------------------------------------------------------------

    async def transcribe(
        self, pcm16: bytes, language: str | None, hotwords: str | None = None, *, timestamps: bool = False
    ) -> Transcript:
        """A final transcript, after the finals queued before it (raises `SttBusy` when the queue is full)."""
        if len(self._finals) >= self.queue_max:
            self.stats.refused += 1
            raise SttBusy(f"{len(self._finals)} transcriptions are already waiting")
        job = _Job(pcm16, language, hotwords, timestamps)
        self._finals.append(job)
        self._kick()
        result = await job.future
        assert result is not None
        return result

    async def partial(self, pcm16: bytes, language: str | None, hotwords: str | None, owner: str
                      ) -> Transcript | None:
        """A look at speech in progress; None when it was skipped (finals waiting, or a newer partial)."""
        self.drop_partial(owner)
        job = _Job(pcm16, language, hotwords, owner=owner)
        self._partials[owner] = job
        self._kick()
        return await job.future

    @property
    def backlog(self) -> int:
        """Finals waiting for the model (not counting those it is working on)."""
        return len(self._finals)

    def estimated_wait_ms(self) -> float:
        """How long a final submitted now would wait before the model starts on it."""
        ahead = len(self._finals) + self._running_finals
        batches = -(-ahead // self.max_batch) if ahead else 0
        return batches * self._service_ms / self.workers

    def snapshot(self) -> dict[str, Any]:
        """The queue as it stands, and what it has done."""
        return {
            "waiting_finals": len(self._finals),
            "waiting_partials": len(self._partials),
            "running": self._running,
            "service_ms": round(self._service_ms),
            "estimated_wait_ms": round(self.estimated_wait_ms()),
            "max_batch": self.max_batch,
            "short_window_runs": self.engine.short_window_runs,
            "short_window_redone": self.engine.short_window_redone,
            **asdict(self.stats),
        }

    def overloaded(self) -> str | None:
        """Why a new session should be refused now, or None."""
        wait = self.estimated_wait_ms()
        if self.admission_wait_ms > 0 and wait > self.admission_wait_ms:
            return f"speech recognition is at capacity (about {wait / 1000:.1f} s queued)"
        return None

    def drop_partial(self, owner: str) -> None:
        """The session's speech ended (or paused for a guess, whose final needs the model): its waiting
        partial is no longer worth running, and one the model is on stops at its next stop point."""
        for job in (self._partials.pop(owner, None), self._running_partials.get(owner)):
            if job is not None and not job.future.done():
                job.future.set_result(None)
                self.stats.partials_skipped += 1

    async def close(self) -> None:
        """Stop the workers (the model itself is shared and stays loaded)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._wake = None

    # --- the workers --------------------------------------------------------------------------

    def _kick(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
            self._tasks = [asyncio.create_task(self._work(), name=f"stt-{n}") for n in range(self.workers)]
        self._wake.set()

    def _take(self) -> list[_Job]:
        """The next batch: finals of one kind, or else the oldest partial (only when no final waits)."""
        while self._finals and self._finals[0].future.done():
            self._finals.popleft()  # its caller gave up (a discarded speculative turn): no work for it
        if self._finals:
            head = self._finals.popleft()
            batch = [head]
            if not head.timestamps:
                for job in list(self._finals):
                    if len(batch) >= self.max_batch:
                        break
                    if not job.timestamps and job.key == head.key and not job.future.done():
                        self._finals.remove(job)
                        batch.append(job)
            return batch
        while self._partials:
            owner = next(iter(self._partials))
            job = self._partials.pop(owner)
            if not job.future.done():
                return [job]
        return []

    async def _work(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = self._take()
            if not batch:
                self._wake.clear()
                await self._wake.wait()
                continue
            final = batch[0].owner is None
            if not final:
                self._running_partials[batch[0].owner or ""] = batch[0]
            self._running += 1
            self._running_finals += len(batch) if final else 0
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self.engine._pool, self._run_batch, batch)
            except Abandoned:  # every caller gave up while it ran: their futures are already done
                self.stats.abandoned += 1
                continue
            except Exception as exc:  # the model failed: every caller in the batch hears about it
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            finally:
                if not final and self._running_partials.get(batch[0].owner or "") is batch[0]:
                    del self._running_partials[batch[0].owner or ""]
                self._running -= 1
                self._running_finals -= len(batch) if final else 0
            elapsed = (time.perf_counter() - started) * 1000
            if final:
                self._service_ms = 0.8 * self._service_ms + 0.2 * elapsed
                self.stats.finals += len(batch)
                self.stats.batches += 1
                self.stats.max_batch = max(self.stats.max_batch, len(batch))
                if len(batch) > 1:
                    self.stats.batched_finals += len(batch)
            else:
                self.stats.partials += 1
            for job, result in zip(batch, results, strict=True):
                if not job.future.done():
                    job.future.set_result(result)

    def _run_batch(self, batch: list[_Job]) -> list[Transcript]:
        head = batch[0]

        def wanted() -> bool:  # a wrong guess discarded, a partial dropped: stop before the next model call
            return not all(job.given_up.is_set() for job in batch)

        final_on_cpu = head.owner is None and self.engine.device == "cpu"  # someone waits on a final
        with GATE.foreground("stt") if final_on_cpu else nullcontext():
            if len(batch) > 1:
                audios = [pcm16_to_float(j.pcm) for j in batch]
                language = self.engine.resolve_language(head.language)
                done = self.engine.transcribe_batch_sync(audios, language, head.hotwords, wanted)
                if done is not None:
                    return done
            return [self.engine.transcribe_sync(j.pcm, j.language, j.hotwords, j.timestamps, wanted)
                    for j in batch]
