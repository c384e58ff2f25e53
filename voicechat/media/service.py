"""MediaService: submit media jobs, drive them to the end with one poller, tell subscribers.

Every job is saved before anyone hears of it and after every change, so a restart resumes
whatever was unfinished. One asyncio task schedules all polling; each provider call runs as its
own task so a slow synchronous provider (OpenAI images take ~20 s) never holds the others up.

Several processes may share the store: each job is driven by the holder of its lease only
(voicechat/media/leases.py), and with a store that can announce updates (PostgreSQL NOTIFY) every
process's subscribers hear every job's updates, whichever process polled it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from voicechat.events import MediaJob as MediaJobEvent
from voicechat.media.config import MediaSettings, NotConfigured, ProviderSet, build_providers
from voicechat.media.jobs import FOLLOW_UP_ACTIONS, Job, JobStatus, MediaRequest
from voicechat.media.leases import Leases, caught_mid_submission, fail_uncertain, node_name
from voicechat.media.providers.base import (
    FollowsUp,
    MediaProvider,
    ProviderError,
    ProviderUpdate,
    spoken_name,
)
from voicechat.media.speech import acknowledgement, completion, timed_out
from voicechat.media.store import AnnouncesJobs, JobStore
from voicechat.store import StoreError

log = logging.getLogger(__name__)

ALL_OWNERS = "*"


class MediaError(Exception):
    """A request the service refuses at once; the message is fit to be spoken."""


class MediaService:
    def __init__(
        self,
        store: JobStore,
        providers: ProviderSet,
        *,
        files_dir: str | Path | None = None,
        files_url_prefix: str = "/media/files",
        max_retries: int = 6,
        max_backoff_s: float = 60.0,
        queue_size: int = 256,
        node: str | None = None,
        lease_s: float = 15.0,
    ) -> None:
        self.store = store
        self.node = node or node_name()
        self.leases = Leases(store, self.node, lease_s)
        self._announcements: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._announcer: asyncio.Task[None] | None = None
        self.providers = providers
        self.files_dir = Path(files_dir) if files_dir else None
        self.files_url_prefix = files_url_prefix.rstrip("/")
        self.max_retries = max_retries
        self.max_backoff_s = max_backoff_s
        self._queue_size = queue_size
        self._active: dict[str, Job] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._stopping = False

    @classmethod
    def from_settings(cls, settings: MediaSettings | None = None, store: Any = None,
                      **options: Any) -> MediaService:
        """`store`: a PostgreSQL job store (voicechat/pg_store.py) instead of the SQLite file."""
        settings = settings or MediaSettings()
        return cls(
            store or JobStore(settings.voicechat_media_db),
            build_providers(settings),
            files_dir=settings.voicechat_media_dir,
            **options,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Claim every unfinished job nobody else drives, start the poller (and hear other nodes' updates)."""
        await self.store.aopen()
        try:
            await self._refresh_leases()
        except StoreError as exc:
            log.error("media jobs: %s; claiming them once the store answers", exc)
        if self._active:
            log.info("resuming %d unfinished media jobs", len(self._active))
        if isinstance(self.store, AnnouncesJobs) and self._announcer is None:
            await self.store.awatch(self._heard)
            self._announcer = asyncio.create_task(self._announce(self.store), name="media-announcer")
        if self._poller is None:
            self._poller = asyncio.create_task(self._run(), name="media-poller")

    async def stop(self, *, close: bool = True) -> None:
        """Stop polling. Unfinished jobs stay in the store for the next start."""
        self._stopping = True
        tasks = [t for t in (self._poller, self._announcer, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._poller = self._announcer = None
        self._stopping = False
        self._inflight.clear()
        self._active.clear()
        try:
            await self.leases.release()  # another node takes over now, not when the leases expire
        except (StoreError, sqlite3.Error) as exc:  # down, or closed by an earlier stop
            log.warning("media jobs: could not hand back leases: %s", exc)
        if close:
            await self.providers.aclose()
            self.store.close()

    # -- API ---------------------------------------------------------------------------------------

    async def submit(self, request: MediaRequest, owner: str) -> Job:
        """Persist a new job and hand it to the poller. Returns at once with the job as saved.

        A request no provider can take comes back as a failed job whose `error` says what to set.
        """
        try:
            adapter = self.providers.pick(request.kind, request.provider)
        except NotConfigured as exc:
            job = Job(
                kind=request.kind,
                provider=request.provider or "",
                action=request.action,
                prompt=request.prompt,
                owner=owner,
                params=request.options,
            )
            job.fail("not_configured", str(exc))
            return await self._refused(job)
        job = Job(
            kind=request.kind,
            provider=adapter.name,
            action=request.action,
            prompt=request.prompt,
            owner=owner,
            params=request.options,
        )
        if request.action not in adapter.actions:
            job.fail("unsupported", f"{spoken_name(adapter)} cannot {request.action.replace('_', ' ')}.")
            return await self._refused(job)
        return await self._enqueue(job)

    async def act(self, job_id: str, action: str, index: int, owner: str) -> Job:
        """A follow-up on a finished Midjourney grid (upscale/variation N, reroll): a new child job."""
        parent = await self.get(job_id)
        if parent is None or (owner and parent.owner and parent.owner != owner):
            raise MediaError("I can't find that picture.")
        if action not in FOLLOW_UP_ACTIONS:
            raise MediaError(f"I don't know how to {action} a picture.")
        if parent.status is not JobStatus.SUCCEEDED:
            raise MediaError("That picture isn't finished yet.")
        adapter = self.providers.get(parent.provider)
        if not isinstance(adapter, FollowsUp):
            raise MediaError(f"I can only {action} Midjourney pictures.")
        if action != "reroll" and not 1 <= index <= 4:
            raise MediaError("Pick a number from one to four.")
        child = Job(
            kind=parent.kind,
            provider=parent.provider,
            action=action,
            prompt=parent.prompt,
            owner=owner or parent.owner,
            parent_job_id=parent.id,
            params={"index": index},
        )
        return await self._enqueue(child)

    async def say_once(self, job_id: str, by: str) -> bool:
        """Whether `by` says this ended job's line: True once per job, to whichever connection asks first."""
        return bool(await self.store.asay_once(job_id, by))

    async def unsaid(self, job_ids: list[str]) -> list[Job]:
        """Those of `job_ids` that ended with nobody having said their line yet."""
        return list(await self.store.aunsaid(job_ids))

    async def get(self, job_id: str) -> Job | None:
        job = self._active.get(job_id)
        return _copy(job) if job else await self.store.aget(job_id)

    async def list(self, owner: str | None = None, limit: int = 20) -> list[Job]:
        """Newest first."""
        return await self.store.alist(owner, limit)

    def subscribe(self, owner: str) -> asyncio.Queue[dict[str, Any]]:
        """A queue of job updates for `owner` (every connection of a user gets its own); `*` gets all."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._subscribers.setdefault(owner, set()).add(queue)
        return queue

    def unsubscribe(self, owner: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        queues = self._subscribers.get(owner)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[owner]

    # -- internals ---------------------------------------------------------------------------------

    async def _refused(self, job: Job) -> Job:
        """A request refused before any provider saw it: the refusal is the answer the user hears now, so
        the job's line counts as said (a resumed conversation must not say it again)."""
        await self.store.asave(job)
        await self.store.asay_once(job.id, "refused")
        self._publish(job, "failed", job.error)
        return _copy(job)

    async def _enqueue(self, job: Job) -> Job:
        try:
            await self.leases.save(job)
        except StoreError as exc:
            log.error("media job %s not started: %s", job.id, exc)
            job.fail("storage_unavailable", "I can't start that right now: the job list can't be saved.")
            self._publish(job, "failed", job.error)
            return _copy(job)
        self._active[job.id] = job
        self._publish(job, "submitted", acknowledgement(job))
        self._wake.set()
        return _copy(job)

    def _publish(self, job: Job, event: str, message: str = "") -> None:
        self._deliver(job, event, message)
        if self._announcer is not None:  # and to the other nodes, in the order it happened here
            self._announcements.put_nowait({"node": self.node, "job_id": job.id, "event": event,
                                            "message": message})

    def _deliver(self, job: Job, event: str, message: str) -> None:
        update = MediaJobEvent(event, job.to_public_dict(), message).to_dict()
        for owner in (job.owner, ALL_OWNERS):
            for queue in self._subscribers.get(owner, ()):
                if queue.full():
                    # A stalled reader loses its oldest update rather than stalling the poller.
                    queue.get_nowait()
                queue.put_nowait(update)

    async def _announce(self, store: AnnouncesJobs) -> None:
        while True:
            update = await self._announcements.get()
            try:
                await store.apublish(update)
            except StoreError as exc:
                log.warning("media job %s: other nodes not told of %s: %s",
                            update["job_id"], update["event"], exc)

    async def _heard(self, update: dict[str, Any]) -> None:
        """Another node's job update: read the job as saved and tell this node's subscribers."""
        if update.get("node") == self.node:
            return
        try:
            job = await self.store.aget(update["job_id"])
        except StoreError as exc:
            log.warning("media job %s: update from another node lost: %s", update.get("job_id"), exc)
            return
        if job is not None:
            self._deliver(job, str(update.get("event")), str(update.get("message") or ""))

    async def _refresh_leases(self) -> None:
        claimed, lost = await self.leases.refresh([job_id for job_id in self._active])
        for job_id in lost:
            log.warning("media job %s: another node took it over", job_id)
            self._drop(job_id)
        for job in claimed:
            if job.id in self._active:
                continue
            log.info("media job %s: taking it over (%s, %s)", job.id, job.provider, job.status.value)
            if caught_mid_submission(job):
                adapter = self.providers.get(job.provider)
                fail_uncertain(job, spoken_name(adapter) if adapter else job.provider)
                if await self.leases.save(job):
                    self._publish(job, "failed", completion(job))
                continue
            job.next_poll_at = 0.0  # whatever was scheduled by its last holder is due now
            self._active[job.id] = job

    def _drop(self, job_id: str) -> None:
        self._active.pop(job_id, None)
        task = self._inflight.pop(job_id, None)
        if task is not None:
            task.cancel()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            now = time.time()
            if self.leases.due_in(now) <= 0:
                try:
                    await self._refresh_leases()
                except StoreError as exc:
                    log.warning("media jobs: leases not renewed: %s", exc)
            delay = min(1.0, max(self.leases.due_in(now), 0.001))
            for job in list(self._active.values()):
                if job.id in self._inflight:
                    continue
                if job.next_poll_at <= now:
                    self._inflight[job.id] = asyncio.create_task(self._step(job))
                else:
                    delay = min(delay, job.next_poll_at - now)
            # Not wait_for: before Python 3.12 it can swallow a cancel that lands as the event fires,
            # which is exactly what stop() does (cancelled steps set the event on their way out).
            waiter = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=max(delay, 0.001))
            finally:
                waiter.cancel()

    async def _step(self, job: Job) -> None:
        try:
            await self._advance(job)
        except asyncio.CancelledError:
            raise
        except StoreError as exc:
            # The store is down: the provider's answer is kept in memory and saved at the next step.
            log.warning("media job %s: not saved (%s); trying again", job.id, exc)
            job.next_poll_at = time.time() + max(1.0, self.leases.renew_every_s)
        except _LeaseLost:
            log.warning("media job %s: another node took it over", job.id)
            self._active.pop(job.id, None)
        except Exception:
            # A bug in an adapter must not leave a job spinning forever or kill the poller.
            log.exception("media job %s: unexpected error", job.id)
            job.fail("internal", "something went wrong inside the media service")
            with contextlib.suppress(StoreError):
                if await self.leases.save(job):
                    self._publish(job, "failed", completion(job))
        finally:
            self._inflight.pop(job.id, None)
            if job.finished:
                self._active.pop(job.id, None)
            self._wake.set()

    async def _advance(self, job: Job) -> None:
        before = (job.status, job.progress, list(job.result_urls))
        adapter = self.providers.get(job.provider)
        if adapter is None:
            job.fail("not_configured", f"{job.provider or 'that provider'} is not set up any more.")
        else:
            try:
                update = await self._call(adapter, job)
            except ProviderError as exc:
                if exc.retryable and job.retries < self.max_retries:
                    job.retries += 1
                    delay = min(
                        self.max_backoff_s, max(adapter.poll_interval_s, 0.01) * 2 ** (job.retries - 1)
                    )
                    job.next_poll_at = time.time() + delay
                    log.warning(
                        "media job %s: %s; retry %d in %.2f s", job.id, exc.message, job.retries, delay
                    )
                else:
                    job.fail(exc.code, exc.message)
            else:
                job.retries = 0
                await self._apply(job, update)
                job.next_poll_at = time.time() + adapter.poll_interval_s
            if not job.finished and job.sent and job.polls >= adapter.max_polls:
                job.fail("timeout", timed_out(job, spoken_name(adapter), time.time() - job.created_at))
        if not await self.leases.save(job):
            raise _LeaseLost
        if job.finished:
            self._publish(job, job.status.value, completion(job))
        elif before != (job.status, job.progress, job.result_urls):
            self._publish(job, "progress")

    async def _call(self, adapter: MediaProvider, job: Job) -> ProviderUpdate:
        if job.sent:
            job.polls += 1
            return await adapter.poll(job)
        parent = None
        if job.parent_job_id:
            parent = await self.store.aget(job.parent_job_id)
            if parent is None:
                raise ProviderError("not_found", "the picture to act on is gone")
        # Marked before the call, so a crash inside it is known afterwards (never sent twice).
        job.submit_started_at = time.time()
        if not await self.leases.save(job):
            raise _LeaseLost
        try:
            if parent is not None:
                if not isinstance(adapter, FollowsUp):  # the provider was reconfigured since
                    raise ProviderError("unsupported", f"{spoken_name(adapter)} has no {job.action} button")
                return await adapter.action(parent, job.action, int(job.params.get("index", 0)))
            return await adapter.submit(MediaRequest.from_job(job))
        finally:
            job.submit_started_at = 0.0  # answered (accepted or refused): the provider's word is known

    async def _apply(self, job: Job, update: ProviderUpdate) -> None:
        kept = [await self._keep_file(f"{job.id}-{number}{suffix}", data)
                for number, (suffix, data) in enumerate(update.files)]
        apply_update(job, update, kept)

    async def _keep_file(self, name: str, data: bytes) -> str:
        if self.files_dir is None:
            return "data:image/png;base64," + base64.b64encode(data).decode()
        path = self.files_dir / name
        await asyncio.to_thread(_write, path, data)
        return f"{self.files_url_prefix}/{name}"


class _LeaseLost(Exception):
    """Another node holds this job now (this one stalled past its lease); this node lets it go."""


def apply_update(job: Job, update: ProviderUpdate, kept_files: list[str] | None = None) -> None:
    """A provider's update onto its job: status, progress (never backwards), task ids, result, URLs (the
    provider's, then those of files kept for it), and on failure an error that is never empty."""
    job.status = update.status
    if update.progress is not None:
        job.progress = max(job.progress, update.progress)
    if update.provider_task_ids:
        job.provider_task_ids = list(update.provider_task_ids)
    job.result.update(update.result)
    urls = [*update.result_urls, *(kept_files or [])]
    if urls:
        job.result_urls = urls
    if update.status is JobStatus.FAILED:
        job.error = update.error or "the provider reported a failure"
        job.error_code = update.error_code or "provider_failed"
    job.touch()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _copy(job: Job) -> Job:
    return Job.from_dict(job.to_dict())

