"""The OpenAI-shaped REST door: `/v1/audio/transcriptions`, `/v1/audio/speech`, `/v1/models`.

Any OpenAI SDK (or speaches client, or another voicechat's remote engines) can use this server's
whisper and voices. Errors have OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, so
SDKs raise their usual exceptions (`BadRequestError`, …).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..audio import resample_pcm16, wav_bytes
from ..capabilities import chat_model_name, voice_name
from ..codecs import UndecodableAudio, change_tempo, decode_audio, encode_mp3
from ..engines import Engines
from ..events import openai_error
from ..server_state import NotLoaded, server_state
from ..settings import Settings
from ..stt import Transcript
from ..tts import TTSError

log = logging.getLogger(__name__)

SPEECH_RATE = 24000  # OpenAI's `pcm` is 24 kHz 16-bit mono; wav and mp3 use the same rate
TRANSCRIPT_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
SPEECH_FORMATS = {"mp3": "audio/mpeg", "wav": "audio/wav", "pcm": "audio/pcm"}
# OpenAI's voice names mean "the default voice" here; any other name goes to the engines as is.
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                           "shimmer", "verse", "marin", "cedar"})
_LANGUAGE = re.compile(r"^(auto|[a-z]{2,3}(-[A-Za-z]{2,4})?)$")


class ApiError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def response(self) -> JSONResponse:
        body = openai_error(self.status, self.code, self.message, self.param)
        return JSONResponse(body, status_code=self.status)


def _answers_in_openai_shape(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint answers an `ApiError` it raises as OpenAI's error JSON."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()

    return endpoint


def _state(request: Request) -> tuple[Settings, Engines]:
    state = server_state(request.app)
    try:
        return state.settings, state.loaded_engines()
    except NotLoaded as exc:
        raise ApiError(503, str(exc), code="loading") from None


# --- transcriptions -----------------------------------------------------------------------------


@_answers_in_openai_shape
async def transcriptions(request: Request) -> Response:
    """`POST /v1/audio/transcriptions` (multipart): `file`, `model`, `language`, `prompt`,
    `response_format`, `temperature`."""
    settings, engines = _state(request)
    limit = settings.rest_max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise ApiError(413, f"the upload is larger than {limit} bytes", "file", "file_too_large")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(400, "send multipart/form-data with a `file` field", "file", "invalid_content_type")
    try:
        form = await request.form(max_files=1, max_fields=20)
    except Exception as exc:  # malformed multipart bodies
        raise ApiError(400, f"cannot read the form: {exc}", "file", "invalid_form") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "the `file` field (an audio file) is required", "file", "missing_file")
        data = await upload.read(limit + 1)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    finally:
        await form.close()
    if len(data) > limit:
        raise ApiError(413, f"the audio file is larger than {limit} bytes", "file", "file_too_large")
    if not data:
        raise ApiError(400, "the audio file is empty", "file", "empty_file")
    response_format = fields.get("response_format") or "json"
    if response_format not in TRANSCRIPT_FORMATS:
        raise ApiError(400, f"response_format must be one of {', '.join(TRANSCRIPT_FORMATS)}",
                       "response_format", "invalid_value")
    language = fields.get("language") or settings.language
    if not _LANGUAGE.match(language):
        raise ApiError(400, "language must be an ISO-639-1 code such as `en`", "language", "invalid_value")
    try:
        float(fields.get("temperature") or 0)  # accepted for compatibility; decoding stays greedy
    except ValueError as exc:
        raise ApiError(400, "temperature must be a number", "temperature", "invalid_value") from exc
    try:
        pcm = await asyncio.to_thread(decode_audio, data, 16000)
    except UndecodableAudio as exc:
        raise ApiError(415, str(exc), "file", "unsupported_audio") from exc
    if not pcm:
        raise ApiError(400, "the audio file holds no samples", "file", "empty_audio")
    prompt = fields.get("prompt") or settings.stt_hotwords or None
    timed = response_format in ("srt", "vtt", "verbose_json")
    try:
        transcript = await _transcribe(engines, pcm, language, prompt, timed)
    except Exception as exc:
        log.exception("REST transcription failed")
        raise ApiError(500, f"transcription failed: {type(exc).__name__}", None, "stt_failed") from exc
    return _transcript_response(transcript, response_format, fields.get("model") or "whisper-1")


async def _transcribe(
    engines: Engines, pcm: bytes, language: str, prompt: str | None, timed: bool
) -> Transcript:
    lang = None if language == "auto" else language
    return await engines.stt.transcribe(pcm, lang, prompt, timestamps=timed)


def _segments(transcript: Transcript) -> list[dict[str, Any]]:
    out = []
    for index, seg in enumerate(transcript.segments):
        out.append({
            "id": index, "seek": 0, "start": float(seg["start"]), "end": float(seg["end"]),
            "text": " " + str(seg["text"]), "tokens": [], "temperature": 0.0,
            "avg_logprob": float(seg.get("avg_logprob", transcript.avg_logprob)),
            "compression_ratio": 1.0,
            "no_speech_prob": float(seg.get("no_speech_prob", transcript.no_speech_prob)),
        })  # fmt: skip
    return out


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _subtitles(transcript: Transcript, kind: str) -> str:
    whole = {"start": 0.0, "end": transcript.audio_ms / 1000, "text": transcript.text}
    segments = transcript.segments or [whole]
    lines = ["WEBVTT", ""] if kind == "vtt" else []
    for index, seg in enumerate(segments, 1):
        sep = "." if kind == "vtt" else ","
        if kind == "srt":
            lines.append(str(index))
        lines.append(f"{_stamp(float(seg['start']), sep)} --> {_stamp(float(seg['end']), sep)}")
        lines += [str(seg["text"]).strip(), ""]
    return "\n".join(lines)


def _transcript_response(transcript: Transcript, response_format: str, model: str) -> Response:
    headers = {"x-voicechat-model": model}
    if response_format == "text":
        return PlainTextResponse(transcript.text + "\n", headers=headers)
    if response_format in ("srt", "vtt"):
        media = "text/vtt" if response_format == "vtt" else "application/x-subrip"
        return Response(_subtitles(transcript, response_format), media_type=media, headers=headers)
    if response_format == "verbose_json":
        body = {"task": "transcribe", "language": transcript.language, "duration": transcript.audio_ms / 1000,
                "text": transcript.text, "segments": _segments(transcript)}
        return JSONResponse(body, headers=headers)
    return JSONResponse({"text": transcript.text}, headers=headers)


# --- speech ---------------------------------------------------------------------------------------


@_answers_in_openai_shape
async def speech(request: Request) -> Response:
    """`POST /v1/audio/speech` (JSON): `model`, `input`, `voice`, `response_format`, `speed`."""
    settings, engines = _state(request)
    try:
        body = await request.json()
    except ValueError as exc:
        raise ApiError(400, "the body must be a JSON object", None, "invalid_json") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", None, "invalid_json")
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "`input` must be a non-empty string", "input", "empty_input")
    if len(text) > settings.rest_max_input_chars:
        raise ApiError(400, f"`input` is limited to {settings.rest_max_input_chars} characters",
                       "input", "string_above_max_length")
    response_format = body.get("response_format") or "mp3"
    if response_format not in SPEECH_FORMATS:
        raise ApiError(400, f"response_format {response_format!r} is not supported here; use one of "
                       f"{', '.join(SPEECH_FORMATS)}", "response_format", "unsupported_format")
    speed = body.get("speed", 1.0)
    if not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0:
        raise ApiError(400, "speed must be a number from 0.25 to 4.0", "speed", "invalid_value")
    voice = body.get("voice")
    if voice is not None and not isinstance(voice, str | dict):
        raise ApiError(400, "voice must be a string", "voice", "invalid_value")
    chosen = voice if isinstance(voice, str) and voice not in OPENAI_VOICES else None
    if chosen is not None:
        try:
            engines.tts.check_voice(chosen)  # a voice no engine has is refused, not replaced unsaid
        except ValueError as exc:
            raise ApiError(400, str(exc), "voice", "invalid_value") from exc
    pcm = bytearray()
    used: set[str] = set()
    try:
        async for engine_name, chunk in engines.tts.synthesize_with_engine(text.strip(), chosen):
            used.add(engine_name)
            pcm += resample_pcm16(chunk.pcm, chunk.rate, SPEECH_RATE)
    except TTSError as exc:
        raise ApiError(500, f"speech synthesis failed: {exc}", None, "tts_failed") from exc
    audio = bytes(pcm)
    if speed != 1.0:
        audio = await asyncio.to_thread(change_tempo, audio, SPEECH_RATE, float(speed))
    if response_format == "mp3":
        audio = await asyncio.to_thread(encode_mp3, audio, SPEECH_RATE)
    elif response_format == "wav":
        audio = wav_bytes(audio, SPEECH_RATE)
    headers = {"x-voicechat-tts-engine": ",".join(sorted(used))}
    return Response(audio, media_type=SPEECH_FORMATS[response_format], headers=headers)


# --- models ---------------------------------------------------------------------------------------


def served_models(settings: Settings, engines: Engines) -> list[dict[str, Any]]:
    """What this server answers to: OpenAI's names, and the real engines behind them."""

    def model(id: str, kind: str, description: str) -> dict[str, Any]:
        return {"id": id, "object": "model", "created": 0, "owned_by": "voicechat", "kind": kind,
                "description": description}

    stt_name = settings.stt_remote_model if settings.stt_url else f"faster-whisper-{settings.stt_model}"
    models = [model("whisper-1", "stt", engines.stt.description),
              model(stt_name, "stt", engines.stt.description),
              model("tts-1", "tts", engines.tts.description),
              model("tts-1-hd", "tts", engines.tts.description)]
    for engine in engines.tts.engines:
        models.append(model(f"{engine.name}:{voice_name(engine)}", "tts_voice", engine.description))
    models.append(model(chat_model_name(engines.chat), "chat", engines.chat.description))
    return models


@_answers_in_openai_shape
async def list_models(request: Request) -> Response:
    """`GET /v1/models`."""
    settings, engines = _state(request)
    return JSONResponse({"object": "list", "data": served_models(settings, engines)})


@_answers_in_openai_shape
async def get_model(request: Request) -> Response:
    """`GET /v1/models/{id}`."""
    settings, engines = _state(request)
    wanted = request.path_params["model"]
    for entry in served_models(settings, engines):
        if entry["id"] == wanted:
            return JSONResponse(entry)
    raise ApiError(404, f"the model {wanted!r} does not exist", "model", "model_not_found")


rest_routes = [
    Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
    Route("/v1/audio/speech", speech, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", get_model, methods=["GET"]),
]
