"""Wyoming's wake service, driven by the `wyoming` package's client (what Home Assistant and satellites
use): `describe` lists the wake words, `detect` + audio answers `detection` or `not-detected`; and the
door's zeroconf announcement, found by a real mDNS browser."""

from __future__ import annotations

import asyncio
import socket
import uuid

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.ping import Ping
from wyoming.wake import Detect, Detection
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from tests.speech import piper_speech, silence
from tests.test_wyoming import read_until, wyoming  # noqa: F401  (the fixture)
from voicechat.audio import resample_pcm16
from voicechat.doors.wyoming_zeroconf import SERVICE_TYPE, advertised_address

RATE = 22050  # what many satellites' microphones send; the door converts


async def stream(client: AsyncTcpClient, pcm16k: bytes, stop: bool = True) -> None:
    audio = resample_pcm16(pcm16k, 16000, RATE)
    await client.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
    step = RATE * 2 // 25  # 40 ms chunks
    for number, offset in enumerate(range(0, len(audio), step)):
        chunk = AudioChunk(rate=RATE, width=2, channels=1, audio=audio[offset : offset + step],
                           timestamp=number * 40)
        await client.write_event(chunk.event())
    if stop:
        await client.write_event(AudioStop().event())


async def test_describe_lists_the_wake_words(wyoming):  # noqa: F811
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Describe().event())
        info = Info.from_event((await read_until(client, "info"))[-1])
    assert len(info.wake) == 1 and info.wake[0].installed
    models = {m.name: m for m in info.wake[0].models}
    assert set(models) == {"alexa", "hey_jarvis", "hey_mycroft", "okay_nabu"}
    assert models["hey_jarvis"].phrase == "Hey Jarvis" and "en" in models["hey_jarvis"].languages


async def test_detect_answers_detection_when_the_word_is_said(wyoming):  # noqa: F811
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Detect(names=["hey_jarvis"], context={"satellite": "kitchen"}).event())
        await stream(client, silence(500) + piper_speech("Hey Jarvis, turn on the lights.") + silence(500))
        events = await read_until(client, "detection")
        await client.write_event(Ping(text="after").event())
        after = await read_until(client, "pong")
    detection = Detection.from_event(events[-1])
    assert detection.name == "hey_jarvis" and detection.context == {"satellite": "kitchen"}
    assert 500 < detection.timestamp < 2500  # the chunk it was heard in: after the phrase started
    assert [e.type for e in after] == ["pong"]  # no not-detected after a detection


async def test_detect_answers_not_detected_when_the_audio_ends_without_it(wyoming):  # noqa: F811
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Detect(names=["Hey Jarvis"]).event())  # a phrase works as a name too
        await stream(client, silence(300) + piper_speech("Turn on the lights, Travis.") + silence(500))
        events = await read_until(client, "not-detected")
    assert [e.type for e in events] == ["not-detected"]


async def test_a_satellite_streaming_on_is_told_each_time(wyoming):  # noqa: F811
    said = piper_speech("Hey Jarvis, what time is it?")
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Detect().event())  # no names: any of the words
        await stream(client, silence(300) + said + silence(2000) + said + silence(500), stop=False)
        first = await read_until(client, "detection")
        second = await read_until(client, "detection")
    assert Detection.from_event(first[-1]).name == Detection.from_event(second[-1]).name == "hey_jarvis"
    assert Detection.from_event(second[-1]).timestamp > Detection.from_event(first[-1]).timestamp + 2000


async def test_an_unknown_word_is_an_error_and_the_connection_still_transcribes(wyoming):  # noqa: F811
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Detect(names=["hey_siri"]).event())
        error = Error.from_event((await read_until(client, "error"))[-1])
        assert "hey_siri" in error.text and "available: alexa, hey_jarvis" in error.text
        await client.write_event(Transcribe(language="en").event())
        await stream(client, silence(200) + piper_speech("Turn on the lights.") + silence(300))
        transcript = Transcript.from_event((await read_until(client, "transcript"))[-1])
    assert "lights" in transcript.text.lower()


class _Seen:
    """A zeroconf browser's listener: the names announced and withdrawn, as they come."""

    def __init__(self) -> None:
        self.added: asyncio.Queue[str] = asyncio.Queue()
        self.removed: asyncio.Queue[str] = asyncio.Queue()

    def add_service(self, zc: object, kind: str, name: str) -> None:
        self.added.put_nowait(name)

    def remove_service(self, zc: object, kind: str, name: str) -> None:
        self.removed.put_nowait(name)

    def update_service(self, zc: object, kind: str, name: str) -> None:
        pass


async def next_named(queue: asyncio.Queue[str], name: str) -> str:
    while (found := await asyncio.wait_for(queue.get(), 20)) != name:
        pass
    return found


async def test_zeroconf_announces_the_door_to_a_browser_until_shutdown(start_server, fake_chat):
    """What Home Assistant does: browse `_wyoming._tcp`, resolve, connect, describe. Multicast on this
    machine's interfaces (the test fails rather than skips where multicast does not work)."""
    name = f"voicechat-test-{uuid.uuid4().hex[:8]}"
    zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
    seen = _Seen()
    browser = AsyncServiceBrowser(zc.zeroconf, SERVICE_TYPE, listener=seen)
    try:
        server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                              wyoming_uri="tcp://127.0.0.1:0", wyoming_zeroconf=True,
                              wyoming_zeroconf_name=name)
        full = await next_named(seen.added, f"{name}.{SERVICE_TYPE}")
        info = AsyncServiceInfo(SERVICE_TYPE, full)
        assert await info.async_request(zc.zeroconf, 5000)
        assert info.parsed_addresses() == ["127.0.0.1"]
        assert info.port == server.thread.server.config.app.state.wyoming_port
        async with AsyncTcpClient(info.parsed_addresses()[0], info.port) as client:
            await client.write_event(Describe().event())
            described = Info.from_event((await read_until(client, "info"))[-1])
        assert described.wake and described.asr and described.handle
        await asyncio.to_thread(server.thread.stop)
        await next_named(seen.removed, full)  # withdrawn at shutdown, not left to expire
    finally:
        await browser.async_cancel()
        await zc.async_close()


def test_zeroconf_announces_a_wildcard_bind_at_the_machines_address() -> None:
    address = advertised_address("0.0.0.0")
    assert address != "0.0.0.0" and socket.inet_aton(address)
    assert advertised_address("127.0.0.1") == "127.0.0.1"
