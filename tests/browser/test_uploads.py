"""Pictures from the page, in headless Chromium against a real server and the fake media providers:
picked, dropped and pasted pictures are uploaded, shown as thumbnails, removable, attached with
`media.attach`, and go with the next request ("blend these two pictures together"); Viggle's dance
templates are listed and clicking one asks for that dance."""

from __future__ import annotations

import base64

import pytest

from tests.browser.conftest import page_server
from tests.fakes.media_routes import TINY_PNG
from tests.fakes.providers import FakeMediaServer, fake_media_service, shared_fake

FIRST, SECOND, THIRD = TINY_PNG, TINY_PNG + b"2", TINY_PNG + b"3"


@pytest.fixture
def fake() -> FakeMediaServer:
    return shared_fake()


@pytest.fixture
def media_page_server(start_server, fake_chat, fake, tmp_path):  # type: ignore[no-untyped-def]
    server = page_server(
        start_server, fake_chat, media=fake_media_service(fake, tmp_path, ("midjourney", "viggle"))
    )
    yield server
    server.thread.stop()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def hand_over(page, event: str, name: str, data: bytes, mime: str = "image/png") -> None:  # type: ignore[no-untyped-def]
    """A file dropped onto the page (`drop`) or pasted into it (`paste`), as the browser delivers them."""
    page.js(
        """([event, name, bytes, mime]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
            const init = { bubbles: true, cancelable: true };
            const fired = event === 'drop'
                ? new DragEvent('drop', { ...init, dataTransfer: transfer })
                : new ClipboardEvent('paste', { ...init, clipboardData: transfer });
            document.body.dispatchEvent(fired);
        }""",
        [event, name, list(data), mime],
    )


def ready_count(page) -> int:  # type: ignore[no-untyped-def]
    return page.js("() => document.querySelectorAll('.attachment[data-state=\"ready\"]').length")


def test_pick_drop_paste_remove_and_blend(make_page, media_page_server, fake, artifacts):
    page = make_page(media_page_server.http + "/")
    page.open()
    assert page.page.get_by_role("button", name="Attach pictures").is_visible()
    page.page.locator("[data-upload-input]").set_input_files(
        [
            {"name": "first.png", "mimeType": "image/png", "buffer": FIRST},
            {"name": "unwanted.png", "mimeType": "image/png", "buffer": THIRD},
        ]
    )
    page.wait("() => document.querySelectorAll('.attachment[data-state=\"ready\"]').length === 2")
    attached = page.wait_for_event("media.attached", count=2)
    assert attached["count"] == 2
    page.page.get_by_role("button", name="Remove unwanted.png").click()
    page.wait(
        "() => window.voicechat.sent.filter(e => e.type === 'media.attach').slice(-1)[0].upload_ids"
        ".length === 1"
    )
    hand_over(page, "drop", "dropped.png", SECOND)
    page.wait("() => document.querySelectorAll('.attachment[data-state=\"ready\"]').length === 2")
    ids = page.sent("media.attach")[-1]["upload_ids"]
    assert len(ids) == 2
    assert page.page.locator(".attachment img").first.get_attribute("alt") == "first.png"
    page.page.screenshot(path=str(artifacts / "browser-uploads.png"))

    hand_over(page, "paste", "notes.txt", b"hello", mime="text/plain")  # pasted text is not a picture
    page.page.locator("#text-input").fill("Blend these two pictures together.")
    page.page.locator("#text-form button").click()
    job = page.wait_for_event("media.job", event="succeeded", timeout_s=30)["job"]
    assert job["action"] == "blend"
    page.wait("() => document.querySelectorAll('.attachment').length === 0")  # the request took them
    assert fake.sent("/mj/submit/blend")[0].json["base64Array"] == [data_url(FIRST), data_url(SECOND)]

    hand_over(page, "paste", "pasted.png", THIRD)
    page.wait("() => document.querySelectorAll('.attachment[data-state=\"ready\"]').length === 1")
    assert not page.errors


def test_not_a_picture_is_explained_and_templates_are_listed(make_page, media_page_server, fake):
    page = make_page(media_page_server.http + "/")
    page.open()
    hand_over(page, "drop", "report.pdf", b"%PDF-1.4", mime="application/pdf")
    error = page.page.locator("[data-upload-error]")
    assert "report.pdf is not a picture" in error.inner_text()
    # A file that claims to be a PNG but is not: the server's answer is shown.
    hand_over(page, "drop", "fake.png", b"MZ\x90\x00 not a png")
    page.wait(
        "() => document.querySelector('[data-upload-error]').textContent.includes('could not be attached')"
    )
    assert "PNG, JPEG, GIF and WebP" in error.inner_text()
    assert page.page.locator(".attachment").count() == 0

    templates = page.page.locator("[data-templates]")
    page.wait("() => !document.querySelector('[data-templates]').hidden")
    templates.locator("summary").click()
    names = templates.locator(".template span").all_inner_texts()
    assert names == ["Hip Hop Groove", "Robot Dance", "Ballet Spin"]
    page.page.locator("[data-upload-input]").set_input_files(
        [{"name": "me.png", "mimeType": "image/png", "buffer": FIRST}]
    )
    page.wait("() => document.querySelectorAll('.attachment[data-state=\"ready\"]').length === 1")
    page.wait_for_event("media.attached", count=1)
    templates.get_by_role("button", name="Robot Dance").click()
    job = page.wait_for_event("media.job", event="succeeded", timeout_s=30)["job"]
    assert job["provider"] == "viggle"
    assert fake.sent("/viggle/video-task")[0].json["templateID"] == "tpl-robot"
    assert not page.errors
