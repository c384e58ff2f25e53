"""Pika through a gateway: `/pika/generate` then `/pika/feed/{id}` until the video is `finished`."""

from __future__ import annotations

from typing import Any

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderUpdate, progress_from


class PikaAdapter(BaseAdapter):
    name = "pika"
    label = "Pika"
    kinds = frozenset({MediaKind.VIDEO})
    server_env = "PIKA_SERVER"
    key_env = "PIKA_KEY"
    default_poll_interval_s = 5.2
    default_max_polls = 200
    actions = frozenset({"generate"})

    def default_prefix(self, base_url: str) -> str:
        return "/pika"

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        images = list(request.options.get("images") or [])
        body: dict[str, Any] = {
            "promptText": request.prompt,
            "model": request.options.get("model") or self.options.get("model") or "2.0",
            "options": {
                "aspectRatio": 16 / 9,
                "frameRate": 24,
                "camera": {},
                "parameters": {
                    "guidanceScale": 12,
                    "motion": 1,
                    "negativePrompt": request.options.get("negative_prompt", ""),
                },
                "extend": False,
            },
        }
        if images:
            body["image"] = images[0]
        answer = await self.http.post(self.path("/generate"), body)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise self.bad_shape("a generation id")
        return ProviderUpdate(JobStatus.SUBMITTED, progress=0, provider_task_ids=[str(answer["id"])])

    async def poll(self, job: Job) -> ProviderUpdate:
        answer = await self.http.get(self.path(f"/feed/{job.provider_task_ids[0]}"))
        videos = answer.get("videos") if isinstance(answer, dict) else None
        if not isinstance(videos, list) or not videos or not isinstance(videos[0], dict):
            raise self.bad_shape("a video entry")
        video = videos[0]
        status = str(video.get("status") or "").lower()
        if status == "finished" and video.get("resultUrl"):
            return ProviderUpdate(
                JobStatus.SUCCEEDED,
                progress=100,
                result_urls=[video["resultUrl"]],
                result={"poster": video.get("videoPoster") or "", "duration": video.get("duration")},
            )
        if status == "error":
            reason = video.get("error") or "the generation failed"
            return self.failure(reason)
        return ProviderUpdate(
            JobStatus.SUBMITTED if status == "queued" else JobStatus.RUNNING,
            progress=progress_from(video.get("progress")),
        )
