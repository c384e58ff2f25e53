"""Test helpers for the media suite: drive an adapter to the end, wait for service events."""

from __future__ import annotations

import asyncio
from typing import Any

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderUpdate
from voicechat.media.service import apply_update as apply


async def drive(
    adapter: BaseAdapter, request: MediaRequest, max_polls: int = 20
) -> tuple[Job, list[ProviderUpdate]]:
    """Submit, then poll until the provider says the job is finished. Returns the job and every update."""
    first = await adapter.submit(request)
    job = Job(
        kind=MediaKind(request.kind),
        provider=adapter.name,
        action=request.action,
        prompt=request.prompt,
        params=request.options,
    )
    updates = [first]
    apply(job, first)
    for _ in range(max_polls):
        if job.finished:
            break
        update = await adapter.poll(job)
        updates.append(update)
        apply(job, update)
    return job, updates


async def drive_action(adapter: Any, parent: Job, action: str, index: int, max_polls: int = 20) -> Job:
    """A follow-up (U/V/reroll) on `parent`, polled to the end."""
    job = Job(kind=parent.kind, provider=adapter.name, action=action, parent_job_id=parent.id)
    apply(job, await adapter.action(parent, action, index))
    for _ in range(max_polls):
        if job.finished:
            break
        apply(job, await adapter.poll(job))
    return job


async def next_event(queue: asyncio.Queue[dict[str, Any]], timeout: float = 5.0) -> dict[str, Any]:
    return await asyncio.wait_for(queue.get(), timeout)


async def until_finished(
    queue: asyncio.Queue[dict[str, Any]], job_id: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Every event for `job_id` up to and including its succeeded/failed event."""
    events: list[dict[str, Any]] = []

    async def collect() -> None:
        while True:
            event = await queue.get()
            if event["job"]["id"] != job_id:
                continue
            events.append(event)
            if event["event"] in (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value):
                return

    await asyncio.wait_for(collect(), timeout)
    return events
