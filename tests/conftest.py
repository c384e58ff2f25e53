"""Shared fixtures: real servers on ephemeral ports, a fake OpenAI chat server, synthesized speech."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import leftovers
from tests.fakes.http import ServerThread
from tests.fakes.openai_chat import TOOL_ARGUMENTS, FakeOpenAIChat
from tests.fakes.providers import FakeMediaServer, fake_media_service, shared_fake
from tests.process import die_with_parent
from voicechat.app import create_app
from voicechat.media.config import ProviderSet
from voicechat.media.service import MediaService
from voicechat.media.store import JobStore
from voicechat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
_db_dirs: list[Path] = []  # this run's folder for the conversation files of make_settings, once made


def _new_db_dir() -> Path:
    """A fresh folder inside this run's one, which goes at exit (and, if the run is killed, at the next)."""
    if not _db_dirs:
        leftovers.sweep("voicechat-db-")
        _db_dirs.append(leftovers.new_dir("voicechat-db-"))
        atexit.register(shutil.rmtree, _db_dirs[0], True)
    return Path(tempfile.mkdtemp(dir=_db_dirs[0]))


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # a worker goes with its pytest, and its servers with it
        die_with_parent()


def make_settings(**overrides: Any) -> Settings:
    """Settings for a test server: no `.env`, the repo's models folder, loopback, an ephemeral port."""
    base: dict[str, Any] = {
        "models_dir": Path(os.environ.get("VOICECHAT_MODELS_DIR", ROOT / "models")),
        "host": "127.0.0.1",
        "port": 0,
        "vad_hangover_ms": 500,
        # Most tests stream audio faster than real time, where the end-of-turn model's verdict races the
        # audio already sent; tests/test_end_of_turn.py runs the model in real time on its own servers.
        "end_of_turn": "hangover",
        # The suite opens hundreds of connections a minute to shared servers; limits are tested on their own.
        "max_connections_per_minute": 0,
        "max_requests_per_minute": 0,
        # Nor may a shared server refuse a test's session because an earlier test left speech queued on a
        # loaded machine (1013 "at capacity"): admission is tested on its own (tests/test_admission.py).
        "stt_admission_wait_ms": 0,
        "db_path": _new_db_dir() / "voicechat.sqlite3",
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def fake_chat() -> Iterator[FakeOpenAIChat]:
    fake = FakeOpenAIChat().start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _reset_fake(request: pytest.FixtureRequest) -> None:
    if "fake_chat" in request.fixturenames:
        fake = request.getfixturevalue("fake_chat")
        fake.mode = "ok"
        fake.tool_call = ("generate_image", TOOL_ARGUMENTS)
        fake.requests.clear()


class RunningServer:
    def __init__(self, thread: ServerThread, settings: Settings) -> None:
        self.thread = thread
        self.settings = settings

    @property
    def http(self) -> str:
        return self.thread.url

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.thread.port}/ws"


def no_media(root: Path) -> MediaService:
    """A media service with no provider set up, storing under `root` (not the working directory)."""
    return MediaService(JobStore(root / "media.sqlite3"), ProviderSet([]), files_dir=root / "files")


@pytest.fixture(scope="session")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningServer]]:
    """Start (or reuse) a real voicechat server for a given set of settings."""
    running: dict[tuple[tuple[str, str], ...], RunningServer] = {}
    extra: list[RunningServer] = []

    def start(media: MediaService | None = None, **overrides: Any) -> RunningServer:
        key = tuple(sorted((k, repr(v)) for k, v in overrides.items()))
        if media is None and key in running:
            return running[key]
        settings = make_settings(**overrides)
        app = create_app(settings, media=media or no_media(tmp_path_factory.mktemp("media")))
        server = RunningServer(ServerThread(app, ws_max_size=16 << 20).start(), settings)
        if media is None:
            running[key] = server
        else:  # a test's own media service: never shared
            extra.append(server)
        return server

    yield start
    servers = [*running.values(), *extra]
    for server in servers:  # all asked at once: stopped one after another they took ~9 s at the end of a run
        server.thread.server.should_exit = True
    for server in servers:
        server.thread.stop()


@pytest.fixture
def remote_server(start_server: Callable[..., RunningServer], fake_chat: FakeOpenAIChat) -> RunningServer:
    """A server whose chat model is the fake OpenAI server (deterministic replies)."""
    return start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                        chat_timeout_s=3.0)


@pytest.fixture
def fake_media() -> FakeMediaServer:
    """The fake media providers' server (one per test process), reset for this test."""
    return shared_fake()


@pytest.fixture
def start_media_server(start_server: Callable[..., RunningServer], fake_chat: FakeOpenAIChat,
                       fake_media: FakeMediaServer, tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start a server of this test's own with media on the fake providers (`providers=`, default
    Midjourney and Luma) and the fake chat model; other keywords are settings (`wake_word=...`)."""
    started: list[RunningServer] = []

    def start(providers: tuple[str, ...] = ("midjourney", "luma"), **overrides: Any) -> RunningServer:
        root = tmp_path / f"media-{len(started)}"
        server = start_server(media=fake_media_service(fake_media, root, providers),
                              openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                              **overrides)
        started.append(server)
        return server

    yield start
    for server in started:
        server.thread.stop()  # its poller must not touch the shared fake during the next test


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """One real PostgreSQL cluster for the whole run (tests/postgres.py); each test takes a database."""
    from tests.postgres import Postgres

    server = Postgres().start()
    yield server
    server.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Run a test once per backend: "" is the SQLite files, else a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return ""
    return request.getfixturevalue("postgres").database()
