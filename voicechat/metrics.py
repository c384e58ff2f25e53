"""Prometheus metrics (`GET /metrics`, the text format) for operators.

Turn metrics come from the events a session already sends its client: every turn ends with one
`turn.done` carrying its status and its timings from the end of the user's speech, and every problem is
an `error` event with a code. So one wrapper around a session's `send` sees them all, whatever the door.
TTS durations and fallbacks come from the fallback chain; sessions, queues, refusals and media jobs are
read from the app. Labels carry only our own short identifiers (statuses, codes, engine and provider
names), never user text or secrets: anything else becomes `other`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .events import ServerEvent

# From 50 ms (a fast GPU) to 20 s (a loaded CPU): answer times people notice.
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0)
_SAFE_LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,48}")

Send = Callable[[Any], Awaitable[None]]

disable_created_metrics()  # `*_created` series per label set only clutter dashboards


def label(value: object) -> str:
    """A label value that is one of our identifiers, or `other` (never free text: cardinality, privacy)."""
    text = str(value) if value is not None else "none"
    return text if _SAFE_LABEL.fullmatch(text) else "other"


class Metrics:
    """What sessions and engines of one server record. Each instance has its own registry, so several
    servers in one process (tests) never mix their numbers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.transcript = Histogram("voicechat_speech_end_to_transcript_seconds",
                                    "End of the user's speech to the final transcript.",
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.first_token = Histogram("voicechat_speech_end_to_first_token_seconds",
                                     "End of the user's speech to the reply's first token.",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.first_audio = Histogram("voicechat_speech_end_to_first_audio_seconds",
                                     "End of the user's speech to the reply's first audio sent.",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.stt = Histogram("voicechat_stt_duration_seconds", "Speech to text of one utterance.",
                             buckets=LATENCY_BUCKETS, registry=r)
        self.tts = Histogram("voicechat_tts_duration_seconds", "Synthesis of one sentence, by engine.",
                             ["engine"], buckets=LATENCY_BUCKETS, registry=r)
        self.turns = Counter("voicechat_turns", "Turns finished, by status.", ["status"], registry=r)
        self.errors = Counter("voicechat_errors", "Error events sent to clients, by code.", ["code"],
                              registry=r)
        self.tts_fallbacks = Counter("voicechat_tts_fallbacks",
                                     "Sentences a TTS engine failed to speak and handed to the next one.",
                                     ["engine"], registry=r)

    def watching(self, send: Send) -> Send:
        """`send` that also records the turn and error events going through it."""

        async def observed(message: Any) -> None:
            if isinstance(message, dict):
                self.observe(message)
            elif isinstance(message, ServerEvent) and message.type in ("turn.done", "error"):
                self.observe(message.to_dict())
            await send(message)

        return observed

    def observe(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "turn.done":
            self.turns.labels(label(event.get("status"))).inc()
            timings = event.get("timings") or {}
            for name, histogram in (("transcript_ms", self.transcript), ("first_token_ms", self.first_token),
                                    ("first_audio_ms", self.first_audio), ("stt_ms", self.stt)):
                value = timings.get(name)
                if isinstance(value, int | float) and value >= 0:
                    histogram.observe(value / 1000)
        elif kind == "error":
            self.errors.labels(label(event.get("code"))).inc()

    def synthesized(self, engine: str, seconds: float) -> None:
        self.tts.labels(label(engine)).observe(seconds)

    def fell_back(self, engine: str) -> None:
        self.tts_fallbacks.labels(label(engine)).inc()


class ServerMetrics:
    """The app's own: refusals at the door, media jobs, and gauges read at scrape time."""

    def __init__(self, gauges: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.refusals = Counter("voicechat_refusals", "Connections and requests refused, by close or "
                                "status code (1013 full or overloaded, 4429 and 429 rate, 4401 and 401 "
                                "token, 4403 origin).", ["code"], registry=self.registry)
        self.media_jobs = Counter("voicechat_media_jobs", "Media job events (submitted, progress, "
                                  "succeeded, failed…), by provider.", ["provider", "state"],
                                  registry=self.registry)
        self.registry.register(_Gauges(gauges))

    def refused(self, code: int) -> None:
        self.refusals.labels(str(code)).inc()

    def media_event(self, update: dict[str, Any]) -> None:
        job = update.get("job") or {}
        self.media_jobs.labels(label(job.get("provider")), label(update.get("event"))).inc()


class _Gauges(Collector):
    """Gauges computed when scraped: `read()` returns {name: (help, value or {label: value})}."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (help_text, value) in self.read().items():
            if isinstance(value, dict):
                family = GaugeMetricFamily(name, help_text, labels=["kind"])
                for kind, number in value.items():
                    family.add_metric([label(kind)], float(number or 0))
            else:
                family = GaugeMetricFamily(name, help_text, value=float(value or 0))
            yield family
