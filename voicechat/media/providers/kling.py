"""Kling (video and image) through a gateway's `/kling` route.

Every answer is an envelope `{code, message, data}`; `code` 0 is success and anything else is a
fault whatever the HTTP status. Tasks go submitted -> processing -> succeed | failed.
"""

from __future__ import annotations

from typing import Any

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import BaseAdapter, ProviderError, ProviderUpdate, strip_data_url

_STATUS = {
    "submitted": JobStatus.SUBMITTED,
    "processing": JobStatus.RUNNING,
    "succeed": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
}


def envelope_error(code: int, message: str) -> ProviderError:
    """Kling's documented code ranges: 1000s auth, 1100s account, 1300s policy and rate, 5000s server."""
    text = f"Kling refused the request: {message or code}"
    if 1000 <= code < 1100:
        return ProviderError("auth", f"Kling refused our credentials ({message or code}); check KLING_KEY")
    if code == 1301:
        return ProviderError("banned_prompt", f"Kling refused the prompt: {message or 'content policy'}")
    if code in (1302, 1303):
        return ProviderError("rate_limited", "Kling is rate limiting us", retryable=True)
    if code >= 5000:
        return ProviderError("http_error", f"Kling had a server error: {message or code}", retryable=True)
    return ProviderError("rejected", text)


class KlingAdapter(BaseAdapter):
    name = "kling"
    label = "Kling"
    kinds = frozenset({MediaKind.VIDEO, MediaKind.IMAGE})
    server_env = "KLING_SERVER"
    key_env = "KLING_KEY"
    default_poll_interval_s = 5.2
    default_max_polls = 200
    actions = frozenset({"generate", "imagine"})

    def default_prefix(self, base_url: str) -> str:
        return "/kling"

    @staticmethod
    def task_path(kind: MediaKind, options: dict[str, Any]) -> str:
        """The submit path; polling is this path plus `/{task_id}`, so it is derived from the job again."""
        if kind is MediaKind.IMAGE:
            return "/v1/images/generations"
        return "/v1/videos/image2video" if options.get("images") else "/v1/videos/text2video"

    async def submit(self, request: MediaRequest) -> ProviderUpdate:
        options = request.options
        images = [strip_data_url(image) for image in options.get("images") or []]
        if request.kind is MediaKind.IMAGE:
            body: dict[str, Any] = {
                "prompt": request.prompt,
                "negative_prompt": options.get("negative_prompt", ""),
                "n": int(options.get("n", 1)),
                "aspect_ratio": options.get("aspect_ratio", "1:1"),
            }
            if images:
                body["image"] = images[0]
        else:
            model = options.get("model") or self.options.get("model") or "kling-v1-6"
            body = {
                "model": model,
                "prompt": request.prompt,
                "negative_prompt": options.get("negative_prompt", ""),
                "aspect_ratio": options.get("aspect_ratio", "16:9"),
                "duration": str(options.get("seconds", 5)),
            }
            if model != "kling-v2-master":  # v2-master takes no mode
                body["mode"] = options.get("mode", "std")
            if images:
                body["image"] = images[0]
            if len(images) > 1:
                body["image_tail"] = images[1]
        data = self._unwrap(await self.http.post(self.path(self.task_path(request.kind, options)), body))
        if not data.get("task_id"):
            raise self.bad_shape("a task id")
        return ProviderUpdate(JobStatus.SUBMITTED, progress=0, provider_task_ids=[str(data["task_id"])])

    async def poll(self, job: Job) -> ProviderUpdate:
        path = self.task_path(job.kind, job.params) + f"/{job.provider_task_ids[0]}"
        data = self._unwrap(await self.http.get(self.path(path)))
        status = _STATUS.get(str(data.get("task_status")))
        if status is None:
            raise self.bad_shape("a known task_status")
        if status is JobStatus.FAILED:
            reason = data.get("task_status_msg") or "the task failed"
            return self.failure(reason)
        if status is JobStatus.SUCCEEDED:
            result = data.get("task_result") or {}
            items = (result.get("videos") if job.kind is MediaKind.VIDEO else result.get("images")) or []
            urls = [item["url"] for item in items if isinstance(item, dict) and item.get("url")]
            if not urls:
                raise self.bad_shape("a result URL in a finished task")
            return ProviderUpdate(JobStatus.SUCCEEDED, progress=100, result_urls=urls)
        return ProviderUpdate(status)

    def _unwrap(self, answer: Any) -> dict[str, Any]:
        if not isinstance(answer, dict) or "code" not in answer:
            raise self.bad_shape("its {code, message, data} envelope")
        if answer["code"] != 0:
            raise envelope_error(int(answer["code"]), str(answer.get("message") or ""))
        data = answer.get("data")
        if not isinstance(data, dict):
            raise self.bad_shape("data in its envelope")
        return data
