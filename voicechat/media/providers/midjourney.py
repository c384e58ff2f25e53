"""Midjourney through a midjourney-proxy server (novicezk open source, or the "plus"/trueai API).

Success is the JSON `code`, not the HTTP status: 1 ok, 22 queued, 21 needs a modal confirm,
23 queue full, 24 banned prompt. Follow-ups (U1-4, V1-4, reroll) use the task's `buttons[].customId`
on `/submit/action` when the proxy offers buttons, and the open-source `/submit/change` otherwise.
"""

from __future__ import annotations

from typing import Any

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderError, ProviderUpdate, progress_from

_STATUS = {
    "NOT_START": JobStatus.SUBMITTED,
    "SUBMITTED": JobStatus.SUBMITTED,
    "MODAL": JobStatus.RUNNING,
    "IN_PROGRESS": JobStatus.RUNNING,
    "SUCCESS": JobStatus.SUCCEEDED,
    "FAILURE": JobStatus.FAILED,
    "CANCEL": JobStatus.FAILED,
}

# Substrings that pick a button's customId, as the reference UI does. The leading ":" keeps
# `upsample::1` from matching `upsample_v6_2x_subtle::1` and `variation::1` from `low_variation::1`.
_BUTTON_KEY = {"upscale": ":upsample::{index}", "variation": ":variation::{index}", "reroll": "reroll::0"}
_CHANGE_ACTION = {"upscale": "UPSCALE", "variation": "VARIATION", "reroll": "REROLL"}


class MidjourneyAdapter(BaseAdapter):
    name = "midjourney"
    label = "Midjourney"
    kinds = frozenset({MediaKind.IMAGE})
    server_env = "MJ_SERVER"
    key_env = "MJ_API_SECRET"
    auth = "mj"
    default_poll_interval_s = 5.0
    default_max_polls = 100
    actions = frozenset({"imagine", "blend", "describe", "face_swap"})

    def default_prefix(self, base_url: str) -> str:
        return "/mj"

    @property
    def bot_type(self) -> str:
        return self.options.get("bot_type", "MID_JOURNEY")

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        images = list(request.options.get("images") or [])
        bot = request.options.get("bot_type", self.bot_type)
        if request.action == "imagine":
            body: dict[str, Any] = {
                "prompt": request.prompt,
                "base64Array": images,
                "botType": bot,
                "notifyHook": "",
                "state": "",
            }
            return await self._submit("/submit/imagine", body, request.prompt)
        if request.action == "blend":
            if not 2 <= len(images) <= 5:
                raise ProviderError("bad_request", "blending needs between two and five pictures")
            body = {
                "base64Array": images,
                "dimensions": request.options.get("dimensions", "SQUARE"),
                "botType": bot,
            }
            return await self._submit("/submit/blend", body, "")
        if request.action == "describe":
            if not images:
                raise ProviderError("bad_request", "describing needs a picture")
            return await self._submit("/submit/describe", {"base64": images[0], "botType": bot}, "")
        if request.action == "face_swap":
            if len(images) < 2:
                raise ProviderError("bad_request", "a face swap needs a face picture and a target picture")
            body = {"sourceBase64": images[0], "targetBase64": images[1]}
            return await self._submit("/insight-face/swap", body, "")
        raise ProviderError("unsupported", f"Midjourney cannot {request.action}")

    async def action(self, job: Job, action: str, index: int) -> ProviderUpdate:
        """U/V/reroll on a finished grid `job`; the answer describes the new child task."""
        if action not in _BUTTON_KEY:
            raise ProviderError("unsupported", f"Midjourney has no {action} button")
        if not job.provider_task_ids:
            raise ProviderError("bad_request", "that picture has no Midjourney task to act on")
        task_id = job.provider_task_ids[0]
        buttons = job.result.get("buttons") or []
        if buttons:
            key = _BUTTON_KEY[action].format(index=index)
            custom_id = next((b["custom_id"] for b in buttons if key in b.get("custom_id", "")), None)
            if custom_id is None:
                raise ProviderError("bad_request", f"that picture has no {action} button for number {index}")
            body: dict[str, Any] = {"taskId": task_id, "customId": custom_id}
            return await self._submit("/submit/action", body, job.result.get("final_prompt", ""))
        body = {"taskId": task_id, "action": _CHANGE_ACTION[action], "index": index}
        if action == "reroll":
            body.pop("index")
        return await self._submit("/submit/change", body, "")

    async def _submit(
        self, path: str, body: dict[str, Any], prompt: str, *, confirmed: bool = False
    ) -> ProviderUpdate:
        answer = await self.http.post(self.path(path), body)
        if not isinstance(answer, dict) or "code" not in answer:
            raise self.bad_shape("a submit code")
        code = answer.get("code")
        properties = answer.get("properties") or {}
        description = str(answer.get("description") or "")
        task_id = str(answer.get("result") or "")
        needs_modal = code == 21 or (code == 1 and "confirm" in description.lower())
        if needs_modal and task_id and not confirmed:
            # The proxy wants a confirmation (remix, zoom, "exists"): send the modal with the final prompt.
            modal: dict[str, Any] = {"taskId": task_id}
            final_prompt = properties.get("finalPrompt") or prompt
            if final_prompt:
                modal["prompt"] = final_prompt
            return await self._submit("/submit/modal", modal, prompt, confirmed=True)
        if code in (1, 22) and task_id:
            result: dict[str, Any] = {}
            if code == 22:
                result["queue_position"] = properties.get("numberOfQueues")
            return ProviderUpdate(JobStatus.SUBMITTED, progress=0, provider_task_ids=[task_id], result=result)
        if code == 23:
            raise ProviderError("queue_full", "Midjourney's queue is full right now", retryable=True)
        if code == 24:
            word = properties.get("bannedWord")
            reason = (
                f"Midjourney refused the prompt because of the word \u201c{word}\u201d"
                if word
                else "Midjourney refused the prompt as banned"
            )
            raise ProviderError("banned_prompt", reason)
        reason = description or f"code {code}"
        raise ProviderError("rejected", f"Midjourney rejected the request: {reason}")

    async def poll(self, job: Job) -> ProviderUpdate:
        task = await self.http.get(self.path(f"/task/{job.provider_task_ids[0]}/fetch"))
        if not isinstance(task, dict) or "status" not in task:
            # novicezk answers a null body for an unknown id; the task may simply not be indexed yet.
            raise ProviderError("bad_response", "Midjourney does not know this task (yet)", retryable=True)
        status = _STATUS.get(str(task.get("status")))
        if status is None:
            raise ProviderError(
                "bad_response", f"Midjourney reported an unknown status {task.get('status')!r}"
            )
        if status is JobStatus.FAILED:
            reason = task.get("failReason") or str(task.get("status")).lower()
            return ProviderUpdate(
                JobStatus.FAILED, error=f"Midjourney failed: {reason}", error_code="provider_failed"
            )
        if status is JobStatus.SUCCEEDED:
            return self._success(task)
        return ProviderUpdate(status, progress=progress_from(task.get("progress")))

    def _success(self, task: dict[str, Any]) -> ProviderUpdate:
        images = [
            item["url"] for item in task.get("imageUrls") or [] if isinstance(item, dict) and item.get("url")
        ]
        urls = [task["imageUrl"]] if task.get("imageUrl") else list(images)
        if task.get("videoUrl"):
            urls.append(task["videoUrl"])
        properties = task.get("properties") or {}
        result: dict[str, Any] = {
            "mj_action": task.get("action"),
            "buttons": [
                {"label": b.get("label") or b.get("emoji") or "", "custom_id": b["customId"]}
                for b in task.get("buttons") or []
                if isinstance(b, dict) and b.get("customId")
            ],
            "images": images,
            "prompt_en": task.get("promptEn") or "",
            "final_prompt": properties.get("finalPrompt") or "",
        }
        if task.get("action") in ("DESCRIBE", "SHORTEN"):
            # Describe/shorten results are text, not pictures.
            result["text"] = result["final_prompt"] or task.get("prompt") or ""
        if not urls and "text" not in result:
            raise self.bad_shape("an image URL in a finished task")
        return ProviderUpdate(JobStatus.SUCCEEDED, progress=100, result_urls=urls, result=result)
