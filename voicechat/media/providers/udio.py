"""Udio through a gateway: `/udio/submit/music` then `/udio/fetch/{taskId}` until "SUCCESS"."""

from __future__ import annotations

from typing import Any

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderUpdate


class UdioAdapter(BaseAdapter):
    name = "udio"
    label = "Udio"
    kinds = frozenset({MediaKind.MUSIC})
    server_env = "UDIO_SERVER"
    key_env = "UDIO_KEY"
    default_poll_interval_s = 5.0
    default_max_polls = 50
    actions = frozenset({"generate"})

    def default_prefix(self, base_url: str) -> str:
        return "/udio"

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        options = request.options
        if options.get("lyrics"):
            lyrics_type = "user"
        elif options.get("instrumental"):
            lyrics_type = "instrumental"
        else:
            lyrics_type = "generate"
        gen_params: dict[str, Any] = {
            "prompt": request.prompt,
            "lyrics": options.get("lyrics", ""),
            "lyrics_type": lyrics_type,
            "model_type": options.get("model") or self.options.get("model") or "udio32-v1.5",
            "seed": -1,
            "config": {"mode": "regular"},
        }
        answer = await self.http.post(self.path("/submit/music"), {"gen_params": gen_params})
        task_id = answer.get("data") if isinstance(answer, dict) else None
        if not task_id or not isinstance(task_id, (str, int)):
            raise self.bad_shape("a task id")
        return ProviderUpdate(JobStatus.SUBMITTED, progress=0, provider_task_ids=[str(task_id)])

    async def poll(self, job: Job) -> ProviderUpdate:
        answer = await self.http.get(self.path(f"/fetch/{job.provider_task_ids[0]}"))
        task = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(task, dict):
            raise self.bad_shape("a task")
        status = str(task.get("status") or "").upper()
        songs = ((task.get("data") or {}).get("songs")) or []
        if status == "SUCCESS":
            finished = [song for song in songs if song.get("song_path")]
            if not finished:
                raise self.bad_shape("a song file in a finished task")
            summary = [
                {
                    "id": s.get("id"),
                    "title": s.get("title") or "",
                    "audio_url": s["song_path"],
                    "image_url": s.get("image_path") or "",
                    "duration": s.get("duration"),
                    "lyrics": s.get("lyrics") or "",
                }
                for s in finished
            ]
            return ProviderUpdate(
                JobStatus.SUCCEEDED,
                progress=100,
                result_urls=[s["audio_url"] for s in summary],
                result={"clips": summary, "titles": [s["title"] for s in summary if s["title"]]},
            )
        if "FAIL" in status or task.get("fail_reason"):
            reason = task.get("fail_reason") or status.lower()
            return self.failure(reason)
        return ProviderUpdate(JobStatus.RUNNING if status else JobStatus.SUBMITTED)
