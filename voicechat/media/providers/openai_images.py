"""OpenAI-compatible image generation (dall-e-3, gpt-image-1, or whatever the gateway maps).

Synchronous: one POST answers with the finished images, as URLs or as base64 (`b64_json`; gpt-image
models only ever answer that way). Base64 images come back as files for the service to store.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderError, ProviderUpdate


class OpenAIImagesAdapter(BaseAdapter):
    name = "openai"
    label = "the OpenAI image API"
    kinds = frozenset({MediaKind.IMAGE})
    server_env = "OPENAI_API_BASE_URL"
    key_env = "OPENAI_API_KEY"
    default_poll_interval_s = 1.0
    default_max_polls = 1
    # Generation happens inside the request and takes tens of seconds.
    default_timeout_s = 180.0
    actions = frozenset({"imagine"})

    def default_prefix(self, base_url: str) -> str:
        # Users often write the base with /v1 already (https://api.openai.com/v1); accept both.
        return "" if base_url.endswith("/v1") else "/v1"

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        if request.action != "imagine":
            raise ProviderError("unsupported", f"the OpenAI image API cannot {request.action}")
        model = request.options.get("model") or self.options.get("model") or "dall-e-3"
        body: dict[str, Any] = {
            "model": model,
            "prompt": request.prompt,
            "n": 1,
            "size": request.options.get("size") or self.options.get("size") or "1024x1024",
        }
        if request.options.get("quality"):
            body["quality"] = request.options["quality"]
        if model.startswith("dall-e"):
            # gpt-image models reject response_format; dall-e defaults to URLs anyway but say so.
            body["response_format"] = "url"
        answer = await self.http.post(self.path("/images/generations"), body)
        items = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(items, list) or not items:
            raise self.bad_shape("any images")
        urls: list[str] = []
        files: list[tuple[str, bytes]] = []
        for item in items:
            if item.get("url"):
                urls.append(item["url"])
            elif item.get("b64_json"):
                try:
                    files.append((".png", base64.b64decode(item["b64_json"], validate=True)))
                except (binascii.Error, ValueError):
                    raise self.bad_shape("valid base64 image data") from None
        if not urls and not files:
            raise self.bad_shape("an image URL or b64_json")
        revised = items[0].get("revised_prompt") or ""
        return ProviderUpdate(
            JobStatus.SUCCEEDED,
            progress=100,
            result_urls=urls,
            files=files,
            result={"model": model, "revised_prompt": revised},
        )

    async def poll(self, job: Job) -> ProviderUpdate:
        # Nothing to poll: a synchronous job is finished or re-sent by the service.
        raise ProviderError("unsupported", "the OpenAI image API has no tasks to poll")
