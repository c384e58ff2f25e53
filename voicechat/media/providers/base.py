"""What every media provider adapter looks like, and the HTTP helper they share.

An adapter only translates: a `MediaRequest` into the provider's submit call, the provider's task
into a `ProviderUpdate`. Polling, retries, persistence and telling the user live in the service.
Faults become `ProviderError` with a reason fit to be spoken and a machine `code`.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest

log = logging.getLogger(__name__)


@dataclass
class ProviderUpdate:
    """One observation of a provider task, in our terms. `progress=None` means "unchanged"."""

    status: JobStatus
    progress: int | None = None
    result_urls: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_code: str = ""
    provider_task_ids: list[str] = field(default_factory=list)
    # Media that came back as bytes (e.g. b64_json images): (file suffix, data). The service stores them.
    files: list[tuple[str, bytes]] = field(default_factory=list)


class ProviderError(Exception):
    """A fault talking to a provider. `retryable` faults are retried with back-off; the rest fail the job."""

    def __init__(self, code: str, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


@runtime_checkable
class MediaProvider(Protocol):
    name: str
    label: str  # how the provider is named in sentences ("" = its name)
    kinds: frozenset[MediaKind]
    actions: frozenset[str]  # the request actions it takes (imagine, generate, blend…)
    general_purpose: bool  # may be picked as a kind's default (False: needs more than a prompt)
    poll_interval_s: float
    max_polls: int

    async def submit(self, request: MediaRequest) -> ProviderUpdate: ...

    async def poll(self, job: Job) -> ProviderUpdate: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ListsTemplates(Protocol):
    """A provider with a catalogue a request can name things from (Viggle's dance templates)."""

    async def templates(self, keyword: str = "") -> list[dict[str, Any]]: ...


@runtime_checkable
class FollowsUp(Protocol):
    """A provider with buttons on a finished job (Midjourney's upscale, variation and reroll)."""

    async def action(self, job: Job, action: str, index: int) -> ProviderUpdate:
        """Press `action` (number `index`, 1-4; 0 for reroll) on the finished `job`: a new task."""
        ...


def spoken_name(provider: MediaProvider) -> str:
    """How a provider is named in sentences."""
    return provider.label or provider.name


def strip_data_url(value: str) -> str:
    """`data:image/png;base64,AAAA` -> `AAAA` (some providers want raw base64)."""
    return value.split(",", 1)[1] if value.startswith("data:") and "," in value else value


def decode_data_url(value: str) -> tuple[str, bytes]:
    """A data URL -> (mime type, bytes)."""
    header, _, payload = value.partition(",")
    mime = header[5:].split(";")[0] if header.startswith("data:") else "application/octet-stream"
    return mime or "application/octet-stream", base64.b64decode(payload)


def body_message(data: Any) -> str:
    """The human message a provider put in an error body, in the places providers put it."""
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        for key in ("message", "description", "detail", "ErrMsg", "failReason"):
            if isinstance(data.get(key), str) and data[key]:
                return data[key]
    return ""


class ProviderHTTP:
    """JSON over HTTP with one provider: auth header, timeout, and faults turned into `ProviderError`.

    The key is only ever put into a header. Every message that leaves this class is scrubbed of it,
    because gateways sometimes echo request headers back in their error pages.
    """

    def __init__(
        self,
        label: str,
        base_url: str,
        key: SecretStr | None,
        *,
        server_env: str,
        key_env: str,
        auth: str = "bearer",
        timeout_s: float = 30.0,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.label = label
        self.base_url = base_url.rstrip("/")
        self.server_env = server_env
        self.key_env = key_env
        self.timeout_s = timeout_s
        self._key = key
        self._headers = {"Accept": "application/json", **(headers or {})}
        secret = key.get_secret_value() if key else ""
        if secret:
            if auth == "mj":
                self._headers["mj-api-secret"] = secret
            else:
                self._headers["Authorization"] = f"Bearer {secret}"
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    def scrub(self, text: str) -> str:
        secret = self._key.get_secret_value() if self._key else ""
        return text.replace(secret, "***") if secret else text

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)

    async def post(self, path: str, body: Any = None, *, files: dict[str, Any] | None = None) -> Any:
        return await self.request("POST", path, body, files=files)

    async def request(
        self, method: str, path: str, body: Any = None, *, files: dict[str, Any] | None = None
    ) -> Any:
        url = self.base_url + path
        try:
            if files is not None:
                response = await self._client.request(
                    method, url, headers=self._headers, files=files, data=body
                )
            else:
                response = await self._client.request(method, url, headers=self._headers, json=body)
        except httpx.TimeoutException:
            raise ProviderError(
                "timeout", f"{self.label} did not answer within {self.timeout_s:g} seconds", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            # Connection refused, DNS failure, reset: the server may come back, so retry.
            raise ProviderError(
                "unreachable",
                self.scrub(
                    f"I could not reach {self.label} at {self._host()} ({type(exc).__name__}); "
                    f"check {self.server_env}"
                ),
                retryable=True,
            ) from None
        return self._decode(response, path)

    def _host(self) -> str:
        return httpx.URL(self.base_url).host or self.base_url

    def _decode(self, response: httpx.Response, path: str) -> Any:
        status = response.status_code
        text = response.text
        looks_html = "html" in response.headers.get("content-type", "") or text.lstrip()[:1] == "<"
        data: Any = None
        if text.strip() and not looks_html:
            try:
                data = json.loads(text)
            except ValueError:
                data = None
        detail = self.scrub(body_message(data))
        suffix = f": {detail}" if detail else ""
        if status in (401, 403):
            raise ProviderError(
                "auth", f"{self.label} refused our credentials (HTTP {status}){suffix}; check {self.key_env}"
            )
        if status == 423:
            # The reference UI's backend answers 423 {"code":"token_check"} when its access token is wrong.
            raise ProviderError(
                "auth",
                f"the gateway's access token check failed (HTTP 423){suffix}; "
                f"check {self.key_env} and {self.server_env}",
            )
        if status == 429:
            raise ProviderError(
                "rate_limited", f"{self.label} is rate limiting us (HTTP 429)", retryable=True
            )
        if status >= 500:
            raise ProviderError(
                "http_error", f"{self.label} had a server error (HTTP {status}){suffix}", retryable=True
            )
        if status == 404:
            raise ProviderError(
                "no_route",
                f"{self.label} has no route for {path} (HTTP 404); "
                f"check {self.server_env} points to a server that offers it",
            )
        if status >= 400:
            code = "http_error"
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                if data["error"].get("code") == "content_policy_violation":
                    code = "banned_prompt"
            raise ProviderError(code, f"{self.label} rejected the request (HTTP {status}){suffix}")
        if looks_html:
            raise ProviderError(
                "bad_response",
                f"{self.label}'s server answered with a web page instead of "
                f"JSON; check {self.server_env} points to the API, not the web UI",
            )
        if data is None:
            what = "an empty answer" if not text.strip() else "something that is not JSON"
            raise ProviderError(
                "bad_response",
                f"{self.label} answered with {what}; check {self.server_env} points to the API",
            )
        return data


class BaseAdapter:
    """Shared wiring for adapters: configuration, the HTTP helper, and the poll defaults.

    Subclasses set the class attributes from providers.md and implement `submit` and `poll`.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""  # how the provider is named in sentences
    kinds: ClassVar[frozenset[MediaKind]] = frozenset()
    actions: ClassVar[frozenset[str]] = frozenset()  # every adapter names its own
    server_env: ClassVar[str] = ""
    key_env: ClassVar[str] = ""
    auth: ClassVar[str] = "bearer"
    default_poll_interval_s: ClassVar[float] = 5.0
    default_max_polls: ClassVar[int] = 200
    default_timeout_s: ClassVar[float] = 30.0
    # False for providers that need more than a prompt (e.g. Viggle wants an image and a template),
    # so they are never picked as a kind's default.
    general_purpose: ClassVar[bool] = True
    extra_headers: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        base_url: str,
        key: SecretStr | None = None,
        *,
        poll_interval_s: float | None = None,
        max_polls: int | None = None,
        timeout_s: float | None = None,
        key_env: str | None = None,
        server_env: str | None = None,
        prefix: str | None = None,
        options: dict[str, Any] | None = None,
        auth: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.poll_interval_s = self.default_poll_interval_s if poll_interval_s is None else poll_interval_s
        self.max_polls = self.default_max_polls if max_polls is None else max_polls
        self.options = options or {}
        self.prefix = self.default_prefix(self.base_url) if prefix is None else prefix.rstrip("/")
        self.http = ProviderHTTP(
            self.label or self.name,
            self.base_url,
            key,
            server_env=server_env or self.server_env,
            key_env=key_env or self.key_env,
            auth=auth or self.auth,
            timeout_s=timeout_s or self.default_timeout_s,
            headers=dict(self.extra_headers),
            transport=transport,
        )

    def default_prefix(self, base_url: str) -> str:
        return ""

    def path(self, tail: str) -> str:
        return self.prefix + tail

    def failure(self, reason: str, code: str = "provider_failed") -> ProviderUpdate:
        """The provider itself reports the job failed."""
        return ProviderUpdate(JobStatus.FAILED, error=f"{self.label} failed: {reason}", error_code=code)

    def bad_shape(self, what: str) -> ProviderError:
        return ProviderError(
            "bad_response",
            f"{self.label} answered without {what}; check {self.http.server_env} points to the right API",
        )

    async def aclose(self) -> None:
        await self.http.aclose()


def progress_from(value: Any) -> int | None:
    """ "46%", "0.42", 0.42, 46 -> 46. Ratios (<= 1 with a decimal point) are scaled up."""
    if value is None or value == "":
        return None
    text = str(value).strip().rstrip("%")
    try:
        number = float(text)
    except ValueError:
        return None
    if "%" not in str(value) and number <= 1 and ("." in text or number == 0):
        number *= 100
    return max(0, min(100, int(number)))
