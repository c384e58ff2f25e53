"""OpenAI Realtime session objects: the client's `session.update` (GA or beta shape) to our session
settings, and our settings back to the session object Realtime clients expect."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .rest import OPENAI_VOICES

if TYPE_CHECKING:
    from ..session import Session

_FORMATS = {  # wire name -> (G.711 law or None, sample rate)
    "pcm16": (None, 24000),
    "audio/pcm": (None, 24000),
    "g711_ulaw": ("ulaw", 8000),
    "audio/pcmu": ("ulaw", 8000),
    "g711_alaw": ("alaw", 8000),
    "audio/pcma": ("alaw", 8000),
}


@dataclass(frozen=True)
class RealtimeFormat:
    """What this Realtime session's wire looks like; the rest lives in the Session's config."""

    input_law: str | None = None
    output_law: str | None = None
    modalities: tuple[str, ...] = ("audio",)
    turn_detection: dict[str, Any] | None = field(default_factory=lambda: {
        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
        "create_response": True, "interrupt_response": True, "idle_timeout_ms": None})
    transcription: dict[str, Any] | None = field(default_factory=lambda: {"model": "whisper-1"})
    voice: str = "alloy"


class VoiceRefused(ValueError):
    """A `voice` this server cannot speak with; `param` is where the client put it."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def voice_param(client: dict[str, Any]) -> str:
    """Where a `session.update` carries its voice: GA `session.audio.output.voice`, beta `session.voice`."""
    output = (client.get("audio") or {}).get("output") or {}
    return "session.audio.output.voice" if isinstance(output, dict) and "voice" in output else "session.voice"


def check_voice(session: Session, name: str, param: str) -> None:
    """The native door's voice check (an engine here must have `name`), as a Realtime refusal."""
    try:
        session.engines.tts.check_voice(name)
    except ValueError as exc:
        openai = ", ".join(sorted(OPENAI_VOICES))
        raise VoiceRefused(f"{exc}. OpenAI's names ({openai}) mean the default voice", param) from None


def check_response_voice(options: dict[str, Any], fmt: RealtimeFormat) -> None:
    """A `response.create` may name a voice for that response only, which is not served here: one that is
    not the session's own voice is refused rather than spoken in the session's voice unsaid."""
    output = (options.get("audio") or {}).get("output") or {}
    beta = "voice" not in output
    voice = options.get("voice") if beta else output["voice"]
    if voice is None or voice == fmt.voice or (voice in OPENAI_VOICES and fmt.voice in OPENAI_VOICES):
        return
    raise VoiceRefused(f"a response cannot have its own voice here; change the session's voice with "
                       f"session.update (it speaks with {fmt.voice!r})",
                       "response.voice" if beta else "response.audio.output.voice")


def _format_name(spec: Any) -> str:
    if isinstance(spec, dict):
        return str(spec.get("type", "audio/pcm"))
    return str(spec)


def _audio_format(spec: Any) -> tuple[str | None, int]:
    name = _format_name(spec)
    if name not in _FORMATS:
        raise ValueError(f"unsupported audio format {name!r}; use pcm16, g711_ulaw or g711_alaw")
    return _FORMATS[name]


def session_update_from(client: dict[str, Any], fmt: RealtimeFormat) -> tuple[dict[str, Any], RealtimeFormat]:
    """Translate a Realtime `session` object into a native `session.update` and the wire format."""
    if not isinstance(client, dict):
        raise ValueError("`session` must be an object")
    audio = client.get("audio") or {}
    audio_in, audio_out = audio.get("input") or {}, audio.get("output") or {}
    update: dict[str, Any] = {}
    changes: dict[str, Any] = {}
    if "instructions" in client:
        update["system_prompt"] = str(client["instructions"])
    in_spec = audio_in.get("format", client.get("input_audio_format"))
    if in_spec is not None:
        law, rate = _audio_format(in_spec)
        changes["input_law"] = law
        update["input_audio"] = {"format": "pcm16", "rate": rate}
    out_spec = audio_out.get("format", client.get("output_audio_format"))
    if out_spec is not None:
        law, rate = _audio_format(out_spec)
        changes["output_law"] = law
        update["output_audio"] = {"format": "pcm16", "rate": rate}
    voice = audio_out.get("voice", client.get("voice"))
    if voice is not None:
        if not isinstance(voice, str) or not voice.strip():
            raise VoiceRefused(f"voice must be a voice name, not {voice!r}", voice_param(client))
        changes["voice"] = voice
        # OpenAI's names mean the default voice for the reply's language (as in doors/rest.py); any other
        # name is an engine's own voice, checked by the session like a native client's.
        update["voice"] = "" if voice in OPENAI_VOICES else voice
    modalities = client.get("output_modalities", client.get("modalities"))
    if modalities is not None:
        changes["modalities"] = ("audio",) if "audio" in modalities else ("text",)
    marker = object()
    detection = audio_in.get("turn_detection", client.get("turn_detection", marker))
    if detection is not marker:
        if detection is None:
            update.update(turn_mode="push_to_talk", auto_respond=False, barge_in=False)
            changes["turn_detection"] = None
        else:
            merged = {**(fmt.turn_detection or RealtimeFormat().turn_detection or {}), **detection}
            merged["type"] = "server_vad"  # semantic_vad is served by the same VAD
            update.update(turn_mode="vad", auto_respond=bool(merged.get("create_response", True)),
                          barge_in=bool(merged.get("interrupt_response", True)))
            changes["turn_detection"] = merged
    transcription = audio_in.get("transcription", client.get("input_audio_transcription", marker))
    if transcription is not marker:
        changes["transcription"] = transcription
        if isinstance(transcription, dict) and transcription.get("language"):
            update["language"] = str(transcription["language"])
    return update, replace(fmt, **changes)


def session_object(session: Session, fmt: RealtimeFormat, model: str, beta: bool) -> dict[str, Any]:
    """The session as a Realtime client sees it."""
    config = session.config
    in_name = {None: "pcm16", "ulaw": "g711_ulaw", "alaw": "g711_alaw"}[fmt.input_law]
    out_name = {None: "pcm16", "ulaw": "g711_ulaw", "alaw": "g711_alaw"}[fmt.output_law]
    if beta:
        return {
            "id": session.id, "object": "realtime.session", "model": model,
            "modalities": ["text", "audio"] if "audio" in fmt.modalities else ["text"],
            "instructions": config.system_prompt, "voice": fmt.voice,
            "input_audio_format": in_name, "output_audio_format": out_name,
            "input_audio_transcription": fmt.transcription, "turn_detection": fmt.turn_detection,
            "tools": [], "tool_choice": "auto", "temperature": 0.8, "max_response_output_tokens": "inf",
        }  # fmt: skip

    def ga_format(law: str | None) -> dict[str, Any]:
        return {"type": "audio/pcm", "rate": 24000} if law is None else {"type": f"audio/pcm{law[0]}"}

    return {
        "type": "realtime", "object": "realtime.session", "id": session.id, "model": model,
        "output_modalities": list(fmt.modalities), "instructions": config.system_prompt,
        "audio": {
            "input": {"format": ga_format(fmt.input_law), "transcription": fmt.transcription,
                      "noise_reduction": None, "turn_detection": fmt.turn_detection},
            "output": {"format": ga_format(fmt.output_law), "voice": fmt.voice, "speed": 1.0},
        },
        "tools": [], "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None, "prompt": None,
        "expires_at": 0,
    }  # fmt: skip
