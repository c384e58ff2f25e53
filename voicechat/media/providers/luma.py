"""Luma Dream Machine through a gateway's `/luma` route.

The submit answer may be an object or an array; a generation is only done when its state is
`completed` **and** `video.download_url` is set (the plain `url` can appear earlier).
"""

from __future__ import annotations

from typing import Any

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderUpdate


class LumaAdapter(BaseAdapter):
    name = "luma"
    label = "Luma"
    kinds = frozenset({MediaKind.VIDEO})
    server_env = "LUMA_SERVER"
    key_env = "LUMA_KEY"
    default_poll_interval_s = 5.0
    default_max_polls = 120
    actions = frozenset({"generate"})

    def default_prefix(self, base_url: str) -> str:
        return "/pro/luma" if self.options.get("pro") else "/luma"

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        images = list(request.options.get("images") or [])
        body: dict[str, Any] = {
            "user_prompt": request.prompt,
            "aspect_ratio": request.options.get("aspect_ratio", "16:9"),
            "loop": bool(request.options.get("loop", False)),
            "expand_prompt": True,
        }
        if images:
            body["image_url"] = images[0]
        if len(images) > 1:
            body["image_end_url"] = images[1]
        answer = await self.http.post(self.path("/generations/"), body)
        first = answer[0] if isinstance(answer, list) and answer else answer
        task_id = first.get("id") if isinstance(first, dict) else None
        if not task_id:
            raise self.bad_shape("a generation id")
        return ProviderUpdate(JobStatus.SUBMITTED, progress=0, provider_task_ids=[str(task_id)])

    async def poll(self, job: Job) -> ProviderUpdate:
        answer = await self.http.get(self.path(f"/generations/{job.provider_task_ids[0]}"))
        if not isinstance(answer, dict) or "state" not in answer:
            raise self.bad_shape("a generation state")
        state = str(answer.get("state")).lower()
        video = answer.get("video") or {}
        if state == "failed":
            reason = answer.get("failure_reason") or "the generation failed"
            return self.failure(reason)
        if state == "completed" and video.get("download_url"):
            return ProviderUpdate(
                JobStatus.SUCCEEDED,
                progress=100,
                result_urls=[video["download_url"]],
                result={
                    "video_url": video.get("url") or "",
                    "thumbnail": video.get("thumbnail") or "",
                    "width": video.get("width"),
                    "height": video.get("height"),
                },
            )
        if state == "pending":
            return ProviderUpdate(JobStatus.SUBMITTED)
        # "processing", or "completed" while the download link is still being made.
        return ProviderUpdate(JobStatus.RUNNING, progress=99 if state == "completed" else None)
