"""The shared HTTP helper turns every fault into a ProviderError with a clear, key-free reason."""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from tests.fakes.providers import KEY, MJ_SECRET, FakeMediaServer, shared_fake
from voicechat.media.jobs import MediaKind, MediaRequest
from voicechat.media.providers.base import ProviderError, progress_from
from voicechat.media.providers.luma import LumaAdapter
from voicechat.media.providers.midjourney import MidjourneyAdapter

SECRETS = (KEY, MJ_SECRET, "wrong-secret-value")


@pytest.fixture
def fake() -> FakeMediaServer:
    return shared_fake()


async def fault_of(adapter, request: MediaRequest) -> ProviderError:
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.submit(request)
    finally:
        await adapter.aclose()
    for secret in SECRETS:
        assert secret not in caught.value.message
        assert secret not in str(caught.value)
    return caught.value


def mj(fake: FakeMediaServer, secret: str = MJ_SECRET, **kwargs) -> MidjourneyAdapter:
    return MidjourneyAdapter(fake.url, SecretStr(secret), **kwargs)


IMAGINE = MediaRequest(MediaKind.IMAGE, "a fox")
VIDEO = MediaRequest(MediaKind.VIDEO, "a sunrise")


async def test_html_page_instead_of_json(fake):
    fake.fault("midjourney", "html")
    error = await fault_of(mj(fake), IMAGINE)
    assert error.code == "bad_response" and not error.retryable
    assert "web page instead of JSON" in error.message and "MJ_SERVER" in error.message


async def test_bad_json(fake):
    fake.fault("luma", "bad_json")
    error = await fault_of(LumaAdapter(fake.url, SecretStr(KEY)), VIDEO)
    assert error.code == "bad_response" and "not JSON" in error.message and "LUMA_SERVER" in error.message


async def test_empty_answer(fake):
    fake.fault("luma", "empty")
    error = await fault_of(LumaAdapter(fake.url, SecretStr(KEY)), VIDEO)
    assert error.code == "bad_response" and "empty answer" in error.message


async def test_wrong_mj_secret_gets_an_empty_401(fake):
    error = await fault_of(mj(fake, secret="wrong-secret-value"), IMAGINE)
    assert error.code == "auth" and not error.retryable
    assert error.message == "Midjourney refused our credentials (HTTP 401); check MJ_API_SECRET"


async def test_wrong_bearer_key_names_the_env_var(fake):
    adapter = LumaAdapter(fake.url, SecretStr("wrong-secret-value"), key_env="LUMA_KEY or OPENAI_API_KEY")
    error = await fault_of(adapter, VIDEO)
    assert error.code == "auth" and "LUMA_KEY or OPENAI_API_KEY" in error.message
    assert "Invalid token" in error.message


async def test_gateway_token_check_423(fake):
    fake.fault("luma", "token_check")
    error = await fault_of(LumaAdapter(fake.url, SecretStr(KEY)), VIDEO)
    assert error.code == "auth" and "HTTP 423" in error.message and "Please authorize first" in error.message


@pytest.mark.parametrize(
    ("status", "code"), [(429, "rate_limited"), (500, "http_error"), (502, "http_error"), (503, "http_error")]
)
async def test_overload_and_server_errors_are_retryable(fake, status, code):
    fake.fault("luma", "status", status=status)
    error = await fault_of(LumaAdapter(fake.url, SecretStr(KEY)), VIDEO)
    assert (error.code, error.retryable) == (code, True)
    assert f"HTTP {status}" in error.message


async def test_missing_route_404(fake):
    fake.fault(
        "luma", "status", status=404, body={"error": {"message": "Invalid URL (POST /luma/generations/)"}}
    )
    error = await fault_of(LumaAdapter(fake.url, SecretStr(KEY)), VIDEO)
    assert error.code == "no_route" and not error.retryable and "LUMA_SERVER" in error.message


async def test_slow_answer_times_out(fake):
    fake.fault("luma", "slow", delay=1.0)
    error = await fault_of(LumaAdapter(fake.url, SecretStr(KEY), timeout_s=0.2), VIDEO)
    assert (error.code, error.retryable) == ("timeout", True)
    assert "did not answer within 0.2 seconds" in error.message


async def test_connection_refused_is_retryable():
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = await fault_of(LumaAdapter(f"http://127.0.0.1:{port}", SecretStr(KEY)), VIDEO)
    assert (error.code, error.retryable) == ("unreachable", True)
    assert "127.0.0.1" in error.message and "LUMA_SERVER" in error.message


async def test_a_key_echoed_by_the_server_is_scrubbed(fake):
    fake.fault("luma", "status", status=400, body={"error": {"message": f"key {KEY} has no Luma access"}})
    error = await fault_of(LumaAdapter(fake.url, SecretStr(KEY)), VIDEO)
    assert "key *** has no Luma access" in error.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("46%", 46),
        ("0%", 0),
        ("100%", 100),
        ("0.42", 42),
        (0.5, 50),
        (70, 70),
        ("", None),
        (None, None),
        ("soon", None),
    ],
)
def test_progress_from(raw, expected):
    assert progress_from(raw) == expected
