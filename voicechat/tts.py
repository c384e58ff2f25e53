"""Text to speech engines (edge-tts, Piper, espeak-ng) and the fallback chain that keeps a turn audible.

Each local engine says which voice it would use for a language (voicechat/language.py has the defaults):
the chain skips an engine with no voice for the language of the text, so a reply is never spelled out by a
voice of another language.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import queue
import re
import shutil
import threading
import time
from collections.abc import AsyncIterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .audio import read_wav
from .cpu import GATE
from .language import (
    EDGE_DEFAULTS,
    EDGE_VOICE,
    ESPEAK_NAMES,
    ESPEAK_UNLISTED,
    base_code,
    espeak_voices,
    parse_voices,
    reads_script,
    script_language,
    speech_language,
)
from .models import resolve_piper_voice
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioChunk:
    """Mono PCM16LE audio at `rate`; `voice`: the voice that spoke it, where the engine names its voices."""

    pcm: bytes
    rate: int
    voice: str | None = None


class TTSError(Exception):
    """An engine could not speak the text."""


class TextToSpeech(Protocol):
    """Speaks one piece of text, chunk by chunk."""

    name: str
    description: str

    def synthesize(self, text: str, voice: str | None = None, first: bool = False
                   ) -> AsyncIterator[AudioChunk]:
        """`first`: the text is a reply's first sentence (an engine shared by sessions may take those
        before others' later sentences; the rest ignore it)."""
        ...


@runtime_checkable
class Voiced(Protocol):
    """An engine that knows its voices: which one speaks a language, and which names a session may choose."""

    def pick_voice(self, language: str | None) -> str | None:
        """The voice to speak `language` with (VOICECHAT_VOICES first); None: none here speaks it.
        `language=None`: the engine's default voice."""
        ...

    def voice_named(self, name: str) -> tuple[str, str | None] | None:
        """The voice called `name` (its name as the engine takes it, and its language), if it is here."""
        ...

    def voice_names(self) -> str:
        """The voices a session may choose, for an error message."""
        ...

    def listed_voices(self) -> list[tuple[str, str | None, str]]:
        """The voices offered in lists (Wyoming `describe`): (name, language, description), default first."""
        ...


class PiperTTS:
    """Local neural voice (piper-tts, ONNX on the CPU)."""

    name = "piper"

    def __init__(self, settings: Settings) -> None:
        from piper import PiperVoice

        self.source = resolve_piper_voice(settings.piper_voice)
        started = time.perf_counter()
        self._voice = PiperVoice.load(self.source.path)
        if not settings.piper_memory_arena:
            # ONNX Runtime's arena keeps (and grows by doubling) the largest buffers it ever needed;
            # without it memory follows the sentence being spoken, at ~15 % more synthesis time.
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.enable_cpu_mem_arena = False
            self._voice.session = onnxruntime.InferenceSession(
                self.source.path, sess_options=options, providers=["CPUExecutionProvider"]
            )
        self.load_ms = (time.perf_counter() - started) * 1000
        self.rate = self._voice.config.sample_rate
        self.voice_name = self.source.path.rsplit("/", 1)[-1].removesuffix(".onnx")
        self.language = base_code(self._voice.config.espeak_voice) or "en"  # a Piper voice has one language
        # ONNX runtime sessions are not safe to share between threads: one worker thread speaks, taking the
        # first sentence of a reply before later sentences of other replies (those have audio playing
        # already; a new reply has nothing until its first sentence is ready).
        self._jobs: queue.PriorityQueue[_PiperJob] = queue.PriorityQueue()
        self._order = itertools.count()
        threading.Thread(target=self._work, name="piper", daemon=True).start()
        self.description = f"piper {self.voice_name} from {self.source.origin}"

    def pick_voice(self, language: str | None) -> str | None:
        return self.voice_name if language in (None, self.language) else None

    def voice_named(self, name: str) -> tuple[str, str | None] | None:
        return (self.voice_name, self.language) if name == self.voice_name else None

    def voice_names(self) -> str:
        return f"piper: {self.voice_name} ({self.language}; VOICECHAT_PIPER_VOICE loads another)"

    def listed_voices(self) -> list[tuple[str, str | None, str]]:
        return [(self.voice_name, self.language, self.description)]

    def synthesize_sync(self, text: str) -> bytes:
        return b"".join(chunk.audio_int16_bytes for chunk in self._voice.synthesize(text))

    def _work(self) -> None:
        while True:
            priority, _, text, loop, future = self._jobs.get()
            if future.done():  # its turn was cancelled while it waited
                continue
            pcm, error = b"", None
            try:
                # A reply's first sentence: the user hears nothing until it is done.
                with GATE.foreground("tts") if priority == 0 else nullcontext():
                    pcm = self.synthesize_sync(text)
            except Exception as exc:
                error = exc
            try:
                loop.call_soon_threadsafe(_settle, future, pcm, error)
            except RuntimeError:  # that server's event loop is closed: nobody is waiting any more
                log.debug("piper: a result for a closed event loop was dropped")

    async def synthesize(self, text: str, voice: str | None = None, first: bool = False
                         ) -> AsyncIterator[AudioChunk]:
        loop = asyncio.get_running_loop()
        future: _Pcm = loop.create_future()
        self._jobs.put((0 if first else 1, next(self._order), text, loop, future))
        try:
            pcm = await future
        except Exception as exc:
            raise TTSError(f"piper failed: {exc}") from exc
        if pcm:
            yield AudioChunk(pcm, self.rate)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def speakable(text: str) -> str:
    """Text without control characters (a NUL from a client's text must not reach an engine or argv)."""
    return _CONTROL.sub(" ", text)


_Pcm = asyncio.Future[bytes]
_PiperJob = tuple[int, int, str, asyncio.AbstractEventLoop, _Pcm]  # priority, order, text, loop, result


def _settle(future: _Pcm, result: bytes | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result or b"")


class EspeakTTS:
    """espeak-ng through its command line: robotic, tiny, always there. The last resort."""

    name = "espeak"

    def __init__(self, settings: Settings) -> None:
        self.binary = shutil.which("espeak-ng") or shutil.which("espeak")
        if not self.binary:
            raise FileNotFoundError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
        self.voice = settings.espeak_voice
        listing = espeak_voices(self.binary)
        self.voices = {name: code for name, (code, _) in listing.items()}
        self.titles = {name: title for name, (_, title) in listing.items()}
        self.configured = parse_voices(settings.voices)
        self.description = f"espeak-ng voice {self.voice} ({self.binary})"

    def voice_named(self, name: str) -> tuple[str, str | None] | None:
        name = ESPEAK_NAMES.get(name.lower(), name.lower())  # "zh": the voice that reads Chinese right
        return (name, self.voices[name]) if name in self.voices else None

    def voice_names(self) -> str:
        return f"espeak-ng: {', '.join(sorted(self.voices))}"

    def listed_voices(self) -> list[tuple[str, str | None, str]]:
        default = self.voice_named(self.voice)
        names = [default[0]] if default else []
        names += sorted(n for n in self.voices if n not in ESPEAK_UNLISTED and n not in names)
        return [(n, self.voices[n], f"espeak-ng {self.titles[n]}") for n in names]

    def pick_voice(self, language: str | None) -> str | None:
        if language is None:
            return self.voice
        for name in self.configured.get(language, ()):
            found = self.voice_named(name)
            if found and found[1] == language:
                return found[0]
        if base_code(self.voice) == language:
            return self.voice
        found = self.voice_named(language)
        return found[0] if found else None

    async def synthesize(self, text: str, voice: str | None = None, first: bool = False
                         ) -> AsyncIterator[AudioChunk]:
        found = self.voice_named(voice) if voice else None
        chosen = found[0] if found else self.voice
        try:
            proc = await asyncio.create_subprocess_exec(
                self.binary, "--stdout", "-v", chosen, "--", speakable(text),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except (OSError, ValueError) as exc:
            raise TTSError(f"espeak-ng could not start: {exc}") from exc
        try:
            out, err = await proc.communicate()
        except BaseException:  # the turn was cancelled (barge-in, the session closed): no orphan process
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(proc.wait(), 2.0)  # reaped, so its transport closes on this loop
            raise
        if proc.returncode != 0 or not out:
            raise TTSError(f"espeak-ng failed: {err.decode(errors='replace').strip()[:200]}")
        pcm, rate = read_wav(out)
        yield AudioChunk(pcm, rate)


class EdgeTTS:
    """Microsoft Edge's online voices (edge-tts). MP3 from the service, decoded to PCM here."""

    name = "edge"
    rate = 24000

    def __init__(self, settings: Settings) -> None:
        import edge_tts  # noqa: F401  (fail at startup, not in the first turn, if it is missing)

        self.voice = settings.edge_voice
        self.configured = parse_voices(settings.voices)
        self.description = f"edge-tts voice {self.voice} (online)"

    def voice_named(self, name: str) -> tuple[str, str | None] | None:
        # The service lists its voices only online: a name of the right shape is taken at its word.
        return (name, base_code(name)) if EDGE_VOICE.fullmatch(name) else None

    def voice_names(self) -> str:
        return "edge-tts: names like en-US-AriaNeural or zh-CN-XiaoxiaoNeural (`edge-tts --list-voices`)"

    def listed_voices(self) -> list[tuple[str, str | None, str]]:
        # The service's full list is online only: the voices this server would pick for each language.
        configured = [v for voices in self.configured.values() for v in voices if EDGE_VOICE.fullmatch(v)]
        names = dict.fromkeys([self.voice, *configured, *EDGE_DEFAULTS.values()])
        return [(n, base_code(n), f"edge-tts {n} (online)") for n in names]

    def pick_voice(self, language: str | None) -> str | None:
        if language is None:
            return self.voice
        for name in self.configured.get(language, ()):
            if EDGE_VOICE.fullmatch(name) and base_code(name) == language:
                return name
        return self.voice if base_code(self.voice) == language else EDGE_DEFAULTS.get(language)

    async def synthesize(self, text: str, voice: str | None = None, first: bool = False
                         ) -> AsyncIterator[AudioChunk]:
        import edge_tts
        import miniaudio

        chosen = voice if voice and EDGE_VOICE.fullmatch(voice) else self.voice
        mp3 = bytearray()
        try:
            async for message in edge_tts.Communicate(text, chosen).stream():
                if message["type"] == "audio":
                    mp3 += message["data"]
        except Exception as exc:
            raise TTSError(f"edge-tts failed: {type(exc).__name__}: {exc}") from exc
        if not mp3:
            raise TTSError("edge-tts returned no audio")
        decoded = miniaudio.decode(
            bytes(mp3), output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=self.rate
        )
        yield AudioChunk(decoded.samples.tobytes(), self.rate)


class SynthesisMetrics(Protocol):
    """Where the fallback chain reports each sentence's synthesis time and each hand-off."""

    def synthesized(self, engine: str, seconds: float) -> None: ...

    def fell_back(self, engine: str) -> None: ...


class FallbackTTS:
    """Tries engines in order; a failing engine is skipped until `retry_s` has passed.

    The text that failed is spoken by the next engine in the same turn, so the user hears the answer,
    and later turns do not pay the failed engine's timeout again until it is due for a retry.
    """

    def __init__(self, engines: list[TextToSpeech], retry_s: float) -> None:
        if not engines:
            raise ValueError("at least one TTS engine is needed")
        self.engines = engines
        self.retry_s = retry_s
        self._down_until: dict[str, float] = {}
        self.failures: dict[str, int] = {e.name: 0 for e in engines}
        self.name = engines[0].name
        self.description = " -> ".join(e.description for e in engines)
        self.metrics: SynthesisMetrics | None = None

    def available(self) -> list[TextToSpeech]:
        now = time.monotonic()
        usable = [e for e in self.engines if self._down_until.get(e.name, 0.0) <= now]
        return usable or self.engines[-1:]

    def status(self) -> list[dict[str, object]]:
        """Each engine's health, for `/health`: a skipped engine says when it will be tried again."""
        now = time.monotonic()
        out: list[dict[str, object]] = []
        for engine in self.engines:
            wait = self._down_until.get(engine.name, 0.0) - now
            out.append({"name": engine.name, "state": "skipped" if wait > 0 else "ok",
                        "retry_in_s": round(wait, 1) if wait > 0 else None,
                        "failures": self.failures[engine.name]})
        return out

    def check_voice(self, name: str) -> None:
        """Raise ValueError, listing the voices there are, unless an engine here has the voice `name`."""
        voiced = [e for e in self.engines if isinstance(e, Voiced)]
        if len(voiced) < len(self.engines) or any(e.voice_named(name) for e in voiced):
            return  # a remote engine keeps its own voice; the local ones behind it get the name
        raise ValueError(f"voice {name!r} is not one this server has; its voices are "
                         + "; ".join(e.voice_names() for e in voiced))

    def _plan(self, text: str, voice: str | None, language: str | None
              ) -> list[tuple[TextToSpeech, str | None]]:
        """The engines to try for `text`, each with its voice: only those with a voice for its language.

        The session's `voice` goes first, on the engine that has it, unless the text is in a script that
        voice cannot read (Chinese characters for an English voice): then each engine's voice for the
        language speaks, as without a session voice.
        """
        spoken, script = speech_language(text, language), script_language(text)
        chosen: list[tuple[TextToSpeech, str | None]] = []
        for engine in self.engines:
            named = engine.voice_named(voice) if voice and isinstance(engine, Voiced) else None
            if named and reads_script(named[1], script):
                chosen.append((engine, named[0]))
        for engine in self.engines:
            if any(engine is e for e, _ in chosen):
                continue
            if not isinstance(engine, Voiced):
                chosen.append((engine, None))  # a remote engine speaks any language in its own voice
            elif (picked := engine.pick_voice(spoken)) is not None:
                chosen.append((engine, picked))
        if not chosen:
            raise TTSError(f"no voice here speaks {spoken!r}: install espeak-ng, or set "
                           "VOICECHAT_TTS_ENGINE=edge for online voices")
        # An engine skipped after a failure is still tried when no other one speaks the language.
        usable = {id(e) for e in self.available()}
        return [pair for pair in chosen if id(pair[0]) in usable] or chosen

    async def synthesize(self, text: str, voice: str | None = None, first: bool = False
                         ) -> AsyncIterator[AudioChunk]:
        async for _engine, chunk in self.synthesize_with_engine(text, voice, first):
            yield chunk

    async def synthesize_with_engine(
        self, text: str, voice: str | None = None, first: bool = False, language: str | None = None
    ) -> AsyncIterator[tuple[str, AudioChunk]]:
        """Like `synthesize`, naming the engine that produced each chunk. `first`: the first sentence of a
        reply (a local engine shared by several sessions speaks those before later sentences). `language`:
        the reply's language (None: the engines' default voices, unless the text's script says otherwise)."""
        errors: list[str] = []
        text = speakable(text)
        for engine, chosen in self._plan(text, voice, language):
            produced = False
            started = time.monotonic()
            try:
                async for chunk in engine.synthesize(text, chosen, first=first):
                    produced = True
                    yield engine.name, dataclasses.replace(chunk, voice=chosen) if chosen else chunk
                self._down_until.pop(engine.name, None)
                if self.metrics is not None:
                    self.metrics.synthesized(engine.name, time.monotonic() - started)
                return
            except TTSError as exc:
                if produced:  # half a sentence already went out; repeating it would be worse
                    raise
                errors.append(str(exc))
                self.failures[engine.name] += 1
                if engine is not self.engines[-1]:
                    if self.metrics is not None:
                        self.metrics.fell_back(engine.name)
                    self._down_until[engine.name] = time.monotonic() + self.retry_s
                    log.warning("TTS engine %s failed, using the next one for %.0f s: %s",
                                engine.name, self.retry_s, exc)
        raise TTSError("; ".join(errors) or "no TTS engine could speak")


def create_tts(settings: Settings, piper: PiperTTS | None = None) -> FallbackTTS:
    """The configured engine first, then the local ones it falls back to.

    `piper` passes an already loaded voice, so several apps in one process share it.
    """
    order = {"edge": ["edge", "piper", "espeak"], "piper": ["piper", "espeak"], "espeak": ["espeak"]}
    builders = {"edge": EdgeTTS, "piper": PiperTTS, "espeak": EspeakTTS}
    engines: list[TextToSpeech] = []
    for name in order[settings.tts_engine]:
        try:
            engines.append(piper if name == "piper" and piper is not None else builders[name](settings))
        except Exception as exc:  # a missing fallback is logged, the rest still serve
            log.warning("TTS engine %s unavailable: %s", name, exc)
    return FallbackTTS(engines, settings.tts_retry_s)
