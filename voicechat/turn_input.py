"""What starts a turn: an utterance, typed text, a media button or a notice, and how it is to be answered.

The listening chain, the session and the doors build these; only the turn (voicechat/turn.py) runs them, so a
door that queues input needs nothing of the turn's machinery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .media.routes import ActionRoute
from .vad import Utterance


@dataclass
class TurnInput:
    """What starts a turn: an utterance to transcribe, typed text, a media button, or a notice to say."""

    ended_at: float  # monotonic end of the user's speech (last voiced audio) or arrival of the text
    utterance: Utterance | None = None
    text: str | None = None
    action: ActionRoute | None = None  # a Midjourney U/V/reroll button: the same as saying it
    notice: str | None = None  # something the assistant says unprompted (a media job finished)
    # For a notice said once across connections: awaited as its turn would start; False = skip it.
    say_if: Callable[[], Awaitable[bool]] | None = None
    respond: bool = True  # False: only add the user's words to the conversation (manual responses)
    reply_only: bool = False  # answer the conversation as it stands (a Realtime `response.create`)
    instructions: str | None = None  # a system prompt for this reply only
    dropped: bool = False  # withdrawn before it was answered (a Realtime `conversation.item.delete`)
    # Speculative: an utterance cut at a short pause, run before the hangover confirms it ended. Its output
    # is held back until `decided` is set: then either it is released (`dropped` False) or thrown away.
    speculative: bool = False
    decided: asyncio.Event | None = None
    # A speculative utterance's transcript ("" if it failed), as soon as it is known: the end-of-turn check
    # reads it (a question that trails off on "to" or "the" is not finished, whatever its tone).
    heard: asyncio.Future[str] | None = None
    wake_word: str | None = None  # it follows this wake word: the phrase is cut from its transcript
    queued_at: float = field(default_factory=time.monotonic)  # for the turn's stage timeline

    def __post_init__(self) -> None:
        if self.speculative and self.decided is None:
            self.decided = asyncio.Event()
        if self.speculative and self.heard is None:
            self.heard = asyncio.get_running_loop().create_future()

    @property
    def held(self) -> bool:
        """Output must wait: a speculative turn not yet confirmed."""
        return self.decided is not None and not self.decided.is_set()
