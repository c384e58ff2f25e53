"""The Wyoming door, driven by the `wyoming` package's own client (what Home Assistant uses)."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop, NotHandled
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from tests.speech import MAX_WER, piper_speech, silence, wer
from voicechat.app import drain_sessions
from voicechat.audio import read_wav, resample_pcm16, rms_dbfs
from voicechat.doors.wyoming_checks import RemoteBindRefused, check_bind


@pytest.fixture
def wyoming(start_server, fake_chat):
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          chat_timeout_s=3.0, wyoming_uri="tcp://127.0.0.1:0")
    port = server.thread.server.config.app.state.wyoming_port
    assert port
    return port


async def read_until(client: AsyncTcpClient, last: str, timeout: float = 60.0) -> list[Event]:
    """Events up to and including the first of type `last`."""
    client.read_timeout = timeout
    events = []
    while True:
        event = await client.read_event()
        assert event is not None, f"connection closed before {last}; got {[e.type for e in events]}"
        events.append(event)
        if event.type == last:
            return events


def audio_of(events: list[Event]) -> tuple[bytes, int]:
    chunks = [AudioChunk.from_event(e) for e in events if AudioChunk.is_type(e.type)]
    assert chunks and all(c.width == 2 and c.channels == 1 for c in chunks)
    assert len({c.rate for c in chunks}) == 1
    return b"".join(c.audio for c in chunks), chunks[0].rate


async def test_describe_lists_asr_tts_and_handle(wyoming):
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Describe().event())
        info = Info.from_event((await read_until(client, "info"))[-1])
        await client.write_event(Ping(text="hi").event())
        assert Pong.from_event((await read_until(client, "pong"))[-1]).text == "hi"
    asr, tts, handle = info.asr[0], info.tts[0], info.handle[0]
    assert asr.installed and "en" in asr.models[0].languages and asr.models[0].name == "base"
    assert asr.supports_transcript_streaming
    assert "en_US-joe-medium" in [v.name for v in tts.voices] and tts.supports_synthesize_streaming
    assert handle.installed and handle.supports_handled_streaming and handle.models[0].languages == ["en"]


async def test_transcribe_streamed_audio(wyoming):
    said = "Set the living room temperature to twenty degrees."
    speech = resample_pcm16(silence(200) + piper_speech(said) + silence(300), 16000, 22050)
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=22050, width=2, channels=1).event())
        step = 22050 * 2 // 10
        for offset in range(0, len(speech), step):
            chunk = AudioChunk(rate=22050, width=2, channels=1, audio=speech[offset : offset + step])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        events = await read_until(client, "transcript")
    types = [e.type for e in events]
    assert types == ["transcript-start", "transcript-chunk", "transcript-stop", "transcript"], types
    assert TranscriptStart.from_event(events[0]).language == "en"
    final = Transcript.from_event(events[-1])
    assert TranscriptChunk.from_event(events[1]).text == final.text
    assert TranscriptStop.is_type(events[2].type)
    assert wer(said, final.text) <= MAX_WER, final.text


async def test_synthesize_whole_and_streamed(wyoming):
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Synthesize(text="The front door is locked.").event())
        whole = await read_until(client, "audio-stop")
        pcm, rate = audio_of(whole)
        assert AudioStart.is_type(whole[0].type) and AudioStart.from_event(whole[0]).rate == rate
        assert len(pcm) / 2 / rate > 1.0 and rms_dbfs(pcm) > -35

        # Streaming: sentences are spoken as they complete; the compatibility `synthesize` is ignored.
        await client.write_event(SynthesizeStart().event())
        for part in ["The garage ", "door is open. ", "Should I close ", "it?"]:
            await client.write_event(SynthesizeChunk(text=part).event())
        await client.write_event(Synthesize(text="The garage door is open. Should I close it?").event())
        await client.write_event(SynthesizeStop().event())
        streamed = await read_until(client, "synthesize-stopped")
    types = [e.type for e in streamed]
    assert types.count("audio-start") == 2 and types.count("audio-stop") == 2, types
    assert SynthesizeStopped.is_type(types[-1])
    pcm, rate = audio_of(streamed)
    assert len(pcm) / 2 / rate > 2.0 and rms_dbfs(pcm) > -35


def espeak_ng(text: str, voice: str) -> tuple[bytes, int]:
    """What espeak-ng itself says with `voice` (deterministic: the same call gives the same samples)."""
    pcm, rate = read_wav(subprocess.run(["espeak-ng", "--stdout", "-v", voice, "--", text],
                                        check=True, capture_output=True).stdout)
    return pcm, rate


async def test_synthesize_speaks_the_voice_asked_for_and_refuses_an_unknown_one(wyoming):
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Describe().event())
        listing = Info.from_event((await read_until(client, "info"))[-1]).tts[0].voices
        advertised = [v.name for v in listing]
        await client.write_event(Synthesize(text="Guten Morgen.", voice=SynthesizeVoice(name="de")).event())
        german = audio_of(await read_until(client, "audio-stop"))
        await client.write_event(Synthesize(text="Good morning.",
                                            voice=SynthesizeVoice(name="no-such-voice")).event())
        refused = await read_until(client, "error")
        # A stream with an unknown voice: refused once at synthesize-start, nothing spoken, still stopped.
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="no-such-voice")).event())
        for part in ["The garage ", "door is open. ", "Should I close it?"]:
            await client.write_event(SynthesizeChunk(text=part).event())
        await client.write_event(Synthesize(text="The garage door is open. Should I close it?",
                                            voice=SynthesizeVoice(name="no-such-voice")).event())
        await client.write_event(SynthesizeStop().event())
        stream_refused = await read_until(client, "synthesize-stopped")
        # The connection goes on, and each voice `describe` lists is one a synthesize may ask for, with the
        # language it is listed under (as Home Assistant would send both).
        spoken = {}
        for listed in listing:
            voice = SynthesizeVoice(name=listed.name, language=listed.languages[0])
            await client.write_event(Synthesize(text="Good morning.", voice=voice).event())
            spoken[listed.name] = audio_of(await read_until(client, "audio-stop"))
    assert german == espeak_ng("Guten Morgen.", "de")  # espeak-ng's German spoke it, not the Piper voice
    assert [e.type for e in refused] == ["error"], [e.type for e in refused]
    error = Error.from_event(refused[0])
    assert error.code == "voice_not_found" and "no-such-voice" in error.text, error
    assert "en_US-joe-medium" in error.text and "espeak-ng" in error.text, error.text  # the voices there are
    assert [e.type for e in stream_refused] == ["error", "synthesize-stopped"], stream_refused
    assert advertised[:2] == ["en_US-joe-medium", "en-us"], advertised  # Piper, espeak-ng behind it
    assert {"de", "en-gb", "cmn-latn-pinyin", "fr-fr"} <= set(advertised) and len(advertised) > 100
    assert spoken["en-us"] == espeak_ng("Good morning.", "en-us")
    assert spoken["en_US-joe-medium"] != spoken["en-us"] and rms_dbfs(spoken["en_US-joe-medium"][0]) > -35


def by_language(info: Info) -> dict[str, list[str]]:
    """The voices as Home Assistant's Wyoming TTS offers them: language -> voice names."""
    grouped: dict[str, list[str]] = {}
    for voice in info.tts[0].voices:
        for language in voice.languages:
            grouped.setdefault(language, []).append(voice.name)
    return grouped


async def test_describe_lists_each_voice_under_the_language_it_speaks(wyoming):
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Describe().event())
        info = Info.from_event((await read_until(client, "info"))[-1])
    voices = {v.name: v for v in info.tts[0].voices}
    grouped = by_language(info)
    assert all(len(v.languages) == 1 for v in voices.values()), [v.languages for v in voices.values()]
    assert {"en_US-joe-medium", "en-us", "en-gb"} <= set(grouped["en"]) and "de" not in grouped["en"]
    assert grouped["de"] == ["de"] and voices["de"].description == "espeak-ng German"
    assert sorted(grouped["fr"]) == ["fr-be", "fr-ch", "fr-fr"]
    assert grouped["zh"] == ["cmn-latn-pinyin"]  # not `cmn`, which reads its tone digits in English
    assert "en_US-joe-medium" not in {n for lang, names in grouped.items() if lang != "en" for n in names}


async def test_describe_with_edge_tts_lists_its_voice_for_each_language(start_server, fake_chat):
    # Only describe: speaking would need Microsoft's service (edge-tts has no local fake).
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          chat_timeout_s=3.0, wyoming_uri="tcp://127.0.0.1:0", tts_engine="edge",
                          voices="zh:zh-CN-YunxiNeural")
    port = server.thread.server.config.app.state.wyoming_port
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        info = Info.from_event((await read_until(client, "info"))[-1])
    names = [v.name for v in info.tts[0].voices]
    grouped = by_language(info)
    assert names[:3] == ["en-US-AriaNeural", "en_US-joe-medium", "en-us"], names[:5]  # each engine's default
    assert {"zh-CN-YunxiNeural", "zh-CN-XiaoxiaoNeural", "cmn-latn-pinyin"} <= set(grouped["zh"])
    assert {"de-DE-KatjaNeural", "de"} <= set(grouped["de"]) and "en-US-AriaNeural" in grouped["en"]


async def synthesized(client: AsyncTcpClient, text: str, voice: SynthesizeVoice) -> list[Event]:
    """The answer to one `synthesize`: its audio events, or an `error`."""
    await client.write_event(Synthesize(text=text, voice=voice).event())
    event = await client.read_event()
    assert event is not None, "connection closed before an answer"
    return [event] if event.type == "error" else [event, *await read_until(client, "audio-stop")]


async def test_synthesize_speaks_the_language_asked_for(wyoming):
    said = "Guten Morgen."
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        client.read_timeout = 60.0
        german = await synthesized(client, said, SynthesizeVoice(language="de"))
        german_region = await synthesized(client, said, SynthesizeVoice(language="de_DE"))
        named_german = await synthesized(client, said, SynthesizeVoice(name="de", language="de-AT"))
        french = await synthesized(client, "Bonjour.", SynthesizeVoice(language="fr"))
        english = await synthesized(client, "Good morning.", SynthesizeVoice(language="en-US"))
        # A name overrides the language (Wyoming's rule; its own client never sends both): sent raw.
        await client.write_event(Event(type="synthesize", data={
            "text": "Good morning.", "voice": {"name": "de", "language": "en"}}))
        both = await read_until(client, "audio-stop")
        klingon = await synthesized(client, said, SynthesizeVoice(language="tlh"))
        # A stream in a language no voice speaks: refused once, nothing spoken, still stopped.
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(language="tlh")).event())
        await client.write_event(SynthesizeChunk(text="Guten Morgen. Wie geht es?").event())
        await client.write_event(SynthesizeStop().event())
        stream_refused = await read_until(client, "synthesize-stopped")
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(language="de")).event())
        await client.write_event(SynthesizeChunk(text=said).event())
        await client.write_event(SynthesizeStop().event())
        streamed = await read_until(client, "synthesize-stopped")
    expected = espeak_ng(said, "de")  # espeak-ng's German, the only voice here for `de`
    assert audio_of(german) == expected and audio_of(german_region) == expected
    assert audio_of(named_german) == expected and audio_of(streamed) == expected
    assert audio_of(french) == espeak_ng("Bonjour.", "fr-fr")  # no espeak-ng voice is named `fr`
    assert audio_of(english) != espeak_ng("Good morning.", "en-us")  # the server's English voice: Piper
    assert rms_dbfs(audio_of(english)[0]) > -35
    assert audio_of(both) == espeak_ng("Good morning.", "de")
    assert [e.type for e in klingon] == ["error"], [e.type for e in klingon]
    unknown = Error.from_event(klingon[0])
    assert unknown.code == "language_not_supported" and "'tlh'" in unknown.text and "de" in unknown.text
    assert [e.type for e in stream_refused] == ["error", "synthesize-stopped"], stream_refused
    assert Error.from_event(stream_refused[0]).code == "language_not_supported"


async def test_a_server_fixed_to_a_language_speaks_it_when_no_voice_is_asked_for(start_server, fake_chat):
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          chat_timeout_s=3.0, wyoming_uri="tcp://127.0.0.1:0", language="de")
    port = server.thread.server.config.app.state.wyoming_port
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Synthesize(text="Guten Morgen.").event())
        events = await read_until(client, "audio-stop")
    assert audio_of(events) == espeak_ng("Guten Morgen.", "de")  # not the English Piper voice


async def test_handle_a_text_with_the_chat_model(wyoming, fake_chat):
    context = {"conversation_id": "01HXTEST"}
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Transcript(text="Turn on the porch light", context=context).event())
        events = await read_until(client, "handled")
    expected = fake_chat.reply_for("Turn on the porch light")
    assert HandledStart.is_type(events[0].type) and HandledStop.is_type(events[-2].type)
    chunks = "".join(HandledChunk.from_event(e).text for e in events if HandledChunk.is_type(e.type))
    handled = Handled.from_event(events[-1])
    assert handled.text == chunks == expected
    assert handled.context == context
    # A follow-up in the same Home Assistant conversation keeps the history (a new socket, like HA).
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Transcript(text="And the garden too", context=context).event())
        await read_until(client, "handled")
    sent = [m["content"] for m in fake_chat.requests[-1]["body"]["messages"] if m["role"] == "user"]
    assert sent == ["Turn on the porch light", "And the garden too"]


async def test_handle_reports_a_failed_chat_model_as_not_handled(wyoming, fake_chat):
    fake_chat.mode = "500"
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Transcript(text="What is the weather").event())
        events = await read_until(client, "not-handled")
    assert NotHandled.from_event(events[-1]).text


def test_remote_bind_needs_opt_in():
    check_bind("127.0.0.1", False)
    check_bind("::1", False)
    check_bind("localhost", False)
    with pytest.raises(RemoteBindRefused, match="VOICECHAT_WYOMING_ALLOW_REMOTE"):
        check_bind("0.0.0.0", False)
    check_bind("0.0.0.0", True)


async def test_audio_in_a_shape_we_cannot_read_is_refused_and_the_request_still_works(wyoming):
    # Found by the fuzzer: an odd byte count of 16-bit audio failed inside the transcription (an ERROR).
    speech = silence(300) + piper_speech("What is the capital of France?") + silence(300)
    async with AsyncTcpClient("127.0.0.1", wyoming) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=b"\x01\x02\x03").event())
        odd = (await read_until(client, "error"))[-1]
        await client.write_event(AudioChunk(rate=1, width=2, channels=1, audio=b"\x00\x00").event())
        slow = (await read_until(client, "error"))[-1]
        await client.write_event(AudioStart(rate=16000, width=2, channels=0).event())
        shapeless = (await read_until(client, "error"))[-1]
        # JSON's `true` is no sample rate (Python's bool is an int: it used to pass as rate 1)
        await client.write_event(Event("audio-start", {"rate": True, "width": 2, "channels": 1}))
        mistyped = (await read_until(client, "error"))[-1]
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=speech).event())
        await client.write_event(AudioStop().event())
        heard = Transcript.from_event((await read_until(client, "transcript"))[-1])
    assert odd.data["code"] == "bad_event" and "whole 2-byte samples" in odd.data["text"]
    assert slow.data["code"] == "bad_event" and "rate 1 Hz" in slow.data["text"]
    assert shapeless.data["code"] == "bad_event" and "channels 0" in shapeless.data["text"]
    assert mistyped.data["code"] == "bad_event" and "wrong type" in mistyped.data["text"]
    assert wer("What is the capital of France?", heard.text) <= MAX_WER, heard.text


async def test_shutdown_lets_a_request_in_progress_finish_then_closes(start_server, fake_chat):
    """On SIGTERM (the server's drain) Wyoming does what the WebSocket doors do: no new connections, the
    running request gets its answer, then the connection is closed."""
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          chat_timeout_s=30.0, wyoming_uri="tcp://127.0.0.1:0", shutdown_grace_s=29.0)
    app = server.thread.server.config.app
    port = app.state.wyoming_port
    fake_chat.mode = "slow"
    try:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            context = {"conversation_id": "drain-test"}
            await client.write_event(Transcript(text="Tell me about the moon", context=context).event())
            await read_until(client, "handled-start")
            loop = server.thread.loop
            assert loop is not None

            async def stop_listening() -> None:  # the drain's first step, known to be done when awaited
                app.state.wyoming.stop_listening()

            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(stop_listening(), loop))
            drained = asyncio.run_coroutine_threadsafe(drain_sessions(app, 30), loop)
            with pytest.raises(OSError):
                async with AsyncTcpClient("127.0.0.1", port) as late:
                    await late.write_event(Describe().event())
                    await late.read_event()
            fake_chat.server.call_soon(fake_chat.release.set)
            events = await read_until(client, "handled")
            assert Handled.from_event(events[-1]).text
            assert await client.read_event() is None  # then the door closes the connection
        await asyncio.wrap_future(drained)
    finally:
        fake_chat.server.call_soon(fake_chat.release.clear)


# --- the shared connection loop (doors/socket.py) under Wyoming's framing ---------------------------

async def raw_events(reader: asyncio.StreamReader, last: str) -> list[Event]:
    """Events read with the `wyoming` package's own reader, up to the first of type `last`."""
    from wyoming.event import async_read_event

    events = []
    while (event := await asyncio.wait_for(async_read_event(reader), 60)) is not None:
        events.append(event)
        if event.type == last:
            return events
    raise AssertionError(f"connection closed before {last}; got {[e.type for e in events]}")


async def test_an_oversized_payload_is_refused_and_skipped_and_reading_goes_on(start_server, fake_chat):
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          wyoming_uri="tcp://127.0.0.1:0", max_message_bytes=4096)
    port = server.thread.server.config.app.state.wyoming_port
    async with AsyncTcpClient("127.0.0.1", port) as client:
        # Bigger than the limit: refused before it is read, then skipped, so the stream stays in step.
        await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=b"\x00" * 10000).event())
        await client.write_event(Ping(text="still there").event())
        refused = (await read_until(client, "error"))[-1]
        assert Pong.from_event((await read_until(client, "pong"))[-1]).text == "still there"
    assert refused.data["code"] == "message_too_large" and "10000" in refused.data["text"]


async def test_a_header_that_is_not_json_is_reported_then_the_connection_closes(wyoming):
    reader, writer = await asyncio.open_connection("127.0.0.1", wyoming)
    try:
        writer.write(b'{"type": "ping", "data": {"text": "one"}}\n{not json\n{"type": "ping"}\n')
        await writer.drain()
        events = await raw_events(reader, "error")
        assert [e.type for e in events] == ["pong", "error"]
        assert events[-1].data["code"] == "invalid_json"
        assert await asyncio.wait_for(reader.read(), 30) == b""  # what follows cannot be trusted: closed
    finally:
        writer.close()


async def test_an_idle_wyoming_connection_is_told_and_closed(start_server, fake_chat):
    server = start_server(openai_api_base_url=fake_chat.base_url, openai_api_key=fake_chat.api_key,
                          wyoming_uri="tcp://127.0.0.1:0", idle_timeout_s=0.5)
    port = server.thread.server.config.app.state.wyoming_port
    async with AsyncTcpClient("127.0.0.1", port) as client:
        said = (await read_until(client, "error"))[-1]
        assert await client.read_event() is None
    assert said.data["code"] == "idle_timeout"
