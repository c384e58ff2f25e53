"""The one Job model every media provider maps onto.

A job moves submitted -> running(progress) -> succeeded(urls) | failed(reason). Providers differ
wildly on the wire; everything above the adapters only ever sees a `Job`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any


class JobStatus(str, Enum):
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


class MediaKind(str, Enum):
    IMAGE = "image"
    MUSIC = "music"
    VIDEO = "video"


# The action a brand-new job starts with, per kind, when the caller does not say.
DEFAULT_ACTION = {MediaKind.IMAGE: "imagine", MediaKind.MUSIC: "generate", MediaKind.VIDEO: "generate"}

# Follow-up actions on a finished Midjourney grid; each makes a child job.
FOLLOW_UP_ACTIONS = ("upscale", "variation", "reroll")


@dataclass
class MediaRequest:
    """What the user asked for, before any provider has seen it.

    `options` carries provider-neutral extras: `images` (data URLs or URLs), `lyrics`, `title`, `tags`,
    `instrumental`, `aspect_ratio`, `model`, `template_id`, ... Each adapter reads what it understands.
    """

    kind: MediaKind
    prompt: str
    action: str = ""
    provider: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = MediaKind(self.kind)
        if not self.action:
            self.action = DEFAULT_ACTION[self.kind]

    @classmethod
    def from_job(cls, job: Job) -> MediaRequest:
        """Rebuild the request, so a job can be (re)sent after a retry or a restart."""
        return cls(
            kind=job.kind,
            prompt=job.prompt,
            action=job.action,
            provider=job.provider,
            options=dict(job.params),
        )


@dataclass
class Job:
    kind: MediaKind
    provider: str
    action: str
    prompt: str = ""
    owner: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: JobStatus = JobStatus.SUBMITTED
    progress: int = 0
    result_urls: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_code: str = ""
    provider_task_ids: list[str] = field(default_factory=list)
    parent_job_id: str | None = None
    # The request's options, kept so the job can be re-sent after a retryable fault or a restart.
    params: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    polls: int = 0
    # Consecutive retryable faults; reset by any good answer. Drives the exponential back-off.
    retries: int = 0
    next_poll_at: float = 0.0
    # Set (and saved) just before the provider is asked to start the job: a job found with it but no answer
    # was caught mid-submission by a crash and is never blindly sent again (voicechat/media/leases.py).
    submit_started_at: float = 0.0

    def __post_init__(self) -> None:
        self.kind = MediaKind(self.kind)
        self.status = JobStatus(self.status)
        if not self.updated_at:
            self.updated_at = self.created_at

    @property
    def finished(self) -> bool:
        return self.status.finished

    @property
    def sent(self) -> bool:
        """Whether the provider has accepted the job (a synchronous provider may finish at once)."""
        return bool(self.provider_task_ids) or self.status is not JobStatus.SUBMITTED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["status"] = self.status.value
        return data

    def to_public_dict(self) -> dict[str, Any]:
        """The shape sent to clients: no bookkeeping, and no params (they may hold megabytes of images)."""
        data = self.to_dict()
        for private in ("params", "retries", "next_poll_at", "submit_started_at"):
            data.pop(private)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def fail(self, code: str, reason: str) -> None:
        self.status = JobStatus.FAILED
        self.error_code = code
        self.error = reason
        self.touch()

    def touch(self) -> None:
        self.updated_at = time.time()
