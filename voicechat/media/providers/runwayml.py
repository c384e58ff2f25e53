"""Runway's official API (`/v1/image_to_video`, `X-Runway-Version: 2024-11-06`).

It animates a starting picture, so a request needs an image. Through a gateway the calls go
under `/runwayml`; straight to *.runwayml.com they do not.
"""

from __future__ import annotations

from typing import Any

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderError, ProviderUpdate, progress_from
from voicechat.media.providers.runway import error_text

RUNWAY_VERSION = "2024-11-06"


class RunwayMLAdapter(BaseAdapter):
    name = "runwayml"
    label = "RunwayML"
    kinds = frozenset({MediaKind.VIDEO})
    server_env = "RUNWAYML_SERVER"
    key_env = "RUNWAYML_KEY"
    default_poll_interval_s = 5.8
    default_max_polls = 200
    extra_headers = {"X-Runway-Version": RUNWAY_VERSION}
    actions = frozenset({"generate"})

    def default_prefix(self, base_url: str) -> str:
        return "" if "runwayml.com" in base_url else "/runwayml"

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        images = list(request.options.get("images") or [])
        if not images:
            raise ProviderError(
                "needs_image", "RunwayML can only animate a picture; give it a starting image"
            )
        prompt_image = [{"uri": images[0], "position": "first"}]
        if len(images) > 1:
            prompt_image.append({"uri": images[1], "position": "last"})
        body: dict[str, Any] = {
            "model": request.options.get("model") or self.options.get("model") or "gen4_turbo",
            "promptText": request.prompt,
            "promptImage": prompt_image,
            "duration": int(request.options.get("seconds", 5)),
            "ratio": request.options.get("ratio", "1280:720"),
        }
        answer = await self.http.post(self.path("/v1/image_to_video"), body)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise self.bad_shape("a task id")
        return ProviderUpdate(JobStatus.SUBMITTED, progress=0, provider_task_ids=[str(answer["id"])])

    async def poll(self, job: Job) -> ProviderUpdate:
        task = await self.http.get(self.path(f"/v1/tasks/{job.provider_task_ids[0]}"))
        if not isinstance(task, dict) or "status" not in task:
            raise self.bad_shape("a task status")
        status = str(task["status"]).upper()
        if status == "SUCCEEDED":
            urls = [url for url in task.get("output") or [] if isinstance(url, str)]
            if not urls:
                raise self.bad_shape("a video in a finished task")
            return ProviderUpdate(JobStatus.SUCCEEDED, progress=100, result_urls=urls)
        if status in ("FAILED", "CANCELLED"):
            reason = error_text(task.get("failure")) or task.get("failureCode") or status.lower()
            return self.failure(reason)
        if status in ("PENDING", "THROTTLED"):
            return ProviderUpdate(JobStatus.SUBMITTED)
        return ProviderUpdate(JobStatus.RUNNING, progress=progress_from(task.get("progress")))
