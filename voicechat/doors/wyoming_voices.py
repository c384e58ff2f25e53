"""Wyoming's voices: what `describe` lists, and which voice and language a `synthesize` voice means.

Home Assistant groups a Wyoming TTS program's voices by their `languages` and offers, for an assistant in
German, the voices listed under `de`; so each voice is listed under the one language it speaks (Piper's
loaded voice under its own, each espeak-ng voice under its language, edge-tts's voice per language).

A `synthesize` voice names a voice or a language:
- a name: that voice (as every door takes it); one no engine has is refused (`voice_not_found`). A name
  "overrides language" in Wyoming's own definition (the `wyoming` package's `SynthesizeVoice`, whose
  client never sends both and whose parser drops the language when a name is there), and Home Assistant
  only offers a voice under the language it speaks, so a name with a language is the named voice;
- a language alone: the server's voice for that language, as a reply in that language would get; a
  language no voice here speaks is refused (`language_not_supported`), nothing is spoken;
- neither: the voice for the server's `VOICECHAT_LANGUAGE` (the engines' defaults with `auto`).
"""

from __future__ import annotations

from wyoming.info import Attribution, TtsVoice
from wyoming.tts import SynthesizeVoice

from ..capabilities import voice_name
from ..language import base_code
from ..tts import FallbackTTS, Voiced


class VoiceRefused(Exception):
    """A `synthesize` voice this server cannot honour: `code` and `text` of the Wyoming `error`."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def listed_voices(tts: FallbackTTS, server_language: str, attribution: Attribution) -> list[TtsVoice]:
    """`describe`'s voices: every engine's, each under its own language, the engines' defaults first.

    A remote engine (`VOICECHAT_TTS_URL`) names no voices or languages: it is listed by its name under the
    server's language (English with `auto`), as before this list knew languages.
    """
    fixed = base_code(server_language) or "en"
    defaults: list[tuple[str, str, str]] = []
    others: list[tuple[str, str, str]] = []
    for engine in tts.engines:
        if isinstance(engine, Voiced):
            listed = [(name, language or fixed, about) for name, language, about in engine.listed_voices()]
        else:
            listed = [(voice_name(engine), fixed, engine.description)]
        defaults += listed[:1]
        others += listed[1:]
    voices: dict[str, TtsVoice] = {}
    for name, language, about in defaults + others:
        voices.setdefault(name, TtsVoice(name=name, attribution=attribution, installed=True,
                                         description=about, version=None, languages=[language]))
    return list(voices.values())


def spoken_languages(tts: FallbackTTS) -> set[str] | None:
    """The languages some voice here speaks; None: any (a remote engine speaks whatever it is sent)."""
    languages: set[str] = set()
    for engine in tts.engines:
        if not isinstance(engine, Voiced):
            return None
        listed = {language for _, language, _ in engine.listed_voices() if language}
        languages.update(language for language in listed if engine.pick_voice(language))  # as a reply picks
    return languages


def chosen_voice(tts: FallbackTTS, voice: SynthesizeVoice | None, server_language: str
                 ) -> tuple[str | None, str | None]:
    """The (voice name, language) a `synthesize` voice asks for (the module's rules); raises VoiceRefused."""
    name = voice.name if voice else None
    asked = voice.language if voice else None
    language = base_code(asked)
    if name:
        try:
            tts.check_voice(name)
        except ValueError as exc:
            raise VoiceRefused("voice_not_found", str(exc)) from None
        named = [e.voice_named(name) for e in tts.engines if isinstance(e, Voiced)]
        return name, next((found[1] for found in named if found), None)  # its fallbacks: same language
    if language:
        languages = spoken_languages(tts)
        if languages is not None and language not in languages:
            raise VoiceRefused("language_not_supported",
                               f"no voice here speaks {asked!r}; the languages spoken here are "
                               + ", ".join(sorted(languages)))
        return None, language
    return None, base_code(server_language)
