"""A real HTTP server that speaks every media provider's wire format, like one aggregator gateway.

It runs uvicorn in a thread on 127.0.0.1 (port 0), checks auth headers, records every request,
steps each task through its provider's statuses one poll at a time, and injects faults on demand:

    fake.fault("midjourney", "html")                 # 200 with a web page
    fake.fault("suno", "status", status=500, times=2)
    fake.fault("luma", "slow", delay=1.0)            # answer after the client's timeout
    fake.stuck.add("kling")                          # never finishes
    fake.fail_with["pika"] = "out of credits"        # the provider reports a failure
    fake.state.mj_submit_codes = [23, 1]             # next Midjourney submits answer these codes

It also serves pictures as a provider's CDN would, without auth (`fake.url + "/cdn/person.png"`, an 11 MB
one at `/cdn/huge.png`, a web page at `/cdn/page.html`), for adapters that fetch a picture URL themselves.

The per-provider routes live in `media_routes.py`.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import media_routes
from voicechat.media.config import ProviderSet
from voicechat.media.providers import ADAPTERS
from voicechat.media.service import MediaService
from voicechat.media.store import JobStore

KEY = "sk-fake-gateway-key-0123456789"
MJ_SECRET = "mj-fake-secret-9876543210"
HTML_PAGE = "<!doctype html><html><body>You need to enable JavaScript to run this app.</body></html>"

# Longest prefix first, so /runwayml wins over /runway.
_PREFIXES = [
    ("/runwayml/", "runwayml"),
    ("/runway/", "runway"),
    ("/mj/", "midjourney"),
    ("/suno/", "suno"),
    ("/udio/", "udio"),
    ("/luma/", "luma"),
    ("/kling/", "kling"),
    ("/pika/", "pika"),
    ("/pixverse/", "pixverse"),
    ("/viggle/", "viggle"),
    ("/ideogram/", "ideogram"),
    ("/v1/images/", "openai"),
]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    raw: bytes
    provider: str
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    kind: str  # html | bad_json | empty | status | token_check | slow
    status: int = 500
    body: Any = None
    delay: float = 0.0
    times: int | None = None  # None: every matching request
    on: str = ""  # only requests whose path contains this


@dataclass
class FakeState:
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    stuck: set[str] = field(default_factory=set)
    fail_with: dict[str, str] = field(default_factory=dict)
    mj_submit_codes: list[int] = field(default_factory=list)
    mj_banned_word: str = "gore"
    mj_buttons: bool = True
    luma_array: bool = True
    luma_early_complete: bool = True
    kling_codes: list[int] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    counter: int = 0


class FakeMediaServer:
    def __init__(self, key: str = KEY, mj_secret: str = MJ_SECRET) -> None:
        self.key = key
        self.mj_secret = mj_secret
        self.state = FakeState()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # notified on each request
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST"])])

    # -- control from tests ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.state = FakeState()
            self.requests.clear()

    def fault(self, provider: str, kind: str, **options: Any) -> None:
        with self._lock:
            self.state.faults.setdefault(provider, []).append(Fault(kind, **options))

    @property
    def stuck(self) -> set[str]:
        return self.state.stuck

    @property
    def fail_with(self) -> dict[str, str]:
        return self.state.fail_with

    def sent(self, path_part: str = "", provider: str | None = None) -> list[Recorded]:
        """Requests whose path contains `path_part` (and that went to `provider`, if given)."""
        with self._lock:
            return self._matching(path_part, provider)

    def _matching(self, path_part: str, provider: str | None = None) -> list[Recorded]:
        return [r for r in self.requests
                if path_part in r.path and (provider is None or r.provider == provider)]

    def wait_sent(self, path_part: str, count: int, timeout: float = 60.0) -> list[Recorded]:
        """Block until `count` requests whose path contains `path_part` have arrived (an event to wait on,
        where watching a node's messages would depend on what else it happens to be saying)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._matching(path_part)) >= count, timeout):
                raise AssertionError(f"{len(self._matching(path_part))} requests to {path_part!r} in "
                                     f"{timeout} s, not {count}")
            return self._matching(path_part)

    def start(self) -> FakeMediaServer:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-media", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake media server did not start")
            time.sleep(0.005)  # startup handshake with another thread; no event to wait on
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- serving ---------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        path = request.url.path
        raw = await request.body()
        try:
            body = json.loads(raw) if raw and "json" in request.headers.get("content-type", "") else None
        except ValueError:
            body = None
        provider = next((name for prefix, name in _PREFIXES if path.startswith(prefix)), "")
        if path.startswith("/cdn/"):
            provider = "cdn"
        with self._lock:
            self.requests.append(Recorded(request.method, path, dict(request.headers), body, raw, provider))
            self._arrived.notify_all()
            fault = self._take_fault(provider, path)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        elif fault is not None:
            return _fault_response(fault)
        if provider == "cdn":
            return _cdn_file(path)
        denied = self._check_auth(provider, request)
        if denied is not None:
            return denied
        with self._lock:
            result = media_routes.dispatch(self.state, request.method, path, body, raw)
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    def _take_fault(self, provider: str, path: str) -> Fault | None:
        for fault in self.state.faults.get(provider, []):
            if fault.on and fault.on not in path:
                continue
            if fault.times is not None:
                if fault.times <= 0:
                    continue
                fault.times -= 1
            return fault
        return None

    def _check_auth(self, provider: str, request: Request) -> Response | None:
        bearer = request.headers.get("authorization") == f"Bearer {self.key}"
        if provider == "midjourney":
            if request.headers.get("mj-api-secret") == self.mj_secret or bearer:
                return None
            return Response(status_code=401)  # midjourney-proxy answers a wrong secret with an empty body
        if not bearer:
            return JSONResponse({"error": {"message": "Invalid token", "type": "auth"}}, status_code=401)
        if provider == "runwayml" and request.headers.get("x-runway-version") != "2024-11-06":
            return JSONResponse({"error": "You must pass X-Runway-Version"}, status_code=400)
        return None


def _cdn_file(path: str) -> Response:
    if path == "/cdn/person.png":
        return Response(media_routes.TINY_PNG, media_type="image/png")
    if path == "/cdn/huge.png":  # past the 10 MB a reference picture may have
        return Response(media_routes.TINY_PNG + bytes(11 << 20), media_type="image/png")
    if path == "/cdn/page.html":
        return Response(HTML_PAGE, media_type="text/html")
    return Response(b"not found", status_code=404, media_type="text/plain")


def _fault_response(fault: Fault) -> Response:
    if fault.kind == "html":
        return Response(HTML_PAGE, media_type="text/html")
    if fault.kind == "bad_json":
        return Response('{"code": 1, "result": ', media_type="application/json")
    if fault.kind == "empty":
        return Response(b"", media_type="application/json")
    if fault.kind == "token_check":
        return JSONResponse({"code": "token_check", "message": "Please authorize first"}, status_code=423)
    if fault.body is None:
        return Response(status_code=fault.status)
    return JSONResponse(fault.body, status_code=fault.status)


def match(pattern: str, path: str) -> re.Match[str] | None:
    return re.fullmatch(pattern, path)


_shared: FakeMediaServer | None = None


def shared_fake() -> FakeMediaServer:
    """One fake server per test process (starting uvicorn per test would cost more than the tests)."""
    global _shared
    if _shared is None:
        _shared = FakeMediaServer().start()
        atexit.register(_shared.stop)
    _shared.reset()
    return _shared


FAST_POLLS = {"poll_interval_s": 0.05, "max_polls": 60}  # a job ends within a test


def fake_media_service(fake: FakeMediaServer, root: Path,
                       names: Sequence[str] = ("midjourney", "luma")) -> MediaService:
    """A media service whose providers `names` are real adapters pointed at `fake`, polled fast, storing
    under `root`."""
    adapters = [ADAPTERS[n](fake.url, SecretStr(MJ_SECRET if n == "midjourney" else KEY), **FAST_POLLS)
                for n in names]
    return MediaService(JobStore(root / "media.sqlite3"), ProviderSet(adapters), files_dir=root / "files")
