"""Ideogram through a gateway (`/ideogram/generate`, Bearer auth). Synchronous like OpenAI images."""

from __future__ import annotations

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderError, ProviderUpdate

_ASPECTS = {
    "1:1": "ASPECT_1_1",
    "16:9": "ASPECT_16_9",
    "9:16": "ASPECT_9_16",
    "4:3": "ASPECT_4_3",
    "3:4": "ASPECT_3_4",
    "3:2": "ASPECT_3_2",
    "2:3": "ASPECT_2_3",
}


class IdeogramAdapter(BaseAdapter):
    name = "ideogram"
    label = "Ideogram"
    kinds = frozenset({MediaKind.IMAGE})
    server_env = "IDEO_SERVER"
    key_env = "IDEO_KEY"
    default_poll_interval_s = 1.0
    default_max_polls = 1
    default_timeout_s = 180.0
    actions = frozenset({"imagine"})

    def default_prefix(self, base_url: str) -> str:
        return "/ideogram"

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        if request.action != "imagine":
            raise ProviderError("unsupported", f"Ideogram cannot {request.action}")
        aspect = request.options.get("aspect_ratio", "1:1")
        image_request = {
            "model": request.options.get("model") or self.options.get("model") or "V_2",
            "prompt": request.prompt,
            "aspect_ratio": _ASPECTS.get(aspect, aspect),
            "magic_prompt_option": "AUTO",
        }
        answer = await self.http.post(self.path("/generate"), {"image_request": image_request})
        items = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise self.bad_shape("a data list")
        safe = [item for item in items if item.get("url") and item.get("is_image_safe", True)]
        if not safe:
            if items:
                raise ProviderError("banned_prompt", "Ideogram flagged every image as unsafe")
            raise self.bad_shape("any images")
        return ProviderUpdate(
            JobStatus.SUCCEEDED,
            progress=100,
            result_urls=[item["url"] for item in safe],
            result={"prompt": safe[0].get("prompt") or "", "seed": safe[0].get("seed")},
        )

    async def poll(self, job: Job) -> ProviderUpdate:
        raise ProviderError("unsupported", "Ideogram has no tasks to poll")
