"""PixVerse through a gateway: answers are `{ErrCode, Resp}`; `video_status` 1 means done."""

from __future__ import annotations

from typing import Any

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderError, ProviderUpdate

# PixVerse's platform API documents 7 (moderation failed) and 8 (generation failed) besides 1 (done).
_FAILED = {7: "the video did not pass moderation", 8: "the generation failed"}


class PixVerseAdapter(BaseAdapter):
    name = "pixverse"
    label = "PixVerse"
    kinds = frozenset({MediaKind.VIDEO})
    server_env = "PIXVERSE_SERVER"
    key_env = "PIXVERSE_KEY"
    default_poll_interval_s = 5.2
    default_max_polls = 200
    actions = frozenset({"generate"})

    def default_prefix(self, base_url: str) -> str:
        return "/pixverse"

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        options = request.options
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "model": options.get("model") or "v4.5",
            "quality": options.get("quality", "360p"),
            "duration": int(options.get("seconds", 5)),
            "aspect_ratio": options.get("aspect_ratio", "16:9"),
            "motion_mode": "normal",
            "seed": int(options.get("seed", 0)),
        }
        images = list(options.get("images") or [])
        if images:
            body["img_url"] = images[0]
        resp = self._unwrap(await self.http.post(self.path("/generate"), body))
        if not resp.get("video_id"):
            raise self.bad_shape("a video id")
        return ProviderUpdate(JobStatus.SUBMITTED, progress=0, provider_task_ids=[str(resp["video_id"])])

    async def poll(self, job: Job) -> ProviderUpdate:
        resp = self._unwrap(await self.http.get(self.path(f"/feed/{job.provider_task_ids[0]}")))
        status = resp.get("video_status")
        if status == 1:
            if not resp.get("url"):
                raise self.bad_shape("a video URL in a finished task")
            return ProviderUpdate(
                JobStatus.SUCCEEDED,
                progress=100,
                result_urls=[resp["url"]],
                result={"poster": resp.get("first_frame") or "", "duration": resp.get("video_duration")},
            )
        if status in _FAILED:
            return ProviderUpdate(
                JobStatus.FAILED,
                error=f"PixVerse failed: {_FAILED[status]}",
                error_code="banned_prompt" if status == 7 else "provider_failed",
            )
        return ProviderUpdate(JobStatus.RUNNING)

    def _unwrap(self, answer: Any) -> dict[str, Any]:
        if not isinstance(answer, dict) or "ErrCode" not in answer:
            raise self.bad_shape("its {ErrCode, Resp} envelope")
        if answer["ErrCode"] != 0:
            message = answer.get("ErrMsg") or f"error {answer['ErrCode']}"
            raise ProviderError("rejected", f"PixVerse refused the request: {message}")
        resp = answer.get("Resp")
        if not isinstance(resp, dict):
            raise self.bad_shape("Resp in its envelope")
        return resp
