"""A turn's stage timeline: when each step of the work happened, for `turn.done.stages` and the latency bench.

`turn.done.timings` says when the client could see each thing (a speculative turn's output is held back
until the end of the turn is confirmed). The timeline says when the server did it: speech model started and
done, chat model asked, its first token and first speakable piece, the first synthesized audio, the release of
a speculative turn, the first audio frame sent. Differences between two stages show where time goes: a final
transcription that waited for a partial, a first piece that waited for the CPU, audio held for the verdict.
"""

from __future__ import annotations

import time

# In the order they normally happen; `turn.done.stages` lists the ones this turn reached.
STAGES = ("queued", "started", "stt_start", "transcript", "chat_asked", "first_token", "first_piece",
          "tts_first_chunk", "released", "first_audio")


class Timeline:
    """Monotonic marks, each set once (the first time a stage is reached)."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def mark(self, stage: str, at: float | None = None) -> None:
        if stage not in self.marks:
            self.marks[stage] = time.monotonic() if at is None else at

    def since(self, reference: float) -> dict[str, int]:
        """Each stage reached, in ms after `reference` (the end of the user's speech), in stage order."""
        return {name: round((self.marks[name] - reference) * 1000) for name in STAGES if name in self.marks}
