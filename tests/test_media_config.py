"""Media settings: env names users already have, the one-gateway fallback, and "not configured"."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.fakes.providers import KEY, shared_fake
from voicechat.media.config import MediaSettings, NotConfigured, build_providers
from voicechat.media.jobs import MediaKind, MediaRequest


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path: Path):
    for name in MediaSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def settings(**values) -> MediaSettings:
    return MediaSettings(_env_file=None, **values)


def test_nothing_configured_explains_what_to_set():
    providers = build_providers(settings())
    assert providers.adapters == {}
    image = providers.missing_reason(MediaKind.IMAGE)
    assert image.startswith("I can't make pictures yet")
    assert "MJ_SERVER for Midjourney" in image and "OPENAI_API_KEY for OpenAI images" in image
    assert "SUNO_SERVER for Suno" in providers.missing_reason(MediaKind.MUSIC)
    assert "LUMA_SERVER for Luma" in providers.missing_reason(MediaKind.VIDEO)
    with pytest.raises(NotConfigured, match="no video provider"):
        providers.pick(MediaKind.VIDEO)


def test_an_openai_key_alone_gives_openai_images_but_nothing_else():
    providers = build_providers(settings(openai_api_key="sk-test"))
    assert set(providers.adapters) == {"openai"}
    assert providers.adapters["openai"].base_url == "https://api.openai.com"
    assert providers.pick(MediaKind.IMAGE).name == "openai"
    with pytest.raises(NotConfigured):
        providers.pick(MediaKind.MUSIC)


def test_a_chat_gateway_alone_serves_no_media():
    # The README's Ollama and OpenAI examples: chat only, nothing else is guessed.
    for base, key in (("http://127.0.0.1:11434", None), ("https://gw.example/v1", "sk-test")):
        providers = build_providers(settings(openai_api_base_url=base, openai_api_key=key))
        assert providers.adapters == {}, base
        music = providers.missing_reason(MediaKind.MUSIC)
        assert "SUNO_SERVER for Suno" in music and "VOICECHAT_MEDIA_GATEWAY=true" in music
        assert providers.reasons["suno"] == "not configured: SUNO_SERVER is not set"
        assert "VOICECHAT_MEDIA_GATEWAY=true" in providers.reasons["openai"]
    openai = build_providers(settings(openai_api_base_url="https://api.openai.com", openai_api_key="sk"))
    assert set(openai.adapters) == {"openai"}  # OpenAI's own images, and nothing sent there for Suno


def test_one_gateway_serves_every_provider_when_the_user_says_so():
    providers = build_providers(
        settings(
            openai_api_base_url="https://gw.example/v1",
            openai_api_key="sk-test",
            voicechat_media_gateway="true",
        )
    )
    assert "midjourney" in providers.adapters and "viggle" in providers.adapters
    assert providers.pick(MediaKind.IMAGE).name == "openai"  # surely served by an OpenAI-compatible gateway
    assert providers.pick(MediaKind.MUSIC).name == "suno"
    assert providers.pick(MediaKind.VIDEO).name == "luma"
    suno = providers.adapters["suno"]
    assert suno.base_url == "https://gw.example"  # media routes hang off the root, not /v1
    assert suno.http.key_env == "SUNO_KEY or OPENAI_API_KEY"
    assert suno.http.server_env == "SUNO_SERVER or VOICECHAT_MEDIA_GATEWAY"
    assert providers.reasons["suno"].startswith("configured: VOICECHAT_MEDIA_GATEWAY=true")
    assert providers.adapters["openai"].prefix == "/v1"
    by_url = build_providers(settings(openai_api_key="sk", voicechat_media_gateway="http://media-gw:3000/"))
    assert by_url.adapters["midjourney"].base_url == "http://media-gw:3000"
    off = build_providers(settings(openai_api_base_url="https://gw.example", voicechat_media_gateway="false"))
    assert off.adapters == {}


def test_nothing_but_openai_goes_to_api_openai_com():
    for values in (
        {"openai_api_base_url": "https://api.openai.com", "voicechat_media_gateway": "true"},
        {"voicechat_media_gateway": "https://api.openai.com/v1"},
        {"mj_server": "https://api.openai.com"},
    ):
        providers = build_providers(settings(openai_api_key="sk", **values))
        assert set(providers.adapters) <= {"openai"}, values
        for name, adapter in providers.adapters.items():
            assert name == "openai" and adapter.name == "openai"
    refused = build_providers(settings(openai_api_key="sk", voicechat_media_gateway="https://api.openai.com"))
    assert any("api.openai.com serves no Midjourney" in p for p in refused.problems)
    assert (
        "points at api.openai.com"
        in build_providers(settings(mj_server="https://api.openai.com")).reasons["midjourney"]
    )
    nonsense = build_providers(settings(voicechat_media_gateway="maybe"))
    assert nonsense.problems == ["VOICECHAT_MEDIA_GATEWAY must be true, false or a URL, not 'maybe'"]


def test_startup_log_lists_each_provider_and_why():
    lines = build_providers(
        settings(openai_api_base_url="http://127.0.0.1:11434", mj_server="http://user:pw@mj.local:8080/x")
    ).log_lines()
    assert "midjourney: configured: MJ_SERVER (http://mj.local:8080)" in lines  # no credentials, no path
    assert "suno: not configured: SUNO_SERVER is not set" in lines
    assert lines[-1] == "defaults: image=midjourney, music=none, video=none"
    assert not any("pw" in line for line in lines)


def test_explicit_servers_win_and_own_keys_are_used():
    providers = build_providers(
        settings(
            openai_api_base_url="https://gw.example",
            openai_api_key="sk-gw",
            mj_server="http://mj:8080",
            mj_api_secret="s3cret",
            kling_server="https://kling.example",
            kling_key="k-kling",
        )
    )
    mj = providers.pick(MediaKind.IMAGE)
    assert (mj.name, mj.base_url, mj.prefix) == ("midjourney", "http://mj:8080", "/mj")
    assert mj.http._headers["mj-api-secret"] == "s3cret" and "Authorization" not in mj.http._headers
    assert providers.pick(MediaKind.VIDEO).name == "kling"
    assert providers.adapters["kling"].http._headers["Authorization"] == "Bearer k-kling"


async def test_midjourney_through_a_gateway_sends_the_gateway_key_as_bearer():
    fake = shared_fake()
    providers = build_providers(
        settings(openai_api_base_url=fake.url, openai_api_key=KEY, voicechat_media_gateway="true")
    )
    try:
        update = await providers.adapters["midjourney"].submit(MediaRequest(MediaKind.IMAGE, "a fox"))
    finally:
        await providers.aclose()
    assert update.provider_task_ids
    assert fake.sent("/mj/submit/imagine")[0].headers["authorization"] == f"Bearer {KEY}"


def test_chosen_provider_per_kind():
    base = {
        "openai_api_base_url": "https://gw.example",
        "openai_api_key": "sk",
        "voicechat_media_gateway": "1",
    }
    assert (
        build_providers(settings(**base, voicechat_media_video_provider="kling")).pick(MediaKind.VIDEO).name
        == "kling"
    )
    unset = build_providers(settings(openai_api_key="sk", voicechat_media_image_provider="midjourney"))
    with pytest.raises(
        NotConfigured, match="VOICECHAT_MEDIA_IMAGE_PROVIDER asks for Midjourney, but MJ_SERVER"
    ):
        unset.pick(MediaKind.IMAGE)
    unknown = build_providers(settings(**base, voicechat_media_music_provider="spotify"))
    assert "unknown provider, spotify" in unknown.missing_reason(MediaKind.MUSIC)
    wrong = build_providers(settings(**base, voicechat_media_music_provider="luma"))
    assert "cannot make music" in wrong.missing_reason(MediaKind.MUSIC)


def test_provider_quirks():
    direct = build_providers(settings(runwayml_server="https://api.dev.runwayml.com", runwayml_key="k"))
    assert direct.adapters["runwayml"].prefix == ""
    reused = build_providers(settings(runway_server="https://gw.example", runway_key="k"))
    assert reused.adapters["runwayml"].http.server_env == "RUNWAY_SERVER"  # the reference UI reuses the pair
    assert (
        build_providers(settings(suno_server="http://suno-api:8000", suno_prefix="/")).adapters["suno"].prefix
        == ""
    )
    assert build_providers(settings(suno_server="http://gw:3000")).adapters["suno"].prefix == "/suno"


def test_env_names_dotenv_and_empty_values(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text(
        "MJ_SERVER=http://mj.local\nSUNO_SERVER=http://gw.local\nSUNO_KEY=sk-suno\n"
    )
    monkeypatch.setenv("MJ_API_SECRET", "")  # an empty secret is no secret (the reference UI crashed on it)
    monkeypatch.setenv("VOICECHAT_MEDIA_DB", str(tmp_path / "x.sqlite3"))
    loaded = MediaSettings(_env_file=tmp_path / ".env")
    assert loaded.mj_server == "http://mj.local" and loaded.mj_api_secret is None
    assert isinstance(loaded.suno_key, SecretStr) and "sk-suno" not in repr(loaded)
    assert loaded.voicechat_media_db.endswith("x.sqlite3")
