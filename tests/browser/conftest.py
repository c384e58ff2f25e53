"""Headless Chromium against a real server: fake microphone from a WAV of synthesized speech.

Needs /usr/bin/chromium (Debian package) and the `playwright` Python package; never `playwright install`
(it downloads a browser). Chromium loops the fake-capture WAV from the moment the page opens the mic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.speech import piper_speech, silence
from voicechat.audio import wav_bytes

CHROMIUM = Path("/usr/bin/chromium")
WAV_RATE = 48000
SAID = "Please remind me to water the plants tomorrow morning."
LEAD_S = 0.5
# Long trailing silence: in hands-free mode the loop's next utterance (the barge-in) must come well after
# the reply has started, even on a loaded machine where transcription takes seconds.
TAIL_S = 8.0


@dataclass(frozen=True)
class SpeechFile:
    path: Path
    text: str
    lead_s: float
    speech_s: float
    tail_s: float


@pytest.fixture(scope="session")
def speech_file(tmp_path_factory: pytest.TempPathFactory) -> SpeechFile:
    speech = piper_speech(SAID, WAV_RATE)
    pcm = silence(int(LEAD_S * 1000), WAV_RATE) + speech + silence(int(TAIL_S * 1000), WAV_RATE)
    path = tmp_path_factory.mktemp("browser-audio") / "speech.wav"
    path.write_bytes(wav_bytes(pcm, WAV_RATE))
    return SpeechFile(path, SAID, LEAD_S, len(speech) / 2 / WAV_RATE, TAIL_S)


def page_server(start_server: Any, fake_chat: Any, **overrides: Any) -> Any:
    """A server of the browser tests' own (not the shared `remote_server`): pages reload and reconnect
    often, which must not count against other tests' per-address connection limit."""
    settings: dict[str, Any] = {
        "openai_api_base_url": fake_chat.base_url, "openai_api_key": fake_chat.api_key,
        "chat_timeout_s": 3.0, "max_connections_per_minute": 0,
    }
    return start_server(**{**settings, **overrides})


@pytest.fixture
def server(start_server: Any, fake_chat: Any) -> Any:
    return page_server(start_server, fake_chat)


def chromium_args(speech_file: SpeechFile) -> list[str]:
    """Headless Chromium on this closed network, with the speech file as its microphone."""
    return [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={speech_file.path}",
        "--autoplay-policy=no-user-gesture-required",
    ]


@pytest.fixture(scope="module")
def browser(speech_file: SpeechFile) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need /usr/bin/chromium (Debian package; scripts/setup.sh --test)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package (pip install playwright)")
    args = chromium_args(speech_file)
    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile (its own --user-data-dir).
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield chromium
        chromium.close()


@dataclass
class PageUnderTest:
    """A page of a fresh browser context (empty localStorage), and the uncaught errors it raised."""

    page: Any
    url: str
    errors: list[str] = field(default_factory=list)

    def open(self) -> None:
        self.page.goto(self.url)
        self.wait_for_state("ready")

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def wait(self, expression: str, arg: Any = None, timeout_s: float = 30) -> Any:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            return self.page.wait_for_function(expression, arg=arg, timeout=timeout_s * 1000).json_value()
        except PlaywrightTimeout:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {expression!r} ({arg!r});\n"
                                 f"{self.diagnosis()}") from None

    def diagnosis(self) -> str:
        """What the page saw, for a failure message: state, counters and the last events both ways."""
        return self.js(r"""() => {
            const v = window.voicechat;
            if (!v) return 'window.voicechat missing';
            const brief = e => JSON.stringify(e, (k, x) => typeof x === 'string' && x.length > 60
                ? x.slice(0, 60) + '…' : x);
            const received = v.events.slice(-25).map(brief).join('\n  ');
            return `state=${v.state} log=${v.stateLog.join('>')} sentBytes=${v.sentBytes}`
                + ` playedSamples=${v.playedSamples}\nreceived: ${received}`
                + `\nsent: ${v.sent.filter(e => e.type !== 'playback').slice(-10).map(brief).join('\n  ')}`;
        }""")

    def wait_for_state(self, state: str, timeout_s: float = 30) -> None:
        self.wait("s => window.voicechat && window.voicechat.state === s", state, timeout_s)

    def wait_for_event(self, kind: str, timeout_s: float = 30, **match: Any) -> dict[str, Any]:
        """The first received event of `kind` whose fields equal `match` (events seen so far included)."""
        return self.wait(
            """([kind, match]) => window.voicechat.events.find(e => e.type === kind
                 && Object.entries(match).every(([k, v]) => e[k] === v)) || null""",
            [kind, match], timeout_s)

    def silent_microphone(self) -> None:
        """Give this page a microphone that hears only silence (call before `open`). For tests of settings
        and status: with the looping speech file, where the sentence happens to be when a setting changes
        or a status is read depends on the machine's speed (a turn may be starting, or playing)."""
        self.page.add_init_script("""
            navigator.mediaDevices.getUserMedia = async () => {
                const ctx = new AudioContext();
                const quiet = ctx.createGain();
                quiet.gain.value = 0;
                ctx.createOscillator().connect(quiet);  // (an unconnected destination may produce no frames)
                const room = ctx.createMediaStreamDestination();
                quiet.connect(room);
                return room.stream;
            };
        """)

    def sent(self, kind: str) -> list[dict[str, Any]]:
        return self.js("kind => window.voicechat.sent.filter(e => e.type === kind)", kind)


@pytest.fixture
def make_page(browser: Any) -> Iterator[Any]:
    contexts = []

    def make(url: str, viewport: dict[str, int] | None = None) -> PageUnderTest:
        context = browser.new_context(viewport=viewport or {"width": 1100, "height": 760})
        contexts.append(context)
        page = context.new_page()
        under_test = PageUnderTest(page, url)
        page.on("pageerror", lambda error: under_test.errors.append(str(error)))
        return under_test

    yield make
    for context in contexts:
        context.close()
