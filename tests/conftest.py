"""Shared fixtures: real servers on ephemeral ports, a fake OpenAI chat server, synthesized speech."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.http import ServerThread
from tests.fakes.openai_chat import FakeOpenAIChat
from voicechat.app import create_app
from voicechat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def make_settings(**overrides: Any) -> Settings:
    """Settings for a test server: no `.env`, the repo's models folder, loopback, an ephemeral port."""
    base: dict[str, Any] = {
        "models_dir": Path(os.environ.get("VOICECHAT_MODELS_DIR", ROOT / "models")),
        "host": "127.0.0.1",
        "port": 0,
        "vad_hangover_ms": 500,
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


@pytest.fixture(scope="session")
def start_server() -> Iterator[Callable[..., RunningServer]]:
    """Start (or reuse) a real voicechat server for a given set of settings."""
    running: dict[tuple[tuple[str, str], ...], RunningServer] = {}

    def start(**overrides: Any) -> RunningServer:
        key = tuple(sorted((k, repr(v)) for k, v in overrides.items()))
        if key not in running:
            settings = make_settings(**overrides)
            thread = ServerThread(create_app(settings), ws_max_size=16 << 20).start()
            running[key] = RunningServer(thread, settings)
        return running[key]

    yield start
    for server in running.values():
        server.thread.stop()


@pytest.fixture
def remote_server(start_server: Callable[..., RunningServer], fake_chat: FakeOpenAIChat) -> RunningServer:
    """A server whose chat model is the fake OpenAI server (deterministic replies)."""
    return start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                        chat_timeout_s=3.0)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
