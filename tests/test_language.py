"""The user's language in and out: detection on the short window, the reply in the user's language, a voice
for it, and the session's voice changed or refused. Real whisper on Kokoro's Chinese and Piper's English
speech (both synthesized here from known text), real servers, real WebSocket clients."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.conftest import make_settings
from tests.speech import piper_speech, silence, zh_speech
from tests.wsclient import NativeClient
from voicechat.language import parse_voices, reply_language, speech_language, with_reply_language
from voicechat.stt import WhisperSTT
from voicechat.tts import create_tts

# Worded so whisper base hears Kokoro's 首都 and 法国: 8 of 8 cuts and levels of this clip were heard exactly,
# 3 of 8 of "法国的首都是哪里" (首度, 发过) (docs/benchmarks.md, "Chinese test speech").
CAPITAL_OF_FRANCE = "法国首都是哪里？"


@pytest.fixture(scope="module")
def whisper() -> WhisperSTT:
    return WhisperSTT(make_settings())


def test_auto_detects_chinese_and_english_on_the_short_window(whisper: WhisperSTT):
    runs, redone = whisper.short_window_runs, whisper.short_window_redone
    chinese = whisper.transcribe_sync(silence(300) + zh_speech(CAPITAL_OF_FRANCE) + silence(300), "auto")
    english = whisper.transcribe_sync(piper_speech("What is the capital of France?"), "auto")
    assert (chinese.language, english.language) == ("zh", "en")
    assert "首都" in chinese.text and ("法国" in chinese.text or "法國" in chinese.text), chinese.text
    assert "capital of france" in english.text.lower(), english.text
    assert chinese.language_probability and chinese.language_probability > 0.9
    # Both came from the short-window pass (the full window would not count here), none was redone.
    assert (whisper.short_window_runs - runs, whisper.short_window_redone - redone) == (2, 0)


def test_an_unsure_detection_is_redone_on_the_full_window(whisper: WhisperSTT):
    redone = whisper.short_window_redone
    whisper.detect_min_probability = 1.01  # no detection is that sure: each one is redone
    try:
        result = whisper.transcribe_sync(zh_speech("一年有多少天？"), "auto")
    finally:
        whisper.detect_min_probability = make_settings().stt_detect_min_probability
    assert result.language == "zh" and whisper.short_window_redone == redone + 1
    assert "天" in result.text, result.text


def han(text: str) -> int:
    return sum("\u4e00" <= ch <= "\u9fff" for ch in text)


async def test_a_spoken_chinese_question_is_answered_in_chinese_by_a_chinese_voice(start_server):
    """Real whisper (auto), the bundled local brain, espeak-ng's Mandarin (no Chinese Piper voice exists)."""
    server = start_server(language="auto")
    client = await NativeClient.connect(server.ws)
    try:
        # Trailing silence past VOICECHAT_END_OF_TURN_MAX_MS: a question judged unfinished still ends.
        await client.stream(silence(300) + zh_speech(CAPITAL_OF_FRANCE) + silence(3000))
        heard = await client.find("transcript")
        done = await client.find("turn.done", timeout=120, turn_id=heard["turn_id"])
        mark = len(client.events)
        await client.stream(piper_speech("What is the capital of France?") + silence(3000))
        heard_en = await client.find("transcript", after=mark)
        done_en = await client.find("turn.done", timeout=120, after=mark, turn_id=heard_en["turn_id"])
    finally:
        await client.close()
    assert heard["language"] == "zh" and "首都" in heard["text"], heard
    assert done["status"] == "completed" and done["language"] == "zh", done
    assert han(done["text"]) > len(done["text"]) / 3, done["text"]  # written in Chinese
    assert "巴黎" in done["text"], done["text"]
    # Spoken by espeak-ng's Mandarin voice, not by the English Piper voice.
    assert (done["tts_engine"], done["tts_voice"]) == ("espeak", "cmn-latn-pinyin"), done
    assert heard_en["language"] == "en" and done_en["language"] == "en", (heard_en, done_en)
    assert "paris" in done_en["text"].lower(), done_en["text"]
    assert done_en["tts_engine"] == "piper", done_en


async def test_the_session_voice_changes_the_voice_or_is_refused_clearly(remote_server):
    client = await NativeClient.connect(remote_server.ws)
    try:
        updated = await client.update(voice="de")  # espeak-ng's German, on a Piper server
        assert updated["session"]["voice"] == "de"
        await client.send({"type": "text", "text": "Hello there."})
        first = await client.expect("turn.done")
        await client.send({"type": "session.update", "session": {"voice": "no-such-voice"}})
        refused = await client.expect("error")
        await client.send({"type": "session.update", "session": {"voice": "zh-CN-XiaoxiaoNeural"}})
        no_edge = await client.expect("error")
        await client.send({"type": "text", "text": "Hello again."})  # the session goes on, voice unchanged
        second = await client.expect("turn.done")
        piper = await client.update(voice="en_US-joe-medium")
        await client.send({"type": "text", "text": "And once more."})
        third = await client.expect("turn.done")
        reset = await client.update(voice="")  # back to the default voice for the language
    finally:
        await client.close()
    assert (first["tts_engine"], first["tts_voice"]) == ("espeak", "de"), first
    assert refused["code"] == "invalid_session" and "no-such-voice" in refused["message"]
    assert "en_US-joe-medium" in refused["message"] and "cmn-latn-pinyin" in refused["message"]
    assert no_edge["code"] == "invalid_session", no_edge  # no edge-tts on this server: said, not ignored
    assert (second["status"], second["tts_voice"]) == ("completed", "de"), second
    assert piper["session"]["voice"] == "en_US-joe-medium"
    assert (third["tts_engine"], third["tts_voice"]) == ("piper", "en_US-joe-medium"), third
    assert reset["session"]["voice"] is None


async def test_an_espeak_server_refuses_a_piper_voice_and_takes_its_own(start_server, fake_chat):
    server = start_server(tts_engine="espeak", openai_api_base_url=fake_chat.base_url,
                          openai_api_key=fake_chat.api_key)
    client = await NativeClient.connect(server.ws)
    try:
        await client.send({"type": "session.update", "session": {"voice": "en_US-joe-medium"}})
        refused = await client.expect("error")
        await client.update(voice="en-gb")
        await client.send({"type": "text", "text": "Hello there."})
        done = await client.expect("turn.done")
    finally:
        await client.close()
    assert refused["code"] == "invalid_session" and "espeak-ng" in refused["message"], refused
    assert (done["tts_engine"], done["tts_voice"]) == ("espeak", "en-gb"), done


def test_the_reply_language_and_the_instruction_the_model_gets():
    assert reply_language("auto", "zh", "法国的首都是哪里") == "zh"
    assert reply_language("de", "en", "hello") == "de"  # a fixed language wins
    assert reply_language("auto", None, "法国的首都是哪里？") == "zh"  # typed text: its script
    assert reply_language("auto", None, "hello") is None
    prompt = with_reply_language("Be brief.", "zh", "auto")
    assert prompt.startswith("Be brief.") and "Chinese" in prompt and "请用中文回答" in prompt
    assert "English" in with_reply_language("Be brief.", "en", "auto")  # followed when the user switches
    assert with_reply_language("Be brief.", "en", "en") == "Be brief."  # the shipped default is untouched
    assert speech_language("好的。", "en") == "zh" and speech_language("OK.", "zh") == "zh"
    assert speech_language("東京です", "ja") == "ja"


def test_voices_setting_is_checked_at_startup():
    assert parse_voices("zh:zh-CN-XiaoxiaoNeural, zh:cmn-latn-pinyin,en:en-US-AriaNeural") == {
        "zh": ["zh-CN-XiaoxiaoNeural", "cmn-latn-pinyin"], "en": ["en-US-AriaNeural"]}
    with pytest.raises(ValidationError, match="zh-CN-XiaoxiaoNeural"):
        make_settings(voices="zh-CN-XiaoxiaoNeural")  # no `language:`


def test_each_engine_speaks_its_own_language_and_the_voices_map_comes_first():
    online = create_tts(make_settings(tts_engine="edge", voices="zh:zh-CN-YunxiNeural,de:de"))
    plan = [(e.name, v) for e, v in online._plan("法国的首都是巴黎。", None, "zh")]
    assert plan == [("edge", "zh-CN-YunxiNeural"), ("espeak", "cmn-latn-pinyin")]  # never Piper's English
    plan = [(e.name, v) for e, v in online._plan("Hallo.", None, "de")]
    assert plan == [("edge", "de-DE-KatjaNeural"), ("espeak", "de")]  # edge's default for German
    assert [e.name for e, _ in online._plan("Hello.", None, "en")] == ["edge", "piper", "espeak"]
