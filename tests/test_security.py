"""Nobody let in without a token, no cross-site WebSocket, limits refuse clearly, keys never leak."""

from __future__ import annotations

import asyncio
import json
import os

import httpx
import pytest
import websockets

from tests.conftest import ROOT, make_settings, no_media
from tests.fakes.providers import MJ_SECRET, shared_fake
from tests.process import ServerProcess
from tests.wsclient import NativeClient
from voicechat.app import create_app
from voicechat.security import ConfigError, RateLimiter, parse_tokens

ALICE = "alice-0123456789abcdef0123456789"
BOB = "bob-fedcba9876543210fedcba98765"
TOKENS = f"alice:{ALICE},bob:{BOB}"


async def refused(url: str, **kwargs) -> websockets.frames.Close:
    """Connect and expect the server to close before it says anything."""
    async with websockets.connect(url, **kwargs) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd


@pytest.fixture
def guarded(start_server):
    return start_server(tokens=TOKENS)


async def test_websocket_needs_a_valid_token(guarded):
    assert (await refused(guarded.ws)).code == 4401
    assert (await refused(guarded.ws + "?token=wrong-token-wrong-token")).code == 4401
    by_query = await NativeClient.connect(guarded.ws + f"?token={ALICE}")
    by_header = await NativeClient.connect(guarded.ws, additional_headers={"Authorization": f"Bearer {BOB}"})
    assert by_query.ready["type"] == "ready" and by_header.ready["type"] == "ready"
    await by_query.close()
    await by_header.close()


async def test_http_api_needs_a_token_and_answers_like_openai(guarded):
    async with httpx.AsyncClient(base_url=guarded.http) as http:
        missing = await http.get("/api/jobs")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"]["code"] == "invalid_api_key"
        ok = await http.get("/api/jobs", headers={"Authorization": f"Bearer {ALICE}"})
        assert ok.status_code == 200
        assert (await http.get("/health")).status_code == 200  # probes stay open


async def test_users_see_only_their_own_conversations(guarded):
    alice = await NativeClient.connect(guarded.ws + f"?token={ALICE}")
    await alice.send({"type": "text", "text": "Secret plans"})
    await alice.expect("turn.done")
    await alice.close()
    async with httpx.AsyncClient(base_url=guarded.http) as http:
        mine = await http.get("/api/conversations", headers={"Authorization": f"Bearer {ALICE}"})
        theirs = await http.get("/api/conversations", headers={"Authorization": f"Bearer {BOB}"})
    assert alice.ready["session_id"] in {c["id"] for c in mine.json()["conversations"]}
    assert alice.ready["session_id"] not in {c["id"] for c in theirs.json()["conversations"]}


async def test_foreign_origin_is_refused_own_and_listed_origins_are_not(start_server):
    server = start_server(allowed_origins="https://assistant.example.org")
    evil = await refused(server.ws, additional_headers={"Origin": "https://evil.example.com"})
    assert evil.code == 4403
    own = await NativeClient.connect(server.ws, additional_headers={"Origin": server.http})
    listed = await NativeClient.connect(server.ws, additional_headers={"Origin": "https://assistant.example.org"})
    await own.close()
    await listed.close()


def test_non_loopback_bind_without_tokens_is_refused(tmp_path):
    """The app refuses an open API on the network; `voicechat serve` makes a token instead (test_docker)."""
    with pytest.raises(ConfigError, match="VOICECHAT_TOKENS"):
        create_app(make_settings(host="0.0.0.0"))
    create_app(make_settings(host="0.0.0.0", tokens=TOKENS), media=no_media(tmp_path))  # with tokens: fine


def test_tokens_are_checked_for_strength():
    with pytest.raises(ConfigError, match="16 characters"):
        parse_tokens("alice:short")
    assert parse_tokens(f"{ALICE}, bob:{BOB}") == {ALICE: "local", BOB: "bob"}


async def test_capacity_and_connection_rate_are_refused_clearly(start_server):
    full = start_server(max_sessions=2)
    first, second = await NativeClient.connect(full.ws), await NativeClient.connect(full.ws)
    assert (await refused(full.ws)).code == 1013
    await first.close()
    await second.close()
    limited = start_server(max_connections_per_minute=2)
    for _ in range(2):
        client = await NativeClient.connect(limited.ws)
        await client.close()
    closed = await refused(limited.ws)
    assert closed.code == 4429 and "too many" in closed.reason


async def test_http_request_rate_is_limited(start_server):
    server = start_server(max_requests_per_minute=5)
    async with httpx.AsyncClient(base_url=server.http) as http:
        codes = [(await http.get("/api/jobs")).status_code for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2


async def test_a_service_user_has_its_own_request_limit_not_the_per_ip_one(start_server):
    # One voicechat using another as its remote STT sends far more than a person from one address.
    server = start_server(tokens=f"alice:{ALICE},node-b:{BOB}", service_users="node-b",
                          max_requests_per_minute=5, service_requests_per_minute=30)
    async with httpx.AsyncClient(base_url=server.http) as http:
        service = [(await http.get("/api/jobs", headers={"authorization": f"Bearer {BOB}"})).status_code
                   for _ in range(32)]
        person = [(await http.get("/api/jobs", headers={"authorization": f"Bearer {ALICE}"})).status_code
                  for _ in range(7)]
    assert service == [200] * 30 + [429] * 2  # its own budget, and a budget it is
    assert person == [200] * 5 + [429] * 2  # the same address: people keep the per-IP limit


def test_rate_limiter_window_slides():
    limiter = RateLimiter(2)
    assert limiter.allow("a", 0) and limiter.allow("a", 1) and not limiter.allow("a", 2)
    assert limiter.allow("b", 2)  # per client
    assert limiter.allow("a", 61)  # a minute later


async def test_idle_connections_are_closed(start_server):
    server = start_server(idle_timeout_s=0.5)
    client = await NativeClient.connect(server.ws)
    error = await client.expect("error", timeout=10)
    assert error["code"] == "idle_timeout" and error["recoverable"] is False
    with pytest.raises(websockets.ConnectionClosed):
        await client.next(timeout=10)


def test_keys_never_reach_logs_or_responses(tmp_path, fake_chat):
    """A real server process with provider keys set: scan its whole log and every response."""
    fake = shared_fake()
    secrets = {"chat": fake_chat.api_key, "mj": MJ_SECRET, "suno": "suno-key-0123456789abcdef",
               "alice": ALICE}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MJ_", "VOICECHAT_"))}
    env.update({
        "PYTHONUNBUFFERED": "1", "VOICECHAT_LOG_LEVEL": "debug",
        "VOICECHAT_MODELS_DIR": str(ROOT / "models"), "VOICECHAT_DB_PATH": str(tmp_path / "c.sqlite3"),
        "VOICECHAT_MEDIA_DB": str(tmp_path / "m.sqlite3"), "VOICECHAT_MEDIA_DIR": str(tmp_path / "media"),
        "VOICECHAT_MEDIA_POLL_INTERVAL_S": "0.1", "VOICECHAT_TOKENS": f"alice:{ALICE}",
        "OPENAI_API_BASE_URL": fake_chat.base_url, "OPENAI_API_KEY": secrets["chat"],
        "MJ_SERVER": fake.url, "MJ_API_SECRET": secrets["mj"],
        "SUNO_SERVER": fake.url, "SUNO_KEY": secrets["suno"],
    })  # fmt: skip
    server = ServerProcess(env)
    responses: list[str] = []
    try:
        async def talk() -> None:
            client = await NativeClient.connect(f"{server.ws}?token={ALICE}")
            await client.send({"type": "text", "text": "Draw a cat wearing a hat"})
            await client.find("media.job", event="succeeded", timeout=60)
            fake_chat.mode = "401"  # the chat model rejects the key: the error must not echo it
            await client.send({"type": "text", "text": "Hello"})
            await client.find("turn.done", status="failed")
            await client.close()
            responses.extend(json.dumps(e) for e in client.events)

        asyncio.run(talk())
        base = server.http
        auth = {"Authorization": f"Bearer {ALICE}"}
        for path in ("/", "/health", "/api/jobs", "/api/conversations", "/app.js", "/nope"):
            response = httpx.get(base + path, headers=auth)
            responses.append(response.text + json.dumps(dict(response.headers)))
        responses.append(httpx.get(base + "/api/jobs").text)
    finally:
        server.stop()  # the whole log, to its last line
    everything = server.log + "".join(responses)
    assert "media.job" in everything and "GET /api/jobs" in everything  # the scan saw real traffic
    assert "/ws?token=***" in everything  # the access log printed the URL, redacted
    for name, secret in secrets.items():
        assert secret not in everything, f"the {name} key leaked"


async def test_page_is_revalidated_and_never_framed(remote_server):
    async with httpx.AsyncClient(base_url=remote_server.http) as http:
        page = await http.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert page.headers["cache-control"] == "no-cache"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
