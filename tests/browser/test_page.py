"""The browser page (voicechat/static/) in headless Chromium against a real server, real whisper and
Piper; the chat model is the fake OpenAI server. The microphone is Chromium's fake device playing tests'
synthesized speech.

Synchronisation is always on page state (`window.voicechat`) or server events, never on sleeps.
"""

from __future__ import annotations

import re

from tests.browser.conftest import PageUnderTest, SpeechFile, page_server
from tests.speech import MAX_WER, wer

CAPTURE_BYTES_PER_S = 16000 * 2  # the page sends 16 kHz PCM16


def utterance_bytes(speech: SpeechFile, after_s: float = 0.6) -> int:
    """Audio to hold the button for: the lead silence, the sentence and a little after it (not the loop)."""
    return int((speech.lead_s + speech.speech_s + after_s) * CAPTURE_BYTES_PER_S)


def hold_to_talk(page: PageUnderTest, speech: SpeechFile, key: bool = False) -> None:
    """Hold the talk button (or Space) until the page has sent the whole sentence, then let go."""
    talk = page.page.locator("#talk")
    if key:
        page.page.locator("body").focus()
        page.page.keyboard.down("Space")
    else:
        talk.hover()
        page.page.mouse.down()
    page.wait("() => window.voicechat.state === 'listening'")
    page.wait("n => window.voicechat.sentBytes >= n", utterance_bytes(speech), timeout_s=20)
    if key:
        page.page.keyboard.up("Space")
    else:
        page.page.mouse.up()


def test_page_connects_and_shows_server_defaults(make_page, server):
    page = make_page(server.http + "/")
    page.open()
    assert page.page.locator("#status-text").inner_text() == "Ready"
    ready = page.wait_for_event("ready")
    updated = page.wait_for_event("session.updated")
    # Capture at 16 kHz; replies at the AudioContext's own rate when the server supports it.
    rate = page.js("window.voicechat.sampleRate")
    assert updated["session"]["input_audio"]["rate"] == 16000
    expected_out = rate if rate in ready["limits"]["input_rates"] else 24000
    assert updated["session"]["output_audio"]["rate"] == expected_out
    assert updated["session"]["turn_mode"] == "push_to_talk"
    page.page.locator("#settings-button").click()
    prompt = page.page.get_by_label("System prompt")
    assert prompt.get_attribute("placeholder") == ready["session"]["system_prompt"]
    assert ready["session"]["language"] in page.page.get_by_label("Language").get_attribute("placeholder")
    assert not page.errors


def test_push_to_talk_turn_transcribes_replies_and_plays(make_page, server, fake_chat, speech_file,
                                                         artifacts):
    page = make_page(server.http + "/")
    page.open()
    hold_to_talk(page, speech_file)
    assert page.sent("input.commit"), "releasing the button commits the utterance"

    transcript = page.wait_for_event("transcript")
    assert wer(speech_file.text, transcript["text"]) <= MAX_WER, transcript["text"]
    user_bubble = page.page.locator(f'.bubble.user[data-turn-id="{transcript["turn_id"]}"]')
    assert user_bubble.locator(".text").inner_text() == transcript["text"]

    # The assistant's text streams into its bubble, and its audio plays through the worklet.
    reply = fake_chat.reply_for(transcript["text"])
    assistant = page.page.locator(f'.bubble.assistant[data-turn-id="{transcript["turn_id"]}"] .text')
    page.wait("([sel, text]) => document.querySelector(sel)?.textContent === text",
              [f'.bubble.assistant[data-turn-id="{transcript["turn_id"]}"] .text', reply])
    page.wait("() => window.voicechat.playedSamples > 0.5 * window.voicechat.sampleRate")
    assert page.js("window.voicechat.state") == "speaking"

    # Played to the end: a final playback report with done, and the timings under the reply.
    done = page.wait_for_event("turn.done", turn_id=transcript["turn_id"])
    assert done["status"] == "completed"
    final = page.wait(
        "id => window.voicechat.sent.find(e => e.type === 'playback' && e.turn_id === id && e.done) || null",
        transcript["turn_id"], timeout_s=30)
    assert abs(final["played_ms"] - done["audio_ms"]) <= 50, (final, done["audio_ms"])
    periodic = [e for e in page.sent("playback") if not e.get("done")]
    assert periodic, "playback is reported while it plays"
    page.wait_for_state("ready")
    meta = page.page.locator(f'.bubble.assistant[data-turn-id="{transcript["turn_id"]}"] .meta').inner_text()
    assert re.search(r"transcript \d", meta) and "first audio" in meta, meta
    assert assistant.inner_text() == reply
    page.page.screenshot(path=str(artifacts / "browser-after-turn.png"))
    page.page.set_viewport_size({"width": 390, "height": 844})
    page.page.emulate_media(color_scheme="dark")
    page.page.screenshot(path=str(artifacts / "browser-after-turn-phone-dark.png"))
    assert not page.errors


def wait_audio_clock(page: PageUnderTest, seconds: float) -> None:
    """Let the page's audio clock run on by `seconds` (a condition on the clock, not a sleep)."""
    start = page.js("window.voicechat.audioTime")
    page.wait("t => window.voicechat.audioTime >= t", start + seconds, timeout_s=10)


def assert_stop_reported(page: PageUnderTest, turn_id: str, played_samples: int) -> None:
    """After a stop the page's last report for the turn says what the worklet really played of it, and
    nothing is reported as finished."""
    reports = [e for e in page.sent("playback") if e["turn_id"] == turn_id]
    assert reports and not any(e.get("done") for e in reports), reports
    last = reports[-1]
    assert last["played_ms"] == max(e["played_ms"] for e in reports)
    rate = page.js("window.voicechat.sampleRate")
    assert abs(last["played_ms"] - played_samples / rate * 1000) <= 2, (last, played_samples, rate)
    assert last["played_ms"] > 500


def assert_server_kept_only_the_heard_part(page: PageUnderTest, turn_id: str, reason: str) -> None:
    """The turn ends interrupted. Its turn.done says so when the stop came while the reply was still being
    made; when all of it had been made already (turn.done `completed`), the history shows it."""
    done = page.wait_for_event("turn.done", turn_id=turn_id)
    if done["status"] == "interrupted":
        assert done["reason"] == reason
    else:
        assert done["status"] == "completed"
    page.js("() => window.voicechat.send({type: 'conversation.get'})")
    history = page.wait_for_event("conversation")["messages"]
    heard = next(m for m in history if m["role"] == "assistant" and m["turn_id"] == turn_id)
    full = "".join(e["delta"] for e in page.js("window.voicechat.events")
                   if e["type"] == "reply.text.delta" and e["turn_id"] == turn_id)
    assert heard.get("status") == "interrupted", heard
    assert 0 < len(heard["content"]) < len(full) / 4, (heard, len(full))
    # The bubble fades what was not heard, and says why.
    bubble = page.page.locator(f'.bubble.assistant[data-turn-id="{turn_id}"]')
    assert bubble.get_attribute("data-status") == "interrupted"
    assert bubble.locator(".unheard").inner_text().strip()
    assert ("stopped" if reason == "cancel" else "interrupted") in bubble.locator(".meta").inner_text()


def test_space_to_talk_and_stop_button_cut_a_long_reply(make_page, server, fake_chat, speech_file):
    fake_chat.mode = "long"
    page = make_page(server.http + "/")
    page.open()
    hold_to_talk(page, speech_file, key=True)
    transcript = page.wait_for_event("transcript")
    assert wer(speech_file.text, transcript["text"]) <= MAX_WER, transcript["text"]
    page.wait("() => window.voicechat.playedSamples > 1.0 * window.voicechat.sampleRate")

    page.page.get_by_role("button", name="Stop").click()
    turn_id = transcript["turn_id"]
    assert page.sent("reply.cancel")
    stop = page.wait_for_event("reply.stop", turn_id=turn_id)
    assert stop["reason"] == "cancel"
    page.wait_for_state("ready")

    # Silence from here on: the played-sample counter does not move while the audio clock runs.
    played = page.js("window.voicechat.playedSamples")
    wait_audio_clock(page, 0.6)
    assert page.js("window.voicechat.playedSamples") == played
    assert_stop_reported(page, turn_id, played)
    assert_server_kept_only_the_heard_part(page, turn_id, "cancel")
    assert not page.errors


def test_hands_free_takes_a_turn_and_barge_in_stops_playback(make_page, server, fake_chat,
                                                             speech_file):
    fake_chat.mode = "long"
    page = make_page(server.http + "/")
    # Hands-free chosen earlier (saved in this browser): after a reload the page just listens.
    page.page.goto(server.http + "/")
    page.js("localStorage.setItem('voicechat.settings', JSON.stringify({mode: 'vad'}))")
    page.open()
    updated = page.wait("() => window.voicechat.session?.turn_mode === 'vad' && window.voicechat.session")
    assert updated["turn_mode"] == "vad"

    # No click anywhere: the server's VAD ends the utterance and the reply plays. (The first reply to
    # play is followed: on a very busy machine a turn may be barged in on while still transcribing.)
    turn_id = page.wait_for_event("reply.audio.start", timeout_s=60)["turn_id"]
    transcript = page.wait_for_event("transcript", turn_id=turn_id)
    assert wer(speech_file.text, transcript["text"]) <= MAX_WER, transcript["text"]
    # While the sentence was being spoken, the words heard so far showed up (then the final replaced them).
    partial = page.wait_for_event("transcript.partial")
    assert partial["text"].split()[0].lower() == transcript["text"].split()[0].lower(), partial
    final_bubble = "id => document.querySelector(`.bubble.user[data-turn-id='${id}']`)?.className"
    assert "partial" not in page.js(final_bubble, turn_id)
    page.wait("() => window.voicechat.playedSamples > 0.5 * window.voicechat.sampleRate")

    # The fake microphone loops: the sentence comes again while the long reply plays, and barges in.
    stop = page.wait_for_event("reply.stop", turn_id=turn_id)
    fake_chat.mode = "ok"  # the interrupting sentence's reply need not be long (it runs on past the test)
    assert stop["reason"] == "barge_in"
    # Counted per turn in the worklet: the interrupting sentence's own reply may already be playing.
    played = page.js("id => window.voicechat.playedSamplesByTurn[id]", turn_id)
    wait_audio_clock(page, 0.5)
    assert page.js("id => window.voicechat.playedSamplesByTurn[id]", turn_id) == played, "stopped at once"
    assert_stop_reported(page, turn_id, played)
    assert_server_kept_only_the_heard_part(page, turn_id, "barge_in")
    assert not page.sent("input.commit"), "hands-free never commits: the server's VAD ends utterances"
    assert not page.errors


def test_pressing_talk_during_a_reply_stops_it(make_page, server, fake_chat, speech_file):
    fake_chat.mode = "long"
    page = make_page(server.http + "/")
    page.open()
    hold_to_talk(page, speech_file)
    turn_id = page.wait_for_event("transcript")["turn_id"]
    page.wait("() => window.voicechat.playedSamples > 0.8 * window.voicechat.sampleRate")

    page.page.locator("#talk").hover()
    page.page.mouse.down()  # talking over the assistant
    page.wait("() => window.voicechat.state === 'listening'")
    page.wait("id => window.voicechat.sent.some(e => e.type === 'playback' && e.turn_id === id)"
              " && window.voicechat.sent.some(e => e.type === 'reply.cancel')", turn_id)
    played = page.js("window.voicechat.playedSamples")
    wait_audio_clock(page, 0.5)
    assert page.js("window.voicechat.playedSamples") == played
    page.page.mouse.up()
    assert_stop_reported(page, turn_id, played)
    assert_server_kept_only_the_heard_part(page, turn_id, "cancel")
    assert not page.errors


def test_settings_persist_across_reload(make_page, server):
    page = make_page(server.http + "/")
    page.silent_microphone()  # hands-free below: no turn may start while settings change
    page.open()
    page.page.get_by_role("button", name="Settings").click()
    page.page.get_by_label("Language").fill("de")
    page.page.get_by_label("Voice").fill("de")
    page.page.get_by_label("System prompt").fill("You are a terse pirate.")
    page.page.get_by_role("button", name="Save").click()
    page.wait("() => window.voicechat.session.language === 'de'")
    page.page.get_by_role("radio", name="Hands-free").check()
    page.wait("() => window.voicechat.session.turn_mode === 'vad'")

    page.page.reload()
    page.wait_for_state("ready")
    # The page's own update, not `ready`: a resumed session's `ready` already says hands-free (the stored
    # conversation's mode) but the server's language, until the page's session.update is answered.
    session = page.wait_for_event("session.updated")["session"]
    assert (session["turn_mode"], session["language"], session["voice"], session["system_prompt"]) == (
        "vad", "de", "de", "You are a terse pirate.")
    assert page.page.get_by_role("radio", name="Hands-free").is_checked()
    page.page.get_by_role("button", name="Settings").click()
    assert page.page.get_by_label("Language").input_value() == "de"
    assert page.page.get_by_label("Voice").input_value() == "de"
    assert page.page.get_by_label("System prompt").input_value() == "You are a terse pirate."

    # Back to the server's defaults: cleared fields are sent as the defaults from `ready`.
    page.page.get_by_role("button", name="Use server defaults").click()
    page.page.get_by_role("button", name="Save").click()
    defaults = page.wait_for_event("ready")["session"]
    page.wait("lang => window.voicechat.session.language === lang", defaults["language"])
    assert page.js("window.voicechat.session.system_prompt") == defaults["system_prompt"]
    assert page.js("JSON.parse(localStorage.getItem('voicechat.settings')).language") == ""
    assert not page.errors


PIXEL = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='64' height='64'%3E"
         "%3Crect width='64' height='64' fill='%2367a'/%3E%3C/svg%3E")
GRID_BUTTONS = [{"label": f"{kind}{n}", "custom_id": f"MJ::JOB::{kind.lower()}sample::{n}::abc"}
                for kind in ("U", "V") for n in range(1, 5)]
GRID_BUTTONS.append({"label": "🔄", "custom_id": "MJ::JOB::reroll::0::abc::SOLO"})


def test_media_panel_renders_jobs_and_sends_actions(make_page, server, artifacts):
    page = make_page(server.http + "/", viewport={"width": 390, "height": 844})  # a phone
    page.open()
    assert page.page.locator("#media").is_hidden()

    def job(**fields):
        page.js("evt => window.voicechat.handleEvent(evt)", {"type": "media.job", **fields})

    job(id="img1", kind="image", status="running", progress=40, prompt="a lighthouse at dusk")
    card = page.page.locator('.media-card[data-job-id="img1"]')
    progress = card.get_by_role("progressbar")
    assert progress.get_attribute("aria-valuenow") == "40"
    assert card.locator(".media-status").inner_text() == "Working"

    job(id="img1", kind="image", status="succeeded", progress=100, prompt="a lighthouse at dusk",
        result_urls=[PIXEL], result={"buttons": GRID_BUTTONS})
    assert card.locator("img").get_attribute("alt").startswith("a lighthouse at dusk")
    page.wait("() => document.querySelector('.media-card[data-job-id=\"img1\"] img').complete")
    assert progress.is_hidden()
    labels = card.get_by_role("button").all_inner_texts()
    assert labels[:8] == ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"] and "Reroll" in labels[8]

    # The server's own shape: the job under `job`, with the update's name and a spoken line beside it.
    page.js("evt => window.voicechat.handleEvent(evt)", {
        "type": "media.job", "event": "succeeded", "message": "Your song is ready.",
        "job": {"id": "song", "kind": "music", "status": "succeeded", "prompt": "sea shanty",
                "result_urls": ["/song.mp3"]}})
    job(id="clip", kind="video", status="succeeded", prompt="waves", result_urls=["https://example.invalid/v.mp4"])
    job(id="bad", kind="video", status="failed", prompt="nope", error="The provider refused the prompt.")
    job(id="evil", kind="image", status="succeeded", result_urls=["javascript:alert(1)"])
    assert page.page.locator('.media-card[data-job-id="song"] audio').get_attribute("src") == "/song.mp3"
    assert page.page.locator('.media-card[data-job-id="clip"] video').count() == 1
    failed = page.page.locator('.media-card[data-job-id="bad"]')
    assert failed.get_by_role("alert").inner_text() == "The provider refused the prompt."
    assert page.page.locator('.media-card[data-job-id="evil"] img').count() == 0

    card.scroll_into_view_if_needed()
    card.get_by_role("button", name="Upscale picture 2").click()
    card.get_by_role("button", name="Variations of picture 4").click()
    actions = page.sent("media.action")
    assert actions == [
        {"type": "media.action", "job_id": "img1", "action": "upscale", "index": 2},
        {"type": "media.action", "job_id": "img1", "action": "variation", "index": 4},
    ]
    assert card.get_by_role("button", name="Upscale picture 2").is_disabled()  # no double orders
    page.page.screenshot(path=str(artifacts / "browser-media-phone.png"))
    assert not page.errors


TOKEN = "browser-test-token-0123456789"


def test_token_is_asked_for_once_and_kept(make_page, start_server, fake_chat):
    guarded = page_server(start_server, fake_chat, tokens=TOKEN)
    page = make_page(guarded.http + "/")
    page.page.goto(page.url)
    dialog = page.page.get_by_role("dialog", name="Access token")
    assert "needs an access token" in dialog.inner_text()
    dialog.get_by_label("Token").fill("not-the-token-at-all")
    dialog.get_by_role("button", name="Connect").click()
    page.wait("() => document.querySelector('#token-dialog').open"
              " && /did not accept/.test(document.querySelector('#token-message').textContent)")
    dialog.get_by_label("Token").fill(TOKEN)
    dialog.get_by_role("button", name="Connect").click()
    page.wait_for_state("ready")

    page.page.reload()  # kept: no second question
    page.wait_for_state("ready")
    assert not dialog.is_visible() and "auth" not in page.js("window.voicechat.stateLog")
    assert page.js("localStorage.getItem('voicechat.token')") == TOKEN
    assert page.page.locator("#banner").is_hidden()  # the media API took the token too
    assert not page.errors


def test_idle_disconnect_waits_for_the_user(make_page, start_server, fake_chat):
    sleepy = page_server(start_server, fake_chat, idle_timeout_s=1.5)
    page = make_page(sleepy.http + "/")
    page.open()
    page.wait_for_state("disconnected", timeout_s=10)  # the server let the silent connection go
    assert "without activity" in page.page.get_by_role("alert").inner_text()
    assert page.js("window.voicechat.events.filter(e => e.type === 'ready').length") == 1
    page.page.get_by_role("button", name="Reconnect to the server").click()
    page.wait("() => window.voicechat.events.filter(e => e.type === 'ready').length === 2")
    assert not page.errors


def test_connection_loss_reconnects_with_a_message(make_page, server):
    page = make_page(server.http + "/")
    sockets: list = []

    def door(ws) -> None:
        sockets.append(ws)
        if len(sockets) == 2:
            ws.close(code=1011, reason="restarting")  # the first retry fails too
        else:
            ws.connect_to_server()

    page.page.route_web_socket(re.compile(r"/ws(\?.*)?$"), door)
    page.open()
    sockets[0].close(code=1012, reason="server restart")
    banner = "document.querySelector('#banner:not([hidden])')?.textContent"
    page.wait(f"() => /Reconnecting in \\d+ s/.test({banner})")
    page.wait("() => window.voicechat.state === 'ready'", timeout_s=20)
    assert "reconnecting" in page.js("window.voicechat.stateLog")
    assert len(sockets) == 3
    assert page.page.get_by_text("Reconnected.").is_visible()
    assert page.page.locator("#banner").is_hidden()
    assert not page.errors


def test_denied_microphone_is_explained(make_page, server):
    page = make_page(server.http + "/")
    page.page.add_init_script("""
        navigator.mediaDevices.getUserMedia = () =>
            Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
    """)
    page.open()
    page.page.get_by_role("button", name=re.compile("Push to talk")).hover()
    page.page.mouse.down()
    page.page.mouse.up()
    page.wait_for_state("error")
    banner = page.page.get_by_role("alert").filter(has_text="Microphone access was denied")
    assert banner.is_visible()
    assert page.page.locator("#status-text").inner_text() == "Microphone unavailable"
    assert page.js("window.voicechat.sentBytes") == 0
    assert not page.errors


def test_insecure_page_is_explained(make_page, server):
    # Over plain http from another host, browsers hide AudioWorklet and getUserMedia; simulated here.
    page = make_page(server.http + "/")
    page.page.add_init_script("""
        Object.defineProperty(BaseAudioContext.prototype, 'audioWorklet', {get: () => undefined});
        Object.defineProperty(window, 'isSecureContext', {get: () => false});
    """)
    page.open()
    assert page.page.get_by_role("alert").filter(has_text="HTTPS").is_visible()
    page.page.get_by_role("button", name=re.compile("Push to talk")).hover()
    page.page.mouse.down()
    page.page.mouse.up()
    page.wait_for_state("error")
    assert not page.errors


def test_refused_origin_is_explained_and_not_retried(make_page, server):
    page = make_page(server.http + "/")
    sockets: list = []

    def door(ws) -> None:
        sockets.append(ws)
        if len(sockets) == 1:
            ws.close(code=4403, reason="forbidden origin")
        else:
            ws.connect_to_server()

    page.page.route_web_socket(re.compile(r"/ws(\?.*)?$"), door)
    page.page.goto(page.url)
    page.wait_for_state("disconnected")
    alert = page.page.get_by_role("alert")
    assert "allowed origins" in alert.inner_text()
    alert.get_by_role("button", name="Try again").click()
    page.wait_for_state("ready")
    assert len(sockets) == 2
    assert not page.errors


def test_the_wake_word_is_chosen_in_settings_and_the_page_says_what_to_say(make_page, server):
    page = make_page(server.http + "/")
    # Silence: with the looping sentence the status could read "Hearing you…" or "Speaking" at any of the
    # checks below, and on a slow machine a turn could run into the next loop with no "Listening" between.
    page.silent_microphone()
    page.open()
    page.page.get_by_role("radio", name="Hands-free").check()
    page.wait("() => window.voicechat.session.turn_mode === 'vad'")
    page.wait("() => document.querySelector('#status-text').textContent === 'Listening for speech'")
    page.wait("() => window.voicechat.sentBytes > 16000")  # the (silent) microphone streams meanwhile

    page.page.get_by_role("button", name="Settings").click()
    page.page.get_by_label("Wake word").select_option("hey_jarvis")
    page.page.get_by_role("button", name="Save").click()
    page.wait("() => window.voicechat.session.wake_word === 'hey_jarvis'")
    page.wait("() => document.querySelector('#status-text').textContent === 'Say “Hey Jarvis” to talk'")

    page.page.reload()  # kept in this browser, and sent again to the new session
    page.wait_for_state("ready")
    page.wait("() => window.voicechat.session.wake_word === 'hey_jarvis'")
    page.page.get_by_role("button", name="Settings").click()
    assert page.page.get_by_label("Wake word").input_value() == "hey_jarvis"
    page.page.get_by_label("Wake word").select_option("off")
    page.page.get_by_role("button", name="Save").click()
    page.wait("() => window.voicechat.session.wake_word === null")
    page.wait("() => document.querySelector('#status-text').textContent === 'Listening for speech'")
    assert not [e for e in page.js("window.voicechat.events") if e["type"] == "speech.started"]
    assert not page.errors
