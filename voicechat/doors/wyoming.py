"""The Wyoming door (Home Assistant's voice protocol) over TCP or a Unix socket.

It runs in the HTTP server's event loop and shares its engines: `asr` (transcribe + audio → transcript,
streamed too), `tts` (synthesize, and the streaming synthesize-start/-chunk/-stop), and `handle` (a
`transcript` sent to us is a user message; the reply comes back as `handled`, streamed as
handled-start/-chunk/-stop first), and `wake` (`detect` + audio -> `detection` / `not-detected`, in
doors/wyoming_wake.py). Connections run in the shared connection loop (doors/socket.py) with
Wyoming's framing (doors/wyoming_wire.py); this module is the translation. Event classes are the `wyoming`
package's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop, NotHandled
from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    Describe,
    HandleModel,
    HandleProgram,
    Info,
    TtsProgram,
)
from wyoming.ping import Ping, Pong
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)
from wyoming.wake import Detect

from .. import __version__, client_events
from ..audio import resample_pcm16
from ..capabilities import chat_model_name
from ..engines import Engines
from ..sentences import SentenceChunker
from ..server_state import ServerState
from ..session import Session, SessionError
from ..settings import Settings
from ..stt import ignore_reason
from ..tts import AudioChunk as PcmChunk
from ..tts import FallbackTTS
from ..turn import APOLOGY
from . import new_session
from .socket import Write, serve
from .wyoming_checks import BadEvent, check_format, check_uri, read
from .wyoming_voices import VoiceRefused, chosen_voice, listed_voices
from .wyoming_wake import WakeStream, wake_programs
from .wyoming_wire import HEADER_LIMIT, WyomingConnection, WyomingTransport
from .wyoming_zeroconf import ZeroconfAdvert, advertised_address

log = logging.getLogger(__name__)

ATTRIBUTION = Attribution(name="voicechat", url="https://pypi.org/project/wyoming/")
CHUNK_MS = 100  # audio-chunk size we send
MAX_CONVERSATIONS = 32  # handle sessions kept for follow-ups (Home Assistant opens one socket per request)


class _TextOnly:
    """A TTS engine that says nothing: `handle` answers with text, Home Assistant speaks it itself."""

    name = "none"
    description = "text only"

    async def synthesize(self, text: str, voice: str | None = None, first: bool = False
                         ) -> AsyncIterator[PcmChunk]:
        return
        yield  # an async generator with no items


class WyomingDoor:
    """Listens on a `tcp://host:port` or `unix://path` URI; `port` is the bound port (0 picks one)."""

    def __init__(self, settings: Settings, state: ServerState) -> None:
        self.settings = settings
        self.state = state
        self.engines: Engines = state.loaded_engines()
        self.text_engines = dataclasses.replace(
            self.engines, tts=FallbackTTS([_TextOnly()], settings.tts_retry_s)  # type: ignore[list-item]
        )
        self.conversations: OrderedDict[str, Session] = OrderedDict()
        self.port: int | None = None
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.advert: ZeroconfAdvert | None = None

    async def start(self) -> None:
        """Listen at `VOICECHAT_WYOMING_URI`; an unsafe or malformed URI is refused with a clear log line."""
        try:
            scheme, where, port = check_uri(self.settings)
        except ValueError as exc:
            log.error("wyoming: %s", exc)
            raise
        if scheme == "tcp":
            self._server = await asyncio.start_server(self._accept, where, port, limit=HEADER_LIMIT)
            self.port = self._server.sockets[0].getsockname()[1]
            if self.settings.wyoming_zeroconf:
                self.advert = ZeroconfAdvert(self.settings.wyoming_zeroconf_name, advertised_address(where),
                                             self.port)
                await self.advert.start()
            where = f"tcp://{where}:{self.port}"
        else:
            if self.settings.wyoming_zeroconf:
                raise ValueError("VOICECHAT_WYOMING_ZEROCONF announces a TCP address: use a tcp:// URI")
            await asyncio.to_thread(Path(where).unlink, missing_ok=True)
            self._server = await asyncio.start_unix_server(self._accept, where, limit=HEADER_LIMIT)
            where = f"unix://{where}"
        log.info("wyoming: serving asr, tts, handle%s at %s", " and wake" if self.engines.wake else "", where)

    def stop_listening(self) -> None:
        """Shutdown's first step: no new connections. The connections are drained with every door's
        sessions (`drain_sessions`): the running request is answered, then the connection closes."""
        if self._server is not None:
            self._server.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self.advert is not None:
            await self.advert.stop()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        for session in self.conversations.values():
            await session.close()
        self.conversations.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)

        def translation(connection: WyomingConnection, write: Write) -> WyomingTranslation:
            return WyomingTranslation(self, connection, write)

        try:
            await serve(WyomingTransport(reader, writer), self.state, "wyoming",
                        lambda output: WyomingConnection(), translation)
        finally:
            self._handlers.discard(task)

    def info(self) -> Info:
        """What `describe` answers: one program per role, with the engines behind it."""
        s, engines = self.settings, self.engines
        languages = _stt_languages(engines)
        spoken = [s.language] if s.language != "auto" else ["en"]
        voices = listed_voices(engines.tts, s.language, ATTRIBUTION)
        stt_model = s.stt_remote_model if s.stt_url else s.stt_model
        chat_model = chat_model_name(engines.chat)
        return Info(
            asr=[AsrProgram(name="voicechat-stt", attribution=ATTRIBUTION, installed=True,
                            description=engines.stt.description, version=__version__,
                            models=[AsrModel(name=stt_model, attribution=ATTRIBUTION, installed=True,
                                             description=engines.stt.description, version=None,
                                             languages=languages)],
                            supports_transcript_streaming=True)],
            tts=[TtsProgram(name="voicechat-tts", attribution=ATTRIBUTION, installed=True,
                            description=engines.tts.description, version=__version__, voices=voices,
                            supports_synthesize_streaming=True)],
            handle=[HandleProgram(name="voicechat", attribution=ATTRIBUTION, installed=True,
                                  description=f"voicechat conversation ({engines.chat.description})",
                                  version=__version__,
                                  models=[HandleModel(name=str(chat_model), attribution=ATTRIBUTION,
                                                      installed=True, description=engines.chat.description,
                                                      version=None, languages=spoken)],
                                  supports_handled_streaming=True)],
            wake=wake_programs(engines.wake),
        )  # fmt: skip

    async def conversation(self, conversation_id: str) -> Session:
        """The session behind a Home Assistant conversation, so follow-ups keep their history."""
        session = self.conversations.pop(conversation_id, None)
        if session is None:
            session = new_session(self.state, door="wyoming", output=_discard, engines=self.text_engines)
            await session.start()
        self.conversations[conversation_id] = session
        while len(self.conversations) > MAX_CONVERSATIONS:
            _, oldest = self.conversations.popitem(last=False)
            await oldest.close()
        return session


async def _discard(item: dict[str, Any] | bytes) -> None:
    """Output of a handle session between requests (a media job finishing) has nowhere to go."""


def _stt_languages(engines: Engines) -> list[str]:
    if not engines.stt.multilingual:
        return ["en"]
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return list(_LANGUAGE_CODES)


class WyomingTranslation:
    """One client connection's Wyoming events: each request answered in full before the next is read."""

    def __init__(self, door: WyomingDoor, connection: WyomingConnection, write: Write) -> None:
        self.door = door
        self.connection = connection
        self.write = write
        self.settings = door.settings
        self.max_text_chars = self.settings.max_message_bytes  # a header's JSON data, as a native text frame
        self.language: str | None = None
        self.hotwords: str | None = None
        self.audio: bytearray | None = None
        self.audio_rate = 16000
        self.converter = AudioChunkConverter(width=2, channels=1)
        self.stream_chunker: SentenceChunker | None = None
        self.stream_voice: tuple[str | None, str | None] = (None, None)  # (name, language) to speak with
        self.stream_refused = False  # the stream's voice was refused: its text is not spoken
        self.wake: WakeStream | None = None  # after `detect`: the audio is for the wake word, not asr

    async def greet(self) -> None:
        """A Wyoming client speaks first."""

    async def on_output(self, item: dict[str, Any] | bytes) -> None:
        """The connection has no session of its own: `handle` collects its conversation's output."""

    async def on_bytes(self, data: bytes) -> None:
        """The transport frames every message as an event."""

    def report(self, exc: SessionError, recoverable: bool = True) -> None:
        self.write(Error(text=exc.message, code=exc.code).event())

    async def write_event(self, event: Event) -> None:
        self.write(event)

    async def on_event(self, message: dict[str, Any]) -> None:
        event = Event(type=message["type"], data=message["data"], payload=message["payload"])
        with self.connection.request():
            try:
                await self._dispatch(event)
            except BadEvent as exc:  # the client's mistake: said to it, not a server error
                log.warning("wyoming: %s", exc)
                raise SessionError("bad_event", str(exc)) from None
            except Exception as exc:  # a failed request is reported; the connection stays usable
                log.exception("wyoming: %s failed", event.type)
                raise SessionError("internal", f"{event.type} failed: {exc}") from None

    async def _dispatch(self, event: Event) -> None:
        if Describe.is_type(event.type):
            await self.write_event(self.door.info().event())
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=read(Ping, event).text).event())
        elif Transcribe.is_type(event.type):
            request = read(Transcribe, event)
            self.language = request.language
            words = [*(request.transcript_names or []), *(request.transcript_terms or [])]
            self.hotwords = " ".join(words) or None
            self.wake = None
        elif Detect.is_type(event.type):
            self.wake = WakeStream(self.door.engines.wake, read(Detect, event))
        elif AudioStart.is_type(event.type):
            start = read(AudioStart, event)
            check_format(event.type, start.rate, start.width, start.channels)
            if self.wake is not None:
                self.wake.start()
            else:
                self.audio, self.audio_rate = bytearray(), start.rate
        elif AudioChunk.is_type(event.type) and self.wake is not None:
            for detection in self.wake.feed(read(AudioChunk, event)):
                await self.write_event(detection)
        elif AudioChunk.is_type(event.type):
            await self._on_audio(read(AudioChunk, event))
        elif AudioStop.is_type(event.type) and self.wake is not None:
            answer, self.wake = self.wake.stop(), None
            if answer is not None:
                await self.write_event(answer)
        elif AudioStop.is_type(event.type):
            await self._on_audio_stop()
        elif Synthesize.is_type(event.type):
            # Streaming clients also send the whole text for older servers: already being spoken.
            if self.stream_chunker is None:
                request = read(Synthesize, event)
                voice = await self._voice(request.voice)
                if voice is not None:
                    await self._speak([request.text], voice)
        elif SynthesizeStart.is_type(event.type):
            start = read(SynthesizeStart, event)
            self.stream_chunker = SentenceChunker.for_settings(self.settings)
            voice = await self._voice(start.voice)
            self.stream_voice, self.stream_refused = voice or (None, None), voice is None
        elif SynthesizeChunk.is_type(event.type):
            if self.stream_chunker is None:
                raise BadEvent("synthesize-chunk without synthesize-start")
            pieces = self.stream_chunker.feed(read(SynthesizeChunk, event).text)
            if not self.stream_refused:  # refused once at synthesize-start, not once per chunk
                await self._speak(pieces, self.stream_voice)
        elif SynthesizeStop.is_type(event.type):
            if self.stream_chunker is not None:
                rest, self.stream_chunker = self.stream_chunker.flush(), None
                if not self.stream_refused:
                    await self._speak(rest, self.stream_voice)
            self.stream_refused = False
            await self.write_event(SynthesizeStopped().event())
        elif Transcript.is_type(event.type):
            await self._handle(read(Transcript, event))
        # Other events (intent, satellite…) are not ours; Wyoming servers drop what they don't serve.

    # --- asr --------------------------------------------------------------------------------------

    async def _on_audio(self, chunk: AudioChunk) -> None:
        check_format("audio-chunk", chunk.rate, chunk.width, chunk.channels)
        if len(chunk.audio) % (chunk.width * chunk.channels):
            raise BadEvent(f"audio-chunk holds {len(chunk.audio)} bytes: not whole {chunk.width}-byte "
                           f"samples for {chunk.channels} channel(s)")
        if self.audio is None:  # audio without audio-start: take its format from the chunk
            self.audio, self.audio_rate = bytearray(), chunk.rate
        limit = self.settings.rest_max_upload_bytes
        if len(self.audio) < limit:
            self.audio += self.converter.convert(chunk).audio

    async def _on_audio_stop(self) -> None:
        if self.audio is None:
            return
        pcm = resample_pcm16(bytes(self.audio), self.audio_rate, 16000)
        self.audio = None
        language = self.language or self.settings.language
        try:
            hotwords = self.hotwords or self.settings.stt_hotwords or None
            result = await self.door.engines.stt.transcribe(
                pcm, None if language == "auto" else language, hotwords
            )
        except Exception as exc:
            log.exception("wyoming: transcription failed")
            await self.write_event(Error(text=f"transcription failed: {type(exc).__name__}",
                                         code="stt_failed").event())
            return
        # Silence hallucinations ("Thanks for watching") become an empty transcript: nothing was said.
        text = "" if ignore_reason(result) else result.text
        await self.write_event(TranscriptStart(language=result.language).event())
        if text:
            await self.write_event(TranscriptChunk(text=text).event())
        await self.write_event(TranscriptStop().event())
        await self.write_event(Transcript(text=text, language=result.language).event())

    # --- tts --------------------------------------------------------------------------------------

    async def _voice(self, voice: SynthesizeVoice | None) -> tuple[str | None, str | None] | None:
        """The (voice name, language) to speak with (doors/wyoming_voices.py); None, after a Wyoming `error`
        saying why, when this server cannot honour the voice: the text is not spoken by another voice
        unsaid (the native door's check, voicechat/tts.py)."""
        try:
            return chosen_voice(self.door.engines.tts, voice, self.settings.language)
        except VoiceRefused as exc:
            await self.write_event(Error(text=exc.text, code=exc.code).event())
            return None

    async def _speak(self, pieces: list[str], voice: tuple[str | None, str | None]) -> None:
        """Each piece becomes one audio-start / audio-chunk… / audio-stop stream."""
        name, language = voice
        for text in pieces:
            if not text.strip():
                continue
            rate = None
            async for _engine, chunk in self.door.engines.tts.synthesize_with_engine(text, name,
                                                                                     language=language):
                if rate is None:
                    rate = chunk.rate
                    await self.write_event(AudioStart(rate=rate, width=2, channels=1).event())
                pcm = resample_pcm16(chunk.pcm, chunk.rate, rate)
                step = rate * 2 * CHUNK_MS // 1000
                for offset in range(0, len(pcm), step):
                    part = pcm[offset : offset + step]
                    await self.write_event(AudioChunk(rate=rate, width=2, channels=1, audio=part).event())
            if rate is not None:
                await self.write_event(AudioStop().event())

    # --- handle -----------------------------------------------------------------------------------

    async def _handle(self, request: Transcript) -> None:
        """A user message (Home Assistant's conversation agent): the reply as text, streamed."""
        context = dict(request.context or {})
        conversation_id = str(context.get("conversation_id") or id(self))
        context["conversation_id"] = conversation_id
        text = request.text.strip()
        if not text:
            await self.write_event(NotHandled(text="nothing was said", context=context).event())
            return
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def collect(item: dict[str, Any] | bytes) -> None:
            if isinstance(item, dict):
                events.put_nowait(item)

        session = await self.door.conversation(conversation_id)
        session.output = collect
        try:
            await session.handle(client_events.Text(text[: self.settings.max_text_chars]))
            await self.write_event(HandledStart(context=context).event())
            turn_id, reply, failed = None, "", None
            while True:
                item = await events.get()
                kind = item.get("type")
                if kind == "transcript" and turn_id is None:  # notices have none: the first is ours
                    turn_id = item["turn_id"]
                elif turn_id is None or item.get("turn_id") != turn_id:
                    continue  # a media notice's turn, not this request's
                elif kind == "reply.text.delta":
                    reply += item["delta"]
                    await self.write_event(HandledChunk(text=item["delta"]).event())
                elif kind == "error":
                    failed = item.get("message")
                elif kind == "turn.done":
                    break
            await self.write_event(HandledStop().event())
            if reply:
                await self.write_event(Handled(text=reply, context=context).event())
            else:
                log.warning("wyoming: conversation %s failed: %s", conversation_id, failed)
                await self.write_event(NotHandled(text=APOLOGY, context=context).event())
        finally:
            session.output = _discard
