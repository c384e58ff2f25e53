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
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from . import __version__
from .doors.http_api import conversation_routes, error, media_routes
from .doors.native import native_door
from .doors.realtime import realtime_door
from .doors.rest import rest_routes
from .doors.wyoming import WyomingDoor
from .engines import Engines, load_engines
from .media.config import MediaSettings
from .media.service import MediaService
from .scheduler import SttScheduler
from .security import SecurityMiddleware, check_exposure, install_log_redaction
from .settings import Settings, get_settings
from .store import ConversationStore

log = logging.getLogger(__name__)

async def health(request: Request) -> JSONResponse:
    state = request.app.state
    engines: Engines | None = getattr(state, "engines", None)
    body: dict[str, Any] = {
        "status": "ok" if engines is not None else "loading",
        "version": __version__,
        "sessions": len(state.sessions),
        "engines": engines.describe() if engines else None,
        "tts_engines": engines.tts.status() if engines else None,
        "load": engines.load() if engines else None,
        "media": state.media.providers.describe(),
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


async def drain_sessions(app: Starlette, timeout: float) -> None:
    """Shutdown, step one: every session finishes what it is saying (bounded), then its door closes."""
    sessions = list(app.state.sessions)
    wyoming: WyomingDoor | None = getattr(app.state, "wyoming", None)
    draining = [wyoming.drain(timeout)] if wyoming is not None else []
    if sessions:
        log.info("shutting down: letting %d sessions finish their turns (up to %g s)", len(sessions), timeout)
    await asyncio.gather(*(s.drain(timeout) for s in sessions), *draining, return_exceptions=True)
    if sessions:
        # Each door now says goodbye (close code 1001) before the server drops what is left.
        await asyncio.wait([asyncio.create_task(s.closed.wait()) for s in sessions], timeout=5)


def create_app(
    settings: Settings | None = None,
    engines: Engines | None = None,
    media: MediaService | None = None,
) -> Starlette:
    """Build the app. Engines are loaded at startup unless given (they are shared per process anyway);
    the media service is built from the provider settings (MJ_SERVER, SUNO_SERVER, …) unless given."""
    settings = settings or get_settings()
    check_exposure(settings)  # before anything is opened or created
    media = media or MediaService.from_settings(MediaSettings(voicechat_media_gateway=settings.media_gateway))
    files_dir = media.files_dir or Path("data/media")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.sessions = set()
        install_log_redaction()
        # Loading models takes seconds of CPU; a thread keeps the loop responsive meanwhile.
        app.state.engines = engines or await asyncio.to_thread(load_engines, settings)
        app.state.store = store = ConversationStore(settings.db_path, settings.db_max_mb)
        await media.start()
        for line in media.providers.log_lines():
            log.info("media: %s", line)
        app.state.wyoming = wyoming = WyomingDoor(settings, app.state) if settings.wyoming_uri else None
        if wyoming is not None:
            await wyoming.start()
            app.state.wyoming_port = wyoming.port
        log.info("voicechat %s ready", __version__)
        try:
            yield
        finally:
            if wyoming is not None:
                await wyoming.stop()
            await media.stop()
            store.close()
            if isinstance(app.state.engines.stt, SttScheduler):
                await app.state.engines.stt.close()

    (files_dir / "uploads").mkdir(parents=True, exist_ok=True)
    routes: list[Any] = [
        Route("/health", health),
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
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(SecurityMiddleware, settings=settings)],
                    exception_handlers={HTTPException: http_error})
    app.state.settings = settings
    app.state.sessions = set()
    app.state.media = media
    app.state.uploads_dir = files_dir / "uploads"
    return app
