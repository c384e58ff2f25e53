"""The page over HTTPS from "another device": `voicechat serve --tls self-signed` as a real process, and
Chromium opening it by a name that is not loopback (`voicechat.test`, mapped to 127.0.0.1 inside the
browser), so the page is a secure context, and gets the microphone, only because of HTTPS. The browser is
told to accept exactly that certificate (its public key's SHA-256), as a user accepts it after checking
the fingerprint the server logged."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, SpeechFile, chromium_args
from tests.browser.test_page import MAX_WER, hold_to_talk, wer
from tests.conftest import ROOT
from tests.process import ServerProcess
from voicechat.tls import fingerprint, spki_sha256_base64

NAME = "voicechat.test"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, fake_chat: Any) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("tls-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICECHAT_", "OPENAI_"))}
    env.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "VOICECHAT_HOME": str(home),
                "VOICECHAT_MODELS_DIR": os.environ.get("VOICECHAT_MODELS_DIR", str(ROOT / "models")),
                "OPENAI_API_BASE_URL": fake_chat.base_url, "OPENAI_API_KEY": fake_chat.api_key,
                "VOICECHAT_MAX_CONNECTIONS_PER_MINUTE": "0"})
    argv = [sys.executable, "-m", "voicechat", "serve", "--port", "0", "--tls", "self-signed"]
    server = ServerProcess(env, argv=argv, cwd=home)
    server.home = home  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(speech_file: SpeechFile, tls_server: ServerProcess) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need /usr/bin/chromium (Debian package; scripts/setup.sh --test)")
    from playwright.sync_api import sync_playwright

    cert = tls_server.home / "data" / "tls" / "self-signed.crt"  # type: ignore[attr-defined]
    args = [
        *chromium_args(speech_file),
        f"--host-resolver-rules=MAP {NAME} 127.0.0.1",
        f"--ignore-certificate-errors-spki-list={spki_sha256_base64(cert)}",
    ]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield chromium
        chromium.close()


def test_self_signed_certificate_is_made_once_and_its_fingerprint_logged(tls_server):
    cert = Path(tls_server.home) / "data" / "tls" / "self-signed.crt"  # type: ignore[attr-defined]
    key = cert.with_suffix(".key")
    assert cert.exists() and (key.stat().st_mode & 0o077) == 0
    logged = tls_server.wait_for(r"SHA-256 fingerprint .*: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})")
    assert logged.group(1) == fingerprint(cert)
    urls = tls_server.wait_for(r"(https://127\.0\.0\.1:\d+/)")
    assert urls.group(1) == tls_server.http + "/"


def test_page_over_https_by_name_captures_the_microphone_and_completes_a_turn(make_page, tls_server,
                                                                              fake_chat, speech_file):
    page = make_page(f"https://{NAME}:{tls_server.port}/")
    page.open()
    assert page.js("[location.protocol, location.hostname, window.isSecureContext]") == ["https:", NAME, True]
    hold_to_talk(page, speech_file)
    transcript = page.wait_for_event("transcript", timeout_s=60)
    assert wer(speech_file.text, transcript["text"]) <= MAX_WER, transcript["text"]
    reply = fake_chat.reply_for(transcript["text"])
    page.wait("([sel, text]) => document.querySelector(sel)?.textContent === text",
              [f'.bubble.assistant[data-turn-id="{transcript["turn_id"]}"] .text', reply])
    page.wait("() => window.voicechat.playedSamples > 0.5 * window.voicechat.sampleRate", timeout_s=30)
    done = page.wait_for_event("turn.done", turn_id=transcript["turn_id"], timeout_s=60)
    assert done["status"] == "completed"
    assert not page.errors
