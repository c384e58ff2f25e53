"""Connects a voice session to the media service: routes transcripts, submits jobs, relays job updates.

The session's turn asks `MediaBridge.route` whether an utterance is a media request; if so `run` submits
it (or acts on an earlier grid) and returns the short line the assistant says. Job updates for the
session's user reach the client as `media.job` events; when a job this session started (or a job of the
conversation it resumed) finishes, the completion line is queued as a spoken notice.

Each line is said once per job, across connections and nodes: the notice takes the job's durable "said"
record (`MediaService.say_once`) as its turn starts, and is dropped if another connection took it. A
resumed conversation also says, at once, the lines of its jobs that ended unsaid: while no connection was
open, or between the resume reading the conversation and this bridge subscribing (it subscribes first,
then reads, so every ending is either seen in the store or heard as an event).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import mimetypes
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..store import StoreError
from . import pictures
from .jobs import Job, JobStatus, MediaRequest
from .providers.base import ListsTemplates, ProviderError
from .router import route
from .routes import ActionRoute, ChatRoute, MediaRoute, RepeatRoute
from .service import MediaError, MediaService
from .speech import acknowledgement, completion

log = logging.getLogger(__name__)

Route = MediaRoute | ActionRoute | RepeatRoute
MAX_ATTACHMENTS = 5
# Say this unprompted; the callable, awaited when the line's turn starts, says whether to (False: another
# connection of the conversation is saying or has said it).
Notify = Callable[[str, Callable[[], Awaitable[bool]]], None]


class MediaBridge:
    """Per-session view of the shared MediaService."""

    def __init__(
        self,
        service: MediaService,
        owner: str,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        notify: Notify,
        uploads_dir: Path | None,
    ) -> None:
        self.service = service
        self.owner = owner
        self._send = send
        self._notify = notify
        self._uploads_dir = uploads_dir
        self._started: set[str] = set()  # jobs this session started (or resumed): it speaks their completion
        self.name = f"{service.node}/{secrets.token_hex(4)}"  # this connection, in the jobs' "said" record
        self._attachments: list[str] = []
        self._grid_seen = False
        self._queue = service.subscribe(owner)
        self._relay = asyncio.create_task(self._forward(), name=f"media-relay-{owner}")

    async def close(self) -> None:
        self.service.unsubscribe(self.owner, self._queue)
        self._relay.cancel()
        try:
            await self._relay
        except (asyncio.CancelledError, Exception):
            pass

    async def _forward(self) -> None:
        while True:
            update = await self._queue.get()
            try:
                await self._send(update)
            except Exception:  # the client is gone; the session will close us
                return
            job = update.get("job", {})
            if update.get("event") == "succeeded" and job.get("result", {}).get("buttons"):
                self._grid_seen = True
            if update.get("event") in ("succeeded", "failed") and job.get("id") in self._started:
                self._started.discard(job["id"])
                if update.get("message"):
                    self._say(update["message"], job["id"])

    async def follow(self, job_ids: list[str]) -> None:
        """Speak these jobs' completion here (a resumed conversation's): a running one's when it ends, and
        now those that already ended with nobody having said them."""
        self._started.update(job_ids)
        try:
            ended = await self.service.unsaid(job_ids)
        except StoreError as exc:
            log.warning("media: ended jobs of a resumed conversation not read: %s", exc)
            return
        for job in ended:
            if job.id in self._started:  # not already heard as an event meanwhile
                self._started.discard(job.id)
                if line := completion(job):
                    self._say(line, job.id)

    def _say(self, line: str, job_id: str) -> None:
        async def first_to_say() -> bool:
            try:
                return await self.service.say_once(job_id, self.name)
            except StoreError as exc:  # the record cannot be written: a line said twice beats one lost
                log.warning("media job %s: completion said without its record: %s", job_id, exc)
                return True

        self._notify(line, first_to_say)

    def vocabulary(self) -> str:
        """Follow-up words whisper tends to mishear ("upscale" -> "let's kill"), once a grid exists."""
        return "Upscale, variation, reroll." if self._grid_seen else ""

    def attach(self, upload_ids: list[Any]) -> int:
        """Reference images for the next media request (face swap, blend, Viggle, image to video)."""
        if not isinstance(upload_ids, list) or not all(isinstance(u, str) for u in upload_ids):
            raise ValueError("`upload_ids` must be a list of upload ids")
        if len(upload_ids) > MAX_ATTACHMENTS:
            raise ValueError(f"at most {MAX_ATTACHMENTS} images can be attached")
        for upload_id in upload_ids:
            self._upload_path(upload_id)  # fail now, not when the user speaks
        self._attachments = list(upload_ids)
        return len(self._attachments)

    async def route(self, text: str) -> Route | None:
        """A media route for this utterance, or None when it is ordinary chat."""
        try:
            recent = await self.service.list(self.owner, limit=10)
        except StoreError:  # the database is down: route without the recent jobs ("upscale the second")
            recent = []
        routed = route(text, recent)
        return None if isinstance(routed, ChatRoute) else routed

    async def run(self, routed: Route) -> tuple[str, Job | None]:
        """Submit or act; returns what the assistant says now, and the job (None when refused)."""
        if isinstance(routed, ActionRoute):
            try:
                job = await self.service.act(routed.job_id, routed.action, routed.index, self.owner)
            except MediaError as exc:
                return str(exc), None
        elif isinstance(routed, RepeatRoute):
            source = await self.service.get(routed.job_id)
            if source is None or source.owner != self.owner:
                return "I can't find that request any more.", None
            request = MediaRequest.from_job(source)  # the same pictures and options, once more
            request.provider = source.provider or None
            job = await self.service.submit(request, self.owner)
        else:
            request = routed.to_request()
            images = await self._reference_images(routed)
            action = routed.uses_pictures
            if action:
                zh = request.options.get("lang") == "zh"
                refused = pictures.refusal(action, images, zh)
                if refused is None and action == "dance":
                    refused = await self._choose_template(request)
                if refused is not None:
                    return refused, None  # the attachments stay for the next try
                images = pictures.arrange(action, images, request.options)
            if self._attachments:
                self._attachments = []
                # The page empties its tray: those pictures went with this request.
                await self._send({"type": "media.attached", "count": 0, "reason": "used"})
            if images:
                request.options.setdefault("images", images)
            job = await self.service.submit(request, self.owner)
        if job.status is not JobStatus.FAILED:
            self._started.add(job.id)
        return acknowledgement(job), job

    async def _choose_template(self, request: MediaRequest) -> str | None:
        """Put the Viggle template the user named (or the first listed) into the request; or say why not."""
        viggle = self.service.providers.get("viggle")
        if not isinstance(viggle, ListsTemplates):
            return None  # the submit says Viggle is not set up, naming VIGGLE_SERVER
        try:
            templates = await viggle.templates()
        except ProviderError as exc:
            return f"I couldn't get the dance templates from Viggle: {exc.message}."
        spoken = str(request.options.get("template") or "")
        chosen = pictures.match_template(spoken, templates)
        if chosen is None:
            names = ", ".join(pictures.template_name(t) for t in templates[:4])
            known = f"; try one of: {names}" if names else ""
            return f"Viggle has no dance called \u201c{spoken}\u201d{known}."
        request.options["template_id"] = str(chosen["id"])
        request.prompt = pictures.template_name(chosen)
        return None

    async def _reference_images(self, routed: MediaRoute) -> list[str]:
        """The attached pictures; without any, the finished picture the route points at (if any)."""
        images = [self._data_url(u) for u in self._attachments]
        if not images and routed.source_job_id:
            source = await self.service.get(routed.source_job_id)
            if source is not None and source.status is JobStatus.SUCCEEDED:
                picked = source.result.get("images") or source.result_urls
                index = routed.source_index - 1 if 0 < routed.source_index <= len(picked) else 0
                if picked:
                    images.append(picked[index])
        return images

    def _upload_path(self, upload_id: str) -> Path:
        if self._uploads_dir is None or not upload_id.isalnum():
            raise ValueError(f"unknown upload {upload_id!r}")
        matches = list(self._uploads_dir.glob(upload_id + ".*"))
        if not matches:
            raise ValueError(f"unknown upload {upload_id!r}")
        return matches[0]

    def _data_url(self, upload_id: str) -> str:
        path = self._upload_path(upload_id)
        mime = mimetypes.guess_type(path.name)[0] or "image/png"
        return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()

