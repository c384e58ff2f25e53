"""Who may talk to the server: tokens, browser Origin checks, connection and request rates, capacity.

One ASGI middleware guards every door before any audio is processed. Tokens come as
`Authorization: Bearer …` or, for browsers that cannot set headers on a WebSocket, `?token=…`; the
query form is scrubbed from logs. A WebSocket that is refused is accepted and closed at once with a
code the client can show (4401 unauthorized, 4403 forbidden origin, 4429 too many connections,
1013 server full); plain HTTP gets 401/403/429 with an OpenAI-shaped JSON body.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from .events import openai_error
from .server_state import server_state
from .settings import Settings

log = logging.getLogger(__name__)

# Paths anyone may fetch: the page itself (it asks for the token), its assets, and the health probe.
_PUBLIC_PREFIXES = ("/health", "/media/files/")
_GUARDED_PREFIXES = ("/ws", "/v1/", "/api/", "/metrics")


class ConfigError(Exception):
    """The configuration is unsafe or inconsistent; the message says what to set."""


@dataclass(frozen=True)
class Principal:
    user: str


def parse_tokens(raw: str) -> dict[str, str]:
    """`tok1,alice:tok2` -> {token: user}. A bare token belongs to the user `local`."""
    tokens: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        user, _, token = item.rpartition(":") if ":" in item else ("local", "", item)
        if len(token) < 16:
            raise ConfigError("each token in VOICECHAT_TOKENS must be at least 16 characters long")
        tokens[token] = user or "local"
    return tokens


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse to serve a non-loopback address without tokens, unless explicitly allowed."""
    tokens = parse_tokens(settings.tokens.get_secret_value())
    if not tokens and not is_loopback(settings.host) and not settings.allow_unauthenticated:
        raise ConfigError(
            f"refusing to listen on {settings.host} without authentication: set VOICECHAT_TOKENS "
            "(comma-separated, e.g. `alice:<random 32 chars>`), or VOICECHAT_ALLOW_UNAUTHENTICATED=true "
            "if a proxy in front of voicechat authenticates clients"
        )


class RateLimiter:
    """Sliding one-minute window per key."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        if self.per_minute <= 0:
            return True
        now = time.monotonic() if now is None else now
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - 60:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return False
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle clients so the table cannot grow without bound
            for stale in [k for k, v in self._hits.items() if not v or v[-1] <= now - 60]:
                del self._hits[stale]
        return True


class SecurityMiddleware:
    """Authenticates, checks Origin, rate-limits and caps sessions for every guarded route."""

    def __init__(self, app: ASGIApp, settings: Settings,
                 on_refusal: Callable[[int], None] | None = None) -> None:
        self.app = app
        self.settings = settings
        self.on_refusal = on_refusal or (lambda code: None)  # counted for /metrics
        self.tokens = parse_tokens(settings.tokens.get_secret_value())
        self.required = bool(self.tokens)
        allowed = settings.allowed_origins.split(",")
        self.origins = {o.strip().rstrip("/").lower() for o in allowed if o.strip()}
        self.connections = RateLimiter(settings.max_connections_per_minute)
        self.requests = RateLimiter(settings.max_requests_per_minute)
        # Service users (another voicechat using this one as its remote STT/TTS, a bot) share an address
        # with nobody: their requests are counted per user against their own limit, not per IP.
        self.service_users = {u.strip() for u in settings.service_users.split(",") if u.strip()}
        self.service_requests = RateLimiter(settings.service_requests_per_minute)
        self.sessions = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        guarded = path.startswith(_GUARDED_PREFIXES) and not path.startswith(_PUBLIC_PREFIXES)
        if path == "/metrics" and self.settings.metrics_public:
            guarded = False  # a scrape network of its own: the operator said so
        if not guarded:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        websocket = scope["type"] == "websocket"
        if websocket and not self._origin_ok(headers):
            await self._refuse_ws(send, 4403, "forbidden origin")
            return
        principal = self._authenticate(headers, scope.get("query_string", b""))
        if principal is None:
            if websocket:
                await self._refuse_ws(send, 4401, "unauthorized: a valid token is required")
            else:
                await self._refuse_http(send, 401, "invalid_api_key", "a valid token is required "
                                   "(Authorization: Bearer <token>)", {"www-authenticate": "Bearer"})
            return
        scope.setdefault("state", {})["user"] = principal.user
        if websocket:
            await self._websocket(scope, receive, send, client)
        elif not self._request_allowed(principal.user, client):
            await self._refuse_http(send, 429, "rate_limited", "too many requests; slow down",
                               {"retry-after": "60"})
        else:
            await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, client: str) -> None:
        if not self.connections.allow(client):
            await self._refuse_ws(send, 4429, "too many connections; try again in a minute")
            return
        if self.sessions >= self.settings.max_sessions:
            await self._refuse_ws(send, 1013, "server full; try again later")
            return
        engines = server_state(scope["app"]).engines
        if engines is not None and (reason := engines.overloaded()):
            await self._refuse_ws(send, 1013, f"{reason}; try again later")
            return
        self.sessions += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.sessions -= 1

    def _request_allowed(self, user: str, client: str) -> bool:
        if self.required and user in self.service_users:  # only a token names a user
            return self.service_requests.allow(user)
        return self.requests.allow(client)

    async def _refuse_ws(self, send: Send, code: int, reason: str) -> None:
        self.on_refusal(code)
        await _refuse_ws(send, code, reason)

    async def _refuse_http(self, send: Send, status: int, code: str, message: str,
                           extra: dict[str, str] | None = None) -> None:
        self.on_refusal(status)
        await _refuse_http(send, status, code, message, extra)

    def _origin_ok(self, headers: dict[str, str]) -> bool:
        origin = headers.get("origin")
        if origin is None:
            return True  # not a browser: nothing to hijack, the token still applies
        origin = origin.rstrip("/").lower()
        if origin in self.origins or "*" in self.origins:
            return True
        # Same origin: the page this server served. Cross-site WebSocket hijacking comes from elsewhere.
        return urlsplit(origin).netloc == headers.get("host", "").lower()

    def _authenticate(self, headers: dict[str, str], query: bytes) -> Principal | None:
        if not self.required:
            return Principal("local")
        offered = []
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered.append(auth[7:].strip())
        offered += parse_qs(query.decode("latin-1")).get("token", [])
        for candidate in offered:
            for token, user in self.tokens.items():
                if hmac.compare_digest(candidate.encode(), token.encode()):
                    return Principal(user)
        return None


async def _refuse_ws(send: Send, code: int, reason: str) -> None:
    # Accept first: a close before the handshake reaches a browser as an anonymous failure.
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason})


async def _refuse_http(send: Send, status: int, code: str, message: str,
                       extra: dict[str, str] | None = None) -> None:
    body = json.dumps(openai_error(status, code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE)


class RedactTokens(logging.Filter):
    """Access logs print request paths; a `?token=` in one must not end up on disk."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _TOKEN_IN_URL.sub(r"\1***", record.msg)
        return True


def install_log_redaction() -> None:
    """Attach the redaction filter to the loggers that print URLs."""
    redact = RedactTokens()
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "websockets", ""):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(redact)
        for handler in logger.handlers:
            if not any(isinstance(f, RedactTokens) for f in handler.filters):
                handler.addFilter(redact)


def principal_user(scope_state: Any) -> str:
    """The user a request or connection was authenticated as (`local` without tokens)."""
    return getattr(scope_state, "user", None) or "local"
