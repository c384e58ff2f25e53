"""What the media router decides an utterance is: chat, a media request, a button on a Midjourney grid, or
"again". The router (voicechat/media/router.py) and the model's tool calls (voicechat/media/tools.py) both end
in one of these; the turn and the bridge act on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicechat.media.jobs import MediaKind, MediaRequest


@dataclass(frozen=True)
class ChatRoute:
    text: str


@dataclass(frozen=True)
class MediaRoute:
    kind: MediaKind
    prompt: str
    provider_hint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    # "animate the second one": the picture job to start from, and which of its images (1-4; 0 = main).
    source_job_id: str | None = None
    source_index: int = 0
    action: str = ""  # blend, face_swap, describe…; "" = the kind's default (imagine, generate)

    def to_request(self) -> MediaRequest:
        return MediaRequest(
            kind=self.kind,
            prompt=self.prompt,
            action=self.action,
            provider=self.provider_hint,
            options=dict(self.options),
        )

    @property
    def uses_pictures(self) -> str:
        """The picture action (blend, face_swap, describe, dance, animate) this route needs pictures for."""
        return str(self.options.get("uses_pictures") or "")


@dataclass(frozen=True)
class ActionRoute:
    job_id: str
    action: str  # upscale | variation | reroll
    index: int  # 1-4; 0 for reroll


@dataclass(frozen=True)
class RepeatRoute:
    """ "Again" / "another one like that" after a request that is no Midjourney grid: the same request."""

    job_id: str


Route = ChatRoute | MediaRoute | ActionRoute | RepeatRoute
