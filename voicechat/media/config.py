"""Media settings, and building the set of configured provider adapters from them.

The env names are the ones users of the reference web UI already have (MJ_SERVER, SUNO_KEY, ...).
Like that UI, every provider falls back to one gateway (`OPENAI_API_BASE_URL`) and one key
(`OPENAI_API_KEY`). Unlike it, a provider with neither its own server nor a gateway URL is
"not configured": we never send Midjourney or Suno calls to api.openai.com.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicechat.media.jobs import MediaKind
from voicechat.media.providers import ADAPTERS, MediaProvider

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


@dataclass
class ProviderConfig:
    """Where one provider lives, with which key, and which env names to blame when it fails."""

    name: str
    base_url: str | None
    key: SecretStr | None
    server_env: str
    key_env: str
    via_gateway: bool

    @property
    def configured(self) -> bool:
        return bool(self.base_url)


def resolve(settings: MediaSettings, name: str) -> ProviderConfig:
    cls = ADAPTERS[name]
    gateway, gateway_key = settings.openai_api_base_url, settings.openai_api_key
    if name == "openai":
        base = gateway or (OPENAI_DEFAULT_BASE if gateway_key else None)
        return ProviderConfig(name, base, gateway_key, "OPENAI_API_BASE_URL", "OPENAI_API_KEY", False)
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
    if server:
        if key is None and gateway_key is not None:
            return ProviderConfig(
                name, server, gateway_key, server_env, f"{key_env} or OPENAI_API_KEY", False
            )
        return ProviderConfig(name, server, key, server_env, key_env, False)
    key_env = key_env if key is not None else f"{key_env} or OPENAI_API_KEY"
    return ProviderConfig(
        name,
        gateway,
        key if key is not None else gateway_key,
        f"{server_env} or OPENAI_API_BASE_URL",
        key_env,
        True,
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
    ) -> None:
        self.adapters = {adapter.name: adapter for adapter in adapters}
        self.defaults = dict(defaults or {})
        self.missing = dict(missing or {})
        for kind in MediaKind:
            # A kind whose chosen provider is missing stays missing: quietly using another would hide it.
            if kind not in self.defaults and kind not in self.missing:
                first = next(
                    (a.name for a in adapters if kind in a.kinds and getattr(a, "general_purpose", True)),
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

    def pick(self, kind: MediaKind, hint: str | None = None) -> MediaProvider:
        """The adapter for a request: the hinted one if any, else the kind's default."""
        if hint:
            adapter = self.adapters.get(hint)
            if adapter is None:
                label = ADAPTERS[hint].label if hint in ADAPTERS else hint
                server_env = ADAPTERS[hint].server_env if hint in ADAPTERS else "its server"
                raise NotConfigured(f"{label} is not set up; set {server_env} to use it.")
            if kind not in adapter.kinds:
                raise NotConfigured(f"{getattr(adapter, 'label', hint)} cannot make {_NOUN[kind]}.")
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
        f"or OPENAI_API_BASE_URL and OPENAI_API_KEY for a gateway that serves them."
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
    configs = {name: resolve(settings, name) for name in ADAPTERS}
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
    return ProviderSet(adapters, defaults, missing)
