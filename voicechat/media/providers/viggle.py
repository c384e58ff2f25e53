"""Viggle through a gateway: a picture of a character plus a dance template becomes a video.

Needs `options.images[0]` (a data URL, or an http(s) URL such as a finished picture job's result, which is
fetched with limits and uploaded) or `options.image_id`, and `options.template_id`.
Polling is a POST to `/video-task/by-ids`; the reference UI stops when `status == 0`. The dance
templates (`/template2`) are listed for the page and for naming one by voice.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.picture_bytes import picture_bytes
from voicechat.media.providers.base import BaseAdapter, ProviderError, ProviderUpdate


class ViggleAdapter(BaseAdapter):
    name = "viggle"
    label = "Viggle"
    kinds = frozenset({MediaKind.VIDEO})
    server_env = "VIGGLE_SERVER"
    key_env = "VIGGLE_KEY"
    default_poll_interval_s = 2.0
    default_max_polls = 500
    general_purpose = False
    actions = frozenset({"generate"})

    templates_ttl_s = 600.0  # the catalogue changes rarely; listing it on every request would be slow
    _templates: tuple[float, list[dict[str, Any]]] | None = None  # (listed at, the catalogue)

    def default_prefix(self, base_url: str) -> str:
        return "/viggle"

    async def templates(self, keyword: str = "") -> list[dict[str, Any]]:
        """Dance templates, as the provider lists them: `id`, `description`, `processedCoverURL`…"""
        cached = self._templates
        if not keyword and cached and time.monotonic() - cached[0] < self.templates_ttl_s:
            return cached[1]
        query = httpx.QueryParams(page=1, pageSize=48, searchKeyword=keyword, tagID="", type=0)
        answer = await self.http.get(self.path(f"/template2?{query}"))
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise self.bad_shape("a list of templates")
        found = [t for t in data if isinstance(t, dict) and t.get("id")]
        if not keyword:
            self._templates = (time.monotonic(), found)
        return found

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        options = request.options
        template_id = options.get("template_id")
        if not template_id:
            raise ProviderError("needs_template", "Viggle needs a dance template to copy the moves from")
        image_id = options.get("image_id") or await self._upload(options.get("images") or [])
        body: dict[str, Any] = {
            "imageID": image_id,
            "bgMode": 2,
            "modelInfoID": 4,
            "templateID": template_id,
            "watermark": 1,
        }
        if options.get("video_id"):
            body["videoID"] = options["video_id"]
        answer = await self.http.post(self.path("/video-task"), body)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or not data.get("taskID"):
            raise self.bad_shape("a task id")
        return ProviderUpdate(JobStatus.SUBMITTED, progress=0, provider_task_ids=[str(data["taskID"])])

    async def _upload(self, images: list[str]) -> str:
        if not images:
            raise ProviderError("needs_image", "Viggle needs a picture of the character to animate")
        # Viggle only takes uploads (no image URL in its task body): a URL picture is fetched first.
        mime, payload = await picture_bytes(images[0])
        extension = mime.split("/")[-1] or "png"
        answer = await self.http.post(
            self.path("/asset/image"), files={"file": (f"image.{extension}", payload, mime)}
        )
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            raise self.bad_shape("an uploaded image id")
        return str(data["id"])

    async def poll(self, job: Job) -> ProviderUpdate:
        task_id = job.provider_task_ids[0]
        answer = await self.http.post(self.path("/video-task/by-ids"), {"ids": [task_id]})
        tasks = answer.get("data") if isinstance(answer, dict) else None
        task = next((t for t in tasks or [] if isinstance(t, dict) and str(t.get("taskID")) == task_id), None)
        if task is None:
            raise self.bad_shape("the task in its list")
        if task.get("status") == 0:
            if not task.get("result"):
                return ProviderUpdate(
                    JobStatus.FAILED, error="Viggle finished without a video", error_code="provider_failed"
                )
            return ProviderUpdate(
                JobStatus.SUCCEEDED,
                progress=100,
                result_urls=[task["result"]],
                result={"poster": task.get("resultCover") or "", "duration": task.get("videoDuration")},
            )
        return ProviderUpdate(JobStatus.RUNNING)
