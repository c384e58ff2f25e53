"""The page's Voice setting changes the voice that speaks the replies, or is refused with a message the user
sees (issue #13: never silently ignored). Which voice spoke comes from the server's `turn.done`."""

from __future__ import annotations


def test_the_voice_setting_changes_the_voice_or_the_page_says_it_was_refused(make_page, server):
    page = make_page(server.http + "/")
    page.open()
    page.page.get_by_role("button", name="Settings").click()
    page.page.get_by_label("Voice").fill("no-such-voice")
    page.page.get_by_role("button", name="Save").click()
    banner = "document.querySelector('#banner:not([hidden])')?.textContent || ''"
    refused = page.wait(f"() => {banner}.includes('no-such-voice') && {banner}")
    assert "rejected a setting" in refused and "en_US-joe-medium" in refused, refused  # the voices there are
    assert page.js("window.voicechat.session.voice") is None  # the server kept its own voice

    page.page.get_by_role("button", name="Settings").click()
    page.page.get_by_label("Voice").fill("de")  # espeak-ng's German, on this Piper server
    page.page.get_by_role("button", name="Save").click()
    page.wait("() => window.voicechat.session.voice === 'de'")
    page.page.get_by_placeholder("…or type a message").fill("Good morning")
    page.page.keyboard.press("Enter")
    done = page.wait_for_event("turn.done", timeout_s=60)
    assert (done["status"], done["tts_engine"], done["tts_voice"]) == ("completed", "espeak", "de"), done
    assert not page.errors
