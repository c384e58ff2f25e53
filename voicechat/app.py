"""The Starlette application: routes, and engines loaded once in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from . import __version__
from .backends import Backends
from .doors.http_api import conversation_routes, error, media_routes
from .doors.native import native_door
from .doors.realtime import realtime_door
from .doors.rest import rest_routes
from .doors.wyoming import WyomingDoor
from .engines import Engines, load_engines
from .media.config import MediaSettings
from .media.service import ALL_OWNERS, MediaService
from .metrics import ServerMetrics
from .scheduler import SttScheduler
from .security import SecurityMiddleware, check_exposure, install_log_redaction
from .server_state import ServerState, server_state
from .settings import Settings, get_settings
from .store import StoreError

log = logging.getLogger(__name__)

async def health(request: Request) -> JSONResponse:
    state = server_state(request.app)
    engines = state.engines
    database = state.backends.status()
    body: dict[str, Any] = {
        "status": "loading" if engines is None else "ok" if database["status"] == "ok" else "degraded",
        "version": __version__,
        "sessions": len(state.sessions),
        "engines": engines.describe() if engines else None,
        "tts_engines": engines.tts.status() if engines else None,
        "load": engines.load() if engines else None,
        "media": state.media.providers.describe(),
        "database": database,
    }
    return JSONResponse(body, status_code=200 if engines is not None else 503)


class PageHeaders:
    """The page's files: revalidated on every load (no stale modules after an upgrade), never framed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"cache-control", b"no-cache"),
                                      (b"x-content-type-options", b"nosniff"),
                                      (b"content-security-policy", b"frame-ancestors 'none'"),
                                      (b"referrer-policy", b"no-referrer")]
            await send(message)

        await self.app(scope, receive, with_headers)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """404, 405 and friends in the same OpenAI-shaped JSON as every other error of ours."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error(exc.status_code, code, str(exc.detail), exc.headers)


async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The conversation or job store cannot answer (database down): 503, and the page can say why."""
    return error(503, "storage_unavailable", str(exc), {"retry-after": "5"})


async def metrics(request: Request) -> Response:
    """Prometheus text format: the server's own metrics, then its sessions' turns (once engines loaded)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    state = server_state(request.app)
    body = generate_latest(state.server_metrics.registry)
    engines = state.engines
    if engines is not None:
        body += generate_latest(engines.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _gauges(app: Starlette) -> dict[str, Any]:
    """Gauges read at scrape time from what the app already tracks."""
    state = server_state(app)
    engines = state.engines
    load = engines.load() if engines is not None else {}
    stt = load.get("stt") or {}
    return {
        "voicechat_sessions": ("Open conversation sessions, every door.", len(state.sessions)),
        "voicechat_stt_queue": ("Utterances waiting for the speech model, by kind.",
                                {"final": stt.get("waiting_finals"), "partial": stt.get("waiting_partials")}),
        "voicechat_stt_wait_seconds": ("Estimated wait for the speech model now.",
                                       (stt.get("estimated_wait_ms") or 0) / 1000),
        "voicechat_chat_wait_seconds": ("Estimated wait for the local chat model now (its queue).",
                                        (load.get("chat_wait_ms") or 0) / 1000),
    }


async def _count_media_events(media: MediaService, server_metrics: ServerMetrics) -> None:
    """Every media job update (all users) counted by provider and state, until cancelled."""
    updates = media.subscribe(ALL_OWNERS)
    try:
        while True:
            server_metrics.media_event(await updates.get())
    finally:
        media.unsubscribe(ALL_OWNERS, updates)


async def drain_sessions(app: Starlette, timeout: float) -> None:
    """Shutdown, step one: every session finishes what it is saying (bounded), then its door closes."""
    state = server_state(app)
    if state.wyoming is not None:
        state.wyoming.stop_listening()
    sessions = list(state.sessions)  # every door's connections, Wyoming's too (doors/socket.py)
    if sessions:
        log.info("shutting down: letting %d sessions finish their turns (up to %g s)", len(sessions), timeout)
    await asyncio.gather(*(s.drain(timeout) for s in sessions), return_exceptions=True)
    if sessions:
        # Each door now says goodbye (close code 1001) before the server drops what is left.
        await asyncio.wait([asyncio.create_task(s.closed.wait()) for s in sessions], timeout=5)


def create_app(
    settings: Settings | None = None,
    engines: Engines | None = None,
    media: MediaService | None = None,
    media_settings: MediaSettings | None = None,
) -> Starlette:
    """Build the app. Engines are loaded at startup unless given (they are shared per process anyway);
    the media service is built from the provider settings (MJ_SERVER, SUNO_SERVER, …; `media_settings`
    when read earlier) on the node's job store (PostgreSQL with VOICECHAT_DATABASE_URL) unless given."""
    settings = settings or get_settings()
    check_exposure(settings)  # before anything is opened or created
    backends = Backends(settings)
    media = media or backends.media_service(media_settings)
    files_dir = media.files_dir or Path("data/media")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = server_state(app)
        state.sessions = set()
        install_log_redaction()
        # Loading models takes seconds of CPU; a thread keeps the loop responsive meanwhile.
        state.engines = loaded = engines or await asyncio.to_thread(load_engines, settings)
        state.store = await backends.start()
        await media.start()
        media_counter = asyncio.create_task(_count_media_events(media, server_metrics), name="media-metrics")
        for line in media.providers.log_lines():
            log.info("media: %s", line)
        wyoming = WyomingDoor(settings, state) if settings.wyoming_uri else None
        if wyoming is not None:
            await wyoming.start()
            state.wyoming, state.wyoming_port = wyoming, wyoming.port
        log.info("voicechat %s ready", __version__)
        try:
            yield
        finally:
            if wyoming is not None:
                await wyoming.stop()
            media_counter.cancel()
            await media.stop()
            await backends.close()
            if isinstance(loaded.stt, SttScheduler):
                await loaded.stt.close()

    (files_dir / "uploads").mkdir(parents=True, exist_ok=True)
    routes: list[Any] = [
        Route("/health", health),
        Route("/metrics", metrics),
        WebSocketRoute("/ws", native_door),
        WebSocketRoute("/v1/realtime", realtime_door),
        *media_routes,
        *conversation_routes,
        *rest_routes,
        Mount(media.files_url_prefix, StaticFiles(directory=files_dir), name="media-files"),
    ]
    if (settings.static_dir / "index.html").exists():
        page = StaticFiles(directory=settings.static_dir, html=True)
        routes.append(Mount("/", PageHeaders(page), name="static"))
    server_metrics = ServerMetrics(lambda: _gauges(app))
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(SecurityMiddleware, settings=settings,
                                           on_refusal=server_metrics.refused)],
                    exception_handlers={HTTPException: http_error, StoreError: store_unavailable})
    app.state = ServerState(settings=settings, media=media, uploads_dir=files_dir / "uploads",  # type: ignore[assignment]
                            server_metrics=server_metrics, backends=backends)
    return app
