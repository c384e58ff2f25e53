"""Media settings, and building the set of configured provider adapters from them.

The env names are the ones users of the reference web UI already have (MJ_SERVER, SUNO_KEY, ...).
Unlike that UI, a provider is configured only when its own server variable is set, or when the user
says the chat gateway serves it (`VOICECHAT_MEDIA_GATEWAY=true`, or the gateway's URL): a chat server
(Ollama, OpenAI) usually serves no `/mj` or `/suno`, and guessing that it does sent paid-looking calls
to servers that answer 404. Nothing but OpenAI's own images ever goes to api.openai.com.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicechat.media.jobs import MediaKind
from voicechat.media.providers import ADAPTERS, MediaProvider
from voicechat.media.providers.base import spoken_name

OPENAI_DEFAULT_BASE = "https://api.openai.com"
_NOUN = {MediaKind.IMAGE: "pictures", MediaKind.MUSIC: "music", MediaKind.VIDEO: "videos"}


class MediaSettings(BaseSettings):
    """Read from the environment and `.env`; empty values count as unset (an empty secret is no secret)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    openai_api_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    mj_server: str | None = None
    mj_api_secret: SecretStr | None = None
    suno_server: str | None = None
    suno_key: SecretStr | None = None
    # Where Suno's paths live under SUNO_SERVER. Unset: "/suno" unless the URL already names suno.
    # "/" means none (a bare Suno-API server).
    suno_prefix: str | None = None
    luma_server: str | None = None
    luma_key: SecretStr | None = None
    runway_server: str | None = None
    runway_key: SecretStr | None = None
    runwayml_server: str | None = None
    runwayml_key: SecretStr | None = None
    kling_server: str | None = None
    kling_key: SecretStr | None = None
    pika_server: str | None = None
    pika_key: SecretStr | None = None
    pixverse_server: str | None = None
    pixverse_key: SecretStr | None = None
    ideo_server: str | None = None
    ideo_key: SecretStr | None = None
    udio_server: str | None = None
    udio_key: SecretStr | None = None
    viggle_server: str | None = None
    viggle_key: SecretStr | None = None

    # Does the chat gateway (OPENAI_API_BASE_URL) also serve /mj, /suno, /luma…? true, false, or its URL.
    voicechat_media_gateway: str | None = None
    voicechat_media_image_provider: str | None = None
    voicechat_media_music_provider: str | None = None
    voicechat_media_video_provider: str | None = None
    voicechat_media_db: str = "data/media.sqlite3"
    # Where images that arrive as bytes (b64_json) are written; the app serves them at /media/files.
    voicechat_media_dir: str = "data/media"
    voicechat_media_openai_image_model: str = "dall-e-3"
    # Unset: each provider's own habit (Midjourney 5 s, Suno 5.1 s…); a gateway of one's own may allow faster.
    voicechat_media_poll_interval_s: float | None = None

    def chosen_provider(self, kind: MediaKind) -> str | None:
        return getattr(self, f"voicechat_media_{kind.value}_provider")


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def is_openai_host(url: str | None) -> bool:
    """api.openai.com (or another openai.com host): it serves OpenAI's APIs and nothing else."""
    host = (httpx.URL(url).host or "") if url else ""
    return host == "openai.com" or host.endswith(".openai.com")


def host_of(url: str) -> str:
    """What logs show of a server: scheme, host and port, never a path or credentials in the URL."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}" if parsed.host else url


@dataclass
class Gateway:
    """The user's answer to "does the chat gateway also serve /mj, /suno, /luma…?"."""

    url: str | None  # None: no gateway serves media
    why: str  # how the user said so, for logs
    problem: str = ""  # a setting that cannot be honoured, said as a sentence


def media_gateway(settings: MediaSettings) -> Gateway:
    value = (settings.voicechat_media_gateway or "").strip()
    chat = settings.openai_api_base_url
    if value.lower() in _FALSE:
        return Gateway(None, "VOICECHAT_MEDIA_GATEWAY is not set")
    if value.lower() in _TRUE:
        if not chat:
            return Gateway(
                None, "", "VOICECHAT_MEDIA_GATEWAY=true needs OPENAI_API_BASE_URL, the gateway's address"
            )
        url, why = chat, "VOICECHAT_MEDIA_GATEWAY=true: the chat gateway OPENAI_API_BASE_URL"
    elif value.startswith(("http://", "https://")):
        url, why = value, "VOICECHAT_MEDIA_GATEWAY"
    else:
        return Gateway(None, "", f"VOICECHAT_MEDIA_GATEWAY must be true, false or a URL, not {value!r}")
    if is_openai_host(url):
        return Gateway(
            None,
            "",
            "api.openai.com serves no Midjourney, Suno or video routes; "
            "set VOICECHAT_MEDIA_GATEWAY to your gateway's URL, or each provider's own server",
        )
    # Gateways serve /v1/chat/completions and /mj/... side by side: media paths hang off the root.
    url = url.rstrip("/")
    return Gateway(url[: -len("/v1")] if url.endswith("/v1") else url, why)


@dataclass
class ProviderConfig:
    """Where one provider lives, with which key, which env names to blame when it fails, and why."""

    name: str
    base_url: str | None
    key: SecretStr | None
    server_env: str
    key_env: str
    via_gateway: bool
    why: str = ""  # why it is (or is not) configured: one line of the startup log

    @property
    def configured(self) -> bool:
        return bool(self.base_url)


def _openai(settings: MediaSettings, gateway: Gateway) -> ProviderConfig:
    chat, key = settings.openai_api_base_url, settings.openai_api_key
    if gateway.url:
        return ProviderConfig(
            "openai",
            gateway.url,
            key,
            "VOICECHAT_MEDIA_GATEWAY",
            "OPENAI_API_KEY",
            False,  # images are an OpenAI-compatible gateway's own trade: preferred over /mj through it
            f"configured: {gateway.why} ({host_of(gateway.url)})",
        )
    envs = ("OPENAI_API_BASE_URL", "OPENAI_API_KEY")
    if key is not None and (chat is None or is_openai_host(chat)):
        return ProviderConfig(
            "openai",
            chat or OPENAI_DEFAULT_BASE,
            key,
            *envs,
            False,
            "configured: OPENAI_API_KEY for api.openai.com",
        )
    if chat:
        # Ollama, vLLM, llama-server: chat only, unless the user says the gateway draws too.
        return ProviderConfig(
            "openai",
            None,
            key,
            *envs,
            False,
            f"not configured: OPENAI_API_BASE_URL ({host_of(chat)}) is taken for a chat "
            "server; set VOICECHAT_MEDIA_GATEWAY=true if it also serves /v1/images",
        )
    return ProviderConfig("openai", None, None, *envs, False, "not configured: OPENAI_API_KEY is not set")


def resolve(settings: MediaSettings, name: str, gateway: Gateway | None = None) -> ProviderConfig:
    gateway = gateway or media_gateway(settings)
    if name == "openai":
        return _openai(settings, gateway)
    cls = ADAPTERS[name]
    gateway_key = settings.openai_api_key
    prefix = name if name != "midjourney" else "mj"
    prefix = "ideo" if name == "ideogram" else prefix
    server = getattr(settings, f"{prefix}_server")
    key = getattr(settings, f"{prefix}_key" if name != "midjourney" else "mj_api_secret")
    server_env, key_env = cls.server_env, cls.key_env
    if name == "runwayml" and not server and settings.runway_server:
        # The reference UI's RunwayML page reuses the Runway pair.
        server, key, server_env, key_env = (
            settings.runway_server,
            key or settings.runway_key,
            "RUNWAY_SERVER",
            "RUNWAY_KEY",
        )
    if server and is_openai_host(server):
        return ProviderConfig(
            name,
            None,
            key,
            server_env,
            key_env,
            False,
            f"not configured: {server_env} points at api.openai.com, which serves no {cls.label}",
        )
    if server:
        why = f"configured: {server_env} ({host_of(server)})"
        if key is None and gateway_key is not None:
            return ProviderConfig(
                name, server, gateway_key, server_env, f"{key_env} or OPENAI_API_KEY", False, why
            )
        return ProviderConfig(name, server, key, server_env, key_env, False, why)
    if gateway.url:
        key_env = key_env if key is not None else f"{key_env} or OPENAI_API_KEY"
        return ProviderConfig(
            name,
            gateway.url,
            key if key is not None else gateway_key,
            f"{server_env} or VOICECHAT_MEDIA_GATEWAY",
            key_env,
            True,
            f"configured: {gateway.why} ({host_of(gateway.url)})",
        )
    return ProviderConfig(
        name, None, key, server_env, key_env, False, f"not configured: {server_env} is not set"
    )


class NotConfigured(Exception):
    """No provider can take this request; the message is a sentence fit to be spoken."""


class ProviderSet:
    """The configured adapters, the default per kind, and why a kind has none."""

    def __init__(
        self,
        adapters: list[MediaProvider],
        defaults: dict[MediaKind, str] | None = None,
        missing: dict[MediaKind, str] | None = None,
        reasons: dict[str, str] | None = None,
        problems: list[str] | None = None,
    ) -> None:
        self.adapters = {adapter.name: adapter for adapter in adapters}
        self.defaults = dict(defaults or {})
        self.missing = dict(missing or {})
        self.reasons = dict(reasons or {})  # provider -> "configured: MJ_SERVER (…)" / "not configured: …"
        self.problems = list(problems or [])  # settings that could not be honoured
        for kind in MediaKind:
            # A kind whose chosen provider is missing stays missing: quietly using another would hide it.
            if kind not in self.defaults and kind not in self.missing:
                first = next(
                    (a.name for a in adapters if kind in a.kinds and a.general_purpose),
                    None,
                )
                if first:
                    self.defaults[kind] = first

    def get(self, name: str) -> MediaProvider | None:
        return self.adapters.get(name)

    def describe(self) -> dict[str, str | None]:
        """Which provider serves each kind (None: not set up), for logs and `/health`."""
        return {kind.value: self.defaults.get(kind) for kind in MediaKind}

    def missing_reason(self, kind: MediaKind) -> str:
        return self.missing.get(kind) or _unconfigured_sentence(kind)

    def log_lines(self) -> list[str]:
        """For the startup log: each provider, configured or not, and why; then the default per kind."""
        lines = [f"{name}: {why}" for name, why in self.reasons.items()]
        if not self.reasons:
            lines = [f"{name}: configured" for name in self.adapters]
        lines += [f"problem: {problem}" for problem in self.problems]
        defaults = ", ".join(f"{kind}={name or 'none'}" for kind, name in self.describe().items())
        return [*lines, f"defaults: {defaults}"]

    def pick(self, kind: MediaKind, hint: str | None = None) -> MediaProvider:
        """The adapter for a request: the hinted one if any, else the kind's default."""
        if hint:
            adapter = self.adapters.get(hint)
            if adapter is None:
                label = ADAPTERS[hint].label if hint in ADAPTERS else hint
                server_env = ADAPTERS[hint].server_env if hint in ADAPTERS else "its server"
                raise NotConfigured(
                    f"{label} is not set up; set {server_env} to use it "
                    "(or VOICECHAT_MEDIA_GATEWAY=true if your chat gateway serves it)."
                )
            if kind not in adapter.kinds:
                raise NotConfigured(f"{spoken_name(adapter)} cannot make {_NOUN[kind]}.")
            return adapter
        name = self.defaults.get(kind)
        if name is None or name not in self.adapters:
            raise NotConfigured(self.missing_reason(kind))
        return self.adapters[name]

    async def aclose(self) -> None:
        for adapter in self.adapters.values():
            await adapter.aclose()


def _unconfigured_sentence(kind: MediaKind) -> str:
    options = [
        f"{cls.server_env} for {cls.label}"
        for cls in ADAPTERS.values()
        if kind in cls.kinds and cls.general_purpose and cls.name != "openai"
    ]
    if kind is MediaKind.IMAGE:
        options.insert(1, "OPENAI_API_KEY for OpenAI images")
    listed = ", ".join(options[:-1]) + f" or {options[-1]}" if len(options) > 1 else options[0]
    return (
        f"I can't make {_NOUN[kind]} yet: no {kind.value} provider is set up. Set {listed}, "
        f"or VOICECHAT_MEDIA_GATEWAY=true if your chat gateway serves them."
    )


def build_providers(
    settings: MediaSettings | None = None,
    *,
    poll_interval_s: float | None = None,
    max_polls: int | None = None,
    timeout_s: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ProviderSet:
    """Adapters for every configured provider. Overrides (poll interval, cap, timeout) are for tests."""
    settings = settings or MediaSettings()
    if poll_interval_s is None:
        poll_interval_s = settings.voicechat_media_poll_interval_s
    gateway = media_gateway(settings)
    configs = {name: resolve(settings, name, gateway) for name in ADAPTERS}
    adapters: list[MediaProvider] = []
    for name, config in configs.items():
        if not config.configured:
            continue
        options: dict[str, Any] = {}
        prefix = None
        auth = None
        if name == "openai":
            options["model"] = settings.voicechat_media_openai_image_model
        if name == "suno" and settings.suno_prefix is not None:
            prefix = "" if settings.suno_prefix.strip() in ("", "/") else settings.suno_prefix
        if name == "midjourney" and settings.mj_api_secret is None and config.key is not None:
            auth = "bearer"  # a gateway serving /mj takes the gateway key as a Bearer token
        adapters.append(
            ADAPTERS[name](
                config.base_url or "",
                config.key,
                poll_interval_s=poll_interval_s,
                max_polls=max_polls,
                timeout_s=timeout_s,
                key_env=config.key_env,
                server_env=config.server_env,
                prefix=prefix,
                options=options,
                auth=auth,
                transport=transport,
            )
        )

    def rank(adapter: MediaProvider) -> int:
        # Providers the user pointed at on purpose beat ones reached only through the gateway fallback.
        return 1 if configs[adapter.name].via_gateway else 0

    defaults: dict[MediaKind, str] = {}
    missing: dict[MediaKind, str] = {}
    for kind in MediaKind:
        chosen = settings.chosen_provider(kind)
        env = f"VOICECHAT_MEDIA_{kind.value.upper()}_PROVIDER"
        if chosen:
            cls = ADAPTERS.get(chosen)
            if cls is None:
                missing[kind] = (
                    f"{env} names an unknown provider, {chosen}; choose one of {', '.join(ADAPTERS)}."
                )
            elif kind not in cls.kinds:
                missing[kind] = f"{env} names {cls.label}, which cannot make {_NOUN[kind]}."
            elif not configs[chosen].configured:
                missing[kind] = f"{env} asks for {cls.label}, but {configs[chosen].server_env} is not set."
            else:
                defaults[kind] = chosen
            continue
        candidates = sorted(
            (a for a in adapters if kind in a.kinds and ADAPTERS[a.name].general_purpose), key=rank
        )
        if candidates:
            defaults[kind] = candidates[0].name
    reasons = {name: config.why for name, config in configs.items()}
    return ProviderSet(adapters, defaults, missing, reasons, [gateway.problem] if gateway.problem else [])
