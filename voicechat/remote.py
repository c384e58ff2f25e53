"""Remote engines: speech to text and speech over any OpenAI-compatible audio API.

`VOICECHAT_STT_URL` / `VOICECHAT_TTS_URL` point at speaches, OpenAI, or another voicechat's REST door.
They implement the same protocols as the local engines, so sessions cannot tell the difference.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .audio import wav_bytes
from .codecs import UndecodableAudio, WavStreamParser
from .settings import Settings
from .stt import Transcript
from .tts import AudioChunk, TTSError

# OpenAI's `pcm` is 24 kHz; a server answering raw audio to our `wav` request is read at this rate.
OPENAI_PCM_RATE = 24000


def endpoint(base: str, path: str) -> str:
    """`base` may be the server root or its `/v1` root, like the chat URL."""
    return base + (path if base.endswith("/v1") else "/v1" + path)


def _headers(key: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}


def _error_detail(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = response.text[:200]
    return f"HTTP {response.status_code}" + (f": {str(message)[:200]}" if message else "")


class RemoteSTT:
    """`POST /v1/audio/transcriptions` with the utterance as a WAV file."""

    name = "remote"
    multilingual = True  # whatever the remote model is, it is asked in the session's language

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        assert settings.stt_url
        self.url = endpoint(settings.stt_url, "/audio/transcriptions")
        self.model = settings.stt_remote_model
        self._client = client or httpx.AsyncClient(
            headers=_headers(settings.stt_api_key),
            timeout=httpx.Timeout(settings.remote_timeout_s, connect=min(10.0, settings.remote_timeout_s)),
        )
        self.description = f"{self.model} at {settings.stt_url} (OpenAI-compatible)"

    async def transcribe(
        self, pcm16: bytes, language: str | None, hotwords: str | None = None, *, timestamps: bool = False
    ) -> Transcript:
        """Transcribe 16 kHz mono PCM16 remotely. `verbose_json` brings the confidence figures that
        voicechat's silence filter uses, where the server provides them."""
        started = time.perf_counter()
        form: dict[str, str] = {"model": self.model, "response_format": "verbose_json"}
        if language and language != "auto":
            form["language"] = language
        if hotwords:
            form["prompt"] = hotwords
        files = {"file": ("utterance.wav", wav_bytes(pcm16, 16000), "audio/wav")}
        try:
            response = await self._client.post(self.url, data=form, files=files)
        except httpx.HTTPError as exc:
            raise RuntimeError(f"remote STT unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise RuntimeError(f"remote STT failed: {_error_detail(response)}")
        try:
            body = response.json()
        except ValueError:  # a server that ignores response_format and answers text
            body = {"text": response.text}
        segments = body.get("segments") or []
        weights = [max(1e-3, float(s.get("end", 0)) - float(s.get("start", 0))) for s in segments]

        def average(key: str, default: float) -> float:
            values = [(float(s[key]), w) for s, w in zip(segments, weights, strict=True) if key in s]
            if not values:
                return default
            return sum(v * w for v, w in values) / sum(w for _, w in values)

        return Transcript(
            text=str(body.get("text", "")).strip(),
            language=str(body.get("language") or language or ""),
            no_speech_prob=average("no_speech_prob", 0.0),
            avg_logprob=average("avg_logprob", 0.0),
            audio_ms=len(pcm16) / 32.0,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            segments=[{"start": float(s.get("start", 0)), "end": float(s.get("end", 0)),
                       "text": str(s.get("text", "")).strip()} for s in segments],
        )

    async def aclose(self) -> None:
        await self._client.aclose()


class RemoteTTS:
    """`POST /v1/audio/speech` asking for WAV (its header carries the rate), read as it streams in."""

    name = "remote"

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        assert settings.tts_url
        self.url = endpoint(settings.tts_url, "/audio/speech")
        self.model = settings.tts_remote_model
        self.voice = settings.tts_remote_voice
        self._client = client or httpx.AsyncClient(
            headers=_headers(settings.tts_api_key),
            timeout=httpx.Timeout(settings.remote_timeout_s, connect=min(10.0, settings.remote_timeout_s)),
        )
        self.description = f"{self.model} voice {self.voice} at {settings.tts_url} (OpenAI-compatible)"

    async def synthesize(self, text: str, voice: str | None = None, first: bool = False
                         ) -> AsyncIterator[AudioChunk]:
        # A session's voice is chosen among the local engines' names; the remote one keeps its own.
        body = {"model": self.model, "input": text, "voice": self.voice, "response_format": "wav"}
        parser = WavStreamParser(fallback_rate=OPENAI_PCM_RATE)
        try:
            async with self._client.stream("POST", self.url, json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise TTSError(f"remote TTS failed: {_error_detail(response)}")
                pending = bytearray()
                async for data in response.aiter_bytes():
                    pending += parser.feed(data)
                    # Whole 200 ms pieces: tiny network reads would make resampling click at borders.
                    if parser.rate and len(pending) >= parser.rate * 2 // 5:
                        yield AudioChunk(bytes(pending), parser.rate)
                        pending.clear()
                if pending and parser.rate:
                    yield AudioChunk(bytes(pending), parser.rate)
        except httpx.HTTPError as exc:
            raise TTSError(f"remote TTS unreachable: {type(exc).__name__}: {exc}") from exc
        except UndecodableAudio as exc:
            raise TTSError(f"remote TTS answered unusable audio: {exc}") from exc
        if parser.rate is None:
            raise TTSError("remote TTS returned no audio")

    async def aclose(self) -> None:
        await self._client.aclose()
