"""Runway through a gateway's unofficial, web-style `/runway/tasks` API (gen3a_turbo by default)."""

from __future__ import annotations

from typing import Any

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderUpdate, progress_from


def error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("reason") or error.get("code") or "")
    return str(error or "")


class RunwayAdapter(BaseAdapter):
    name = "runway"
    label = "Runway"
    kinds = frozenset({MediaKind.VIDEO})
    server_env = "RUNWAY_SERVER"
    key_env = "RUNWAY_KEY"
    default_poll_interval_s = 5.2
    default_max_polls = 200
    actions = frozenset({"generate"})

    def default_prefix(self, base_url: str) -> str:
        return "/runway"

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        images = list(request.options.get("images") or [])
        options: dict[str, Any] = {
            "name": request.prompt[:60],
            "seconds": int(request.options.get("seconds", 5)),
            "text_prompt": request.prompt,
            "exploreMode": False,
            "watermark": False,
            "enhance_prompt": True,
            "resolution": "720p",
        }
        if images:
            options["init_image"] = images[0]
        body = {
            "taskType": request.options.get("model") or self.options.get("model") or "gen3a_turbo",
            "internal": False,
            "options": options,
        }
        answer = await self.http.post(self.path("/tasks"), body)
        task = answer.get("task") if isinstance(answer, dict) else None
        if not isinstance(task, dict) or not task.get("id"):
            raise self.bad_shape("a task id")
        return ProviderUpdate(JobStatus.SUBMITTED, progress=0, provider_task_ids=[str(task["id"])])

    async def poll(self, job: Job) -> ProviderUpdate:
        answer = await self.http.get(self.path(f"/tasks/{job.provider_task_ids[0]}"))
        task = answer.get("task") if isinstance(answer, dict) else None
        if not isinstance(task, dict) or "status" not in task:
            raise self.bad_shape("a task status")
        status = str(task["status"]).upper()
        if status == "SUCCEEDED":
            urls = [a["url"] for a in task.get("artifacts") or [] if isinstance(a, dict) and a.get("url")]
            if not urls:
                raise self.bad_shape("a video in a finished task")
            return ProviderUpdate(JobStatus.SUCCEEDED, progress=100, result_urls=urls)
        if status in ("FAILED", "CANCELLED"):
            reason = error_text(task.get("error")) or status.lower()
            return self.failure(reason)
        running = status not in ("PENDING", "THROTTLED", "")
        return ProviderUpdate(
            JobStatus.RUNNING if running else JobStatus.SUBMITTED,
            progress=progress_from(task.get("progressRatio")),
        )
