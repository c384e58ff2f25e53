"""The page continues its conversation after a reload, shows what was said before, lists past
conversations, and starts a new one on request (voicechat/static/js/resume.js)."""

from __future__ import annotations


def test_reload_resumes_the_conversation_and_new_starts_afresh(make_page, server):
    page = make_page(server.http + "/")
    page.open()
    first = page.wait_for_event("ready")
    assert first["resumed"] is False
    page.page.get_by_placeholder("…or type a message").fill("Remember the word pineapple")
    page.page.keyboard.press("Enter")
    page.wait_for_event("turn.done")

    page.page.reload()
    page.wait_for_state("ready")
    again = page.wait_for_event("ready")
    assert again["resumed"] is True and again["conversation_id"] == first["conversation_id"]
    page.wait("() => document.querySelector('#log').textContent.includes('Remember the word pineapple')")

    page.page.get_by_text("Past conversations").click()
    listed = page.page.locator(f"[data-conversation-id='{first['conversation_id']}']")
    listed.wait_for()
    assert listed.is_disabled()  # the one already open
    page.page.get_by_role("button", name="New conversation").click()
    fresh = page.wait("id => window.voicechat.events.find(e => e.type === 'ready'"
                      " && e.conversation_id !== id)", first["conversation_id"])
    assert fresh["resumed"] is False
    assert "pineapple" not in page.js("document.querySelector('#log').textContent")
    assert not page.errors
