"""Wyoming input checks: the `wyoming` package's dataclasses don't check what they read, and its protocol
has no authentication, so events are type-checked here and binds beyond loopback need an opt-in."""

from __future__ import annotations

import ipaddress
from typing import TypeVar
from urllib.parse import urlparse

from wyoming.event import Event

from ..settings import Settings
from ..typecheck import fields_fit

T = TypeVar("T")


class BadEvent(ValueError):
    """A client's event that lacks, or mistypes, what its type needs: the client's error, not ours."""


def read(cls: type[T], event: Event) -> T:
    """The event as `cls`, or `BadEvent` saying why it can't be (missing fields, wrong types)."""
    try:
        parsed = cls.from_event(event)  # type: ignore[attr-defined]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadEvent(f"{event.type} is malformed ({type(exc).__name__}: {exc})") from None
    if not fields_fit(parsed):
        raise BadEvent(f"{event.type} has a field of the wrong type")
    return parsed


MIN_RATE, MAX_RATE = 4000, 192000  # what microphones send; beyond, resampling to 16 kHz would balloon


def check_format(kind: str, rate: int, width: int, channels: int) -> None:
    """Audio we can take: a sane sample rate, 1-4 byte samples, 1-8 channels; else the client's error."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadEvent(f"{kind} rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    if width not in (1, 2, 3, 4) or not 1 <= channels <= 8:
        raise BadEvent(f"{kind} width {width} / channels {channels} is not PCM audio we can read")


class RemoteBindRefused(ValueError):
    """Wyoming has no authentication: binding beyond loopback needs an explicit opt-in."""


def check_bind(host: str, allow_remote: bool) -> None:
    """Raise unless `host` is loopback or remote binds are allowed."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise RemoteBindRefused(
            f"refusing to serve Wyoming on {host}: the protocol has no authentication, so anyone who can "
            "reach the port can use it. Bind 127.0.0.1, or set VOICECHAT_WYOMING_ALLOW_REMOTE=true."
        )


def check_uri(settings: Settings) -> tuple[str, str, int]:
    """`(scheme, host or path, port)` of `VOICECHAT_WYOMING_URI`, refusing bad or unsafe ones."""
    uri = settings.wyoming_uri or ""
    parsed = urlparse(uri)
    if parsed.scheme == "tcp":
        if not parsed.hostname or parsed.port is None:
            raise ValueError(f"the Wyoming URI needs a host and a port, like tcp://127.0.0.1:10300: {uri!r}")
        check_bind(parsed.hostname, settings.wyoming_allow_remote)
        return "tcp", parsed.hostname, parsed.port
    if parsed.scheme == "unix" and parsed.path:
        return "unix", parsed.path, 0
    raise ValueError(f"the Wyoming URI must be tcp://host:port or unix://path, not {uri!r}")
