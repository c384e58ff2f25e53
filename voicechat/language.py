"""The user's language in and out: which language a reply is written in, and which voice speaks it.

Whisper names the language it heard (`language=auto`), or the session fixes one. The chat model is then told
which language to answer in, and each spoken piece goes to a voice for its language: a `VOICECHAT_VOICES`
entry first, then the engine's own default for that language (edge-tts has one per language; Piper's voice
speaks only its own language; espeak-ng speaks most languages, robotically). An engine with no voice for the
language is skipped, so the English Piper voice never reads Chinese as "Chinese letter, Chinese letter".
"""

from __future__ import annotations

import re
import unicodedata

# Names the chat model understands, for the languages whisper hears most; others are named by their code.
LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese (Mandarin, 中文)", "de": "German", "fr": "French", "es": "Spanish",
    "it": "Italian", "pt": "Portuguese", "ru": "Russian", "ja": "Japanese (日本語)", "ko": "Korean (한국어)",
    "nl": "Dutch", "pl": "Polish", "tr": "Turkish", "ar": "Arabic", "hi": "Hindi", "vi": "Vietnamese",
    "uk": "Ukrainian", "sv": "Swedish", "yue": "Cantonese (粵語)",
}  # fmt: skip
# The same instruction in the language itself: a small local model follows that far more reliably.
_IN_LANGUAGE = {"zh": "请用中文回答。", "ja": "日本語で答えてください。", "ko": "한국어로 대답해 주세요.",
                "yue": "請用粵語回答。"}

# edge-tts voices used when neither the session nor VOICECHAT_VOICES names one for the language.
EDGE_DEFAULTS = {
    "zh": "zh-CN-XiaoxiaoNeural", "de": "de-DE-KatjaNeural", "fr": "fr-FR-DeniseNeural",
    "es": "es-ES-ElviraNeural", "it": "it-IT-ElsaNeural", "pt": "pt-BR-FranciscaNeural",
    "ru": "ru-RU-SvetlanaNeural", "ja": "ja-JP-NanamiNeural", "ko": "ko-KR-SunHiNeural",
    "nl": "nl-NL-ColetteNeural", "pl": "pl-PL-ZofiaNeural", "tr": "tr-TR-EmelNeural",
    "ar": "ar-SA-ZariyahNeural", "hi": "hi-IN-SwaraNeural", "vi": "vi-VN-HoaiMyNeural",
    "uk": "uk-UA-PolinaNeural", "sv": "sv-SE-SofieNeural", "yue": "zh-HK-HiuMaanNeural",
}  # fmt: skip
# espeak-ng voices whose name is not the whisper code. Debian's espeak-ng 1.51 `cmn` voice reads its own
# pinyin tone digits in English ("fa three"); `cmn-latn-pinyin` speaks the same characters correctly.
# French has voices fr-fr, fr-be and fr-ch but none named `fr`.
ESPEAK_NAMES = {"zh": "cmn-latn-pinyin", "fr": "fr-fr"}
# espeak-ng voices left out of voice lists (still spoken when asked for by name): `cmn` reads tone digits
# in English (above), and espeak-ng 1.51 cannot load `chr-US-Qaaa-x-west` by the name it lists it under.
ESPEAK_UNLISTED = {"cmn", "chr-us-qaaa-x-west"}

EDGE_VOICE = re.compile(r"[a-z]{2,3}-[A-Z]{2,4}-\w+Neural")
_CODE = re.compile(r"[a-z]{2,3}")


def base_code(language: str | None) -> str | None:
    """`zh-CN` (or `zh_CN`, as Piper and Home Assistant write it) -> `zh`; None, "" and `auto` -> None."""
    if not language or language == "auto":
        return None
    return re.split(r"[-_]", language, maxsplit=1)[0].lower()


def script_language(text: str) -> str | None:
    """The language a piece of text must be in, judged by its script: Han, kana or hangul; else None."""
    han = kana = hangul = 0
    for ch in text:
        if ch.isascii():
            continue
        name = unicodedata.name(ch, "")
        if name.startswith("CJK UNIFIED") or name.startswith("CJK COMPATIBILITY IDEOGRAPH"):
            han += 1
        elif name.startswith(("HIRAGANA", "KATAKANA")):
            kana += 1
        elif name.startswith("HANGUL"):
            hangul += 1
    if kana:
        return "ja"
    if hangul > han:
        return "ko"
    return "zh" if han else None


_CJK = ("zh", "ja", "ko", "yue")


def speech_language(text: str, reply: str | None) -> str | None:
    """The language a piece of a reply is spoken in: its script's when that is not the reply's (Chinese
    text in an English reply), else the reply's. Japanese written in kanji alone stays Japanese."""
    script = script_language(text)
    if script is None or (reply in _CJK and script == "zh"):
        return reply
    return script


def reads_script(language: str | None, script: str | None) -> bool:
    """Whether a voice for `language` can read text in `script` (script_language's answer; None: Latin
    and the like, which any voice reads, with its own accent)."""
    if script is None:
        return True
    return language in (("zh", "yue", "ja") if script == "zh" else (script,))


def reply_language(session_language: str, heard: str | None, text: str) -> str | None:
    """The language a reply is written and spoken in: the session's fixed language, else what whisper
    heard, else (typed text with `auto`) the text's script; None when nothing says."""
    fixed = base_code(session_language)
    if fixed:
        return fixed
    return base_code(heard) or script_language(text)


def with_reply_language(system_prompt: str, language: str | None, session_language: str) -> str:
    """The system prompt, told which language to answer in.

    Said for every language when the session detects it (a user who switches language is followed), and
    for a fixed language other than English; a fixed English session keeps the prompt as configured.
    """
    if language is None or (language == "en" and base_code(session_language) == "en"):
        return system_prompt
    name = LANGUAGE_NAMES.get(language, language)
    line = f"The user speaks {name}: write your whole answer in {name}."
    native = _IN_LANGUAGE.get(language)
    return f"{system_prompt}\n\n{line}" + (f" {native}" if native else "")


def parse_voices(spec: str) -> dict[str, list[str]]:
    """`VOICECHAT_VOICES`: `zh:zh-CN-XiaoxiaoNeural,zh:cmn-latn-pinyin,en:en-US-AriaNeural` -> language ->
    voices, in order (each engine takes the first one it has). Raises ValueError naming a bad entry."""
    voices: dict[str, list[str]] = {}
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        language, sep, voice = entry.partition(":")
        language, voice = language.strip().lower(), voice.strip()
        if not sep or not _CODE.fullmatch(language) or not voice:
            raise ValueError(f"VOICECHAT_VOICES entry {entry!r} is not `language:voice` (e.g. "
                             "`zh:zh-CN-XiaoxiaoNeural`)")
        voices.setdefault(language, []).append(voice)
    return voices


def espeak_voices(binary: str) -> dict[str, tuple[str, str]]:
    """espeak-ng's voices (`-v` names) -> the language code each speaks and its title, from
    `espeak-ng --voices` (`cmn-latn-pinyin` -> `zh`, "Chinese (Mandarin, latin as Pinyin)")."""
    import subprocess

    try:
        listing = subprocess.run([binary, "--voices"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    voices: dict[str, tuple[str, str]] = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()  # priority, language (the -v name), age/gender, title, file, other languages
        if len(fields) >= 2:
            name = fields[1].lower()
            code = base_code(name) or name
            title = fields[3].replace("_", " ") if len(fields) >= 4 else name
            voices.setdefault(name, ("zh" if code == "cmn" else code, title))  # `yue` twice: the first
    return voices
