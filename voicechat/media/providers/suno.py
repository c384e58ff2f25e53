"""Suno through a Suno-API server or a gateway's `/suno` route.

Two ways to ask: a description (`/generate/description-mode`, Suno writes the lyrics) or custom
lyrics (`/generate`). Either answers `{clips:[…]}` (usually two); `/feed/{id1,id2}` answers an
**array** of clips whose status goes submitted/queued -> streaming -> complete | error.
"""

from __future__ import annotations

from typing import Any

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderUpdate

# How far along a clip is, for a progress figure; Suno itself reports none.
_CLIP_PROGRESS = {"submitted": 5, "queued": 10, "streaming": 60, "complete": 100, "error": 100}


class SunoAdapter(BaseAdapter):
    name = "suno"
    label = "Suno"
    kinds = frozenset({MediaKind.MUSIC})
    server_env = "SUNO_SERVER"
    key_env = "SUNO_KEY"
    default_poll_interval_s = 5.1
    # The reference UI polls forever; we stop after about ten minutes.
    default_max_polls = 120
    actions = frozenset({"generate"})

    def default_prefix(self, base_url: str) -> str:
        # A gateway serves Suno under /suno; a URL that already names suno is a Suno-API root.
        return "" if "suno" in base_url.lower() else "/suno"

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        options = request.options
        model = options.get("model") or self.options.get("model") or "chirp-v4"
        if options.get("lyrics"):
            body: dict[str, Any] = {
                "prompt": options["lyrics"],
                "mv": model,
                "title": options.get("title", ""),
                "tags": options.get("tags") or request.prompt,
                "continue_at": None,
                "continue_clip_id": None,
                "task": "",
            }
            answer = await self.http.post(self.path("/generate"), body)
        else:
            body = {
                "gpt_description_prompt": request.prompt,
                "make_instrumental": bool(options.get("instrumental")),
                "mv": model,
                "prompt": "",
            }
            answer = await self.http.post(self.path("/generate/description-mode"), body)
        clips = answer.get("clips") if isinstance(answer, dict) else None
        ids = [str(clip["id"]) for clip in clips or [] if isinstance(clip, dict) and clip.get("id")]
        if not ids:
            raise self.bad_shape("any clips")
        return ProviderUpdate(JobStatus.SUBMITTED, progress=0, provider_task_ids=ids)

    async def poll(self, job: Job) -> ProviderUpdate:
        answer = await self.http.get(self.path("/feed/" + ",".join(job.provider_task_ids)))
        if isinstance(answer, dict):  # some gateways wrap the array
            answer = answer.get("data") or answer.get("clips")
        if not isinstance(answer, list) or not answer:
            raise self.bad_shape("a list of clips")
        clips = [clip for clip in answer if isinstance(clip, dict)]
        statuses = [str(clip.get("status", "")).lower() for clip in clips]
        progress = sum(_CLIP_PROGRESS.get(status, 10) for status in statuses) // len(statuses)
        if any(status not in ("complete", "error") for status in statuses):
            started = any(status in ("streaming", "complete") for status in statuses)
            return ProviderUpdate(
                JobStatus.RUNNING if started else JobStatus.SUBMITTED, progress=min(progress, 99)
            )
        done = [
            clip for clip in clips if str(clip.get("status")).lower() == "complete" and clip.get("audio_url")
        ]
        if not done:
            reasons = [(clip.get("metadata") or {}).get("error_message") for clip in clips]
            reason = next((r for r in reasons if r), "no clip finished")
            return self.failure(reason)
        summary = [
            {
                "id": clip.get("id"),
                "title": clip.get("title") or "",
                "audio_url": clip["audio_url"],
                "video_url": clip.get("video_url") or "",
                "image_url": clip.get("image_url") or "",
                "duration": (clip.get("metadata") or {}).get("duration"),
                "tags": (clip.get("metadata") or {}).get("tags") or "",
            }
            for clip in done
        ]
        return ProviderUpdate(
            JobStatus.SUCCEEDED,
            progress=100,
            result_urls=[c["audio_url"] for c in summary],
            result={"clips": summary, "titles": [c["title"] for c in summary if c["title"]]},
        )
