"""Session settings a client may change, validated the same way for every door."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .audio import SUPPORTED_RATES
from .settings import Settings

PROTOCOL_VERSION = 1


class AudioSpec(BaseModel):
    """`{"format": "pcm16", "rate": 16000}`."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["pcm16"] = "pcm16"
    rate: int

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: int) -> int:
        if value not in SUPPORTED_RATES:
            raise ValueError(f"rate must be one of {', '.join(map(str, SUPPORTED_RATES))}")
        return value


class SessionUpdate(BaseModel):
    """The `session` object of a `session.update` event. Every field is optional."""

    model_config = ConfigDict(extra="forbid")
    language: str | None = Field(None, pattern=r"^(auto|[a-z]{2,3}(-[A-Za-z]{2,4})?)$")
    voice: str | None = Field(None, max_length=100)  # "": back to the default voice for the language
    turn_mode: Literal["vad", "push_to_talk"] | None = None
    system_prompt: str | None = Field(None, max_length=8000)
    input_audio: AudioSpec | None = None
    output_audio: AudioSpec | None = None
    barge_in: bool | None = None
    auto_respond: bool | None = None
    wake_word: str | None = Field(None, max_length=40)  # null (sent explicitly) turns the wake word off


def describe_validation_error(exc: ValidationError) -> str:
    """One readable line per problem, naming the field."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "session"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


@dataclass
class SessionConfig:
    """The settings in force for one session."""

    language: str
    voice: str | None
    turn_mode: str
    system_prompt: str
    input_rate: int
    output_rate: int
    barge_in: bool
    output_format: str = "pcm16"
    auto_respond: bool = True  # False: utterances only join the conversation until asked to respond
    wake_word: str | None = None  # hands-free requests must open with it (voicechat/wake.py)

    @classmethod
    def defaults(cls, settings: Settings) -> SessionConfig:
        return cls(
            language=settings.language,
            voice=None,
            turn_mode=settings.turn_mode,
            system_prompt=settings.system_prompt,
            input_rate=settings.input_rate,
            output_rate=settings.output_rate,
            barge_in=settings.barge_in,
            wake_word=settings.wake_word,
        )

    def apply(self, update: SessionUpdate, settings: Settings) -> bool:
        """Apply a validated update; True when the audio input chain must be rebuilt."""
        if update.system_prompt is not None and len(update.system_prompt) > settings.max_text_chars:
            raise ValueError(f"system_prompt is limited to {settings.max_text_chars} characters")
        before = (self.input_rate, self.turn_mode, self.wake_word)
        for name in ("language", "voice", "turn_mode", "system_prompt", "barge_in", "auto_respond"):
            value = getattr(update, name)
            if value is not None:
                setattr(self, name, value)
        if "wake_word" in update.model_fields_set:  # null is a value here: it turns the wake word off
            self.wake_word = update.wake_word
        if update.input_audio is not None:
            self.input_rate = update.input_audio.rate
        if update.output_audio is not None:
            self.output_rate = update.output_audio.rate
        if update.voice == "":
            self.voice = None
        return (self.input_rate, self.turn_mode, self.wake_word) != before

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        return {
            "language": data["language"],
            "voice": data["voice"],
            "turn_mode": data["turn_mode"],
            "system_prompt": data["system_prompt"],
            "barge_in": data["barge_in"],
            "auto_respond": data["auto_respond"],
            "wake_word": data["wake_word"],
            "input_audio": {"format": "pcm16", "rate": self.input_rate, "channels": 1},
            "output_audio": {"format": self.output_format, "rate": self.output_rate, "channels": 1},
        }
