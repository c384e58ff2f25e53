"""The router on requests that work on pictures: blend, face swap, describe, dance, picture to video,
"again" on them, in English and Chinese; and the chat that must stay chat."""

from __future__ import annotations

import pytest

from voicechat.media.jobs import Job, JobStatus, MediaKind
from voicechat.media.pictures import match_template, refusal
from voicechat.media.router import route
from voicechat.media.routes import ChatRoute, MediaRoute, RepeatRoute
from voicechat.media.tools import route_from_tool_call

IMAGE, VIDEO = MediaKind.IMAGE, MediaKind.VIDEO


@pytest.mark.parametrize(
    ("text", "uses", "kind", "provider", "action"),
    [
        ("Blend these two pictures together.", "blend", IMAGE, "midjourney", "blend"),
        ("Please merge the images.", "blend", IMAGE, "midjourney", "blend"),
        ("blend them", "blend", IMAGE, "midjourney", "blend"),
        ("Combine these three photos into one.", "blend", IMAGE, "midjourney", "blend"),
        ("把这两张图融合", "blend", IMAGE, "midjourney", "blend"),
        ("帮我把这几张照片合成一张", "blend", IMAGE, "midjourney", "blend"),
        ("把這兩張圖融合", "blend", IMAGE, "midjourney", "blend"),  # whisper writes traditional now and then
        ("讓這個人跳機器人舞", "dance", VIDEO, "viggle", "generate"),
        (
            "Put the face from the first picture onto the second one.",
            "face_swap",
            IMAGE,
            "midjourney",
            "face_swap",
        ),
        ("Swap the faces.", "face_swap", IMAGE, "midjourney", "face_swap"),
        ("Face swap, please.", "face_swap", IMAGE, "midjourney", "face_swap"),
        ("换脸", "face_swap", IMAGE, "midjourney", "face_swap"),
        ("Describe this picture.", "describe", IMAGE, "midjourney", "describe"),
        ("描述一下这张图片", "describe", IMAGE, "midjourney", "describe"),
        ("Make this person dance like the robot dance.", "dance", VIDEO, "viggle", "generate"),
        ("Make her dance.", "dance", VIDEO, "viggle", "generate"),
        ("让这个人跳机器人舞", "dance", VIDEO, "viggle", "generate"),
        ("Turn this picture into a video.", "animate", VIDEO, None, "generate"),
        ("Turn this picture into a video with Runway.", "animate", VIDEO, "runway", "generate"),
        ("Animate this photo with Kling.", "animate", VIDEO, "kling", "generate"),
        ("Make a video from this picture with Luma.", "animate", VIDEO, "luma", "generate"),
        ("用可灵把这张图做成视频", "animate", VIDEO, "kling", "generate"),
        ("让这张照片动起来", "animate", VIDEO, None, "generate"),
    ],
)
def test_requests_on_pictures(text, uses, kind, provider, action):
    routed = route(text)
    assert isinstance(routed, MediaRoute), text
    assert (routed.uses_pictures, routed.kind, routed.provider_hint, routed.action) == (
        uses,
        kind,
        provider,
        action,
    )
    assert routed.to_request().action == (action if action != "generate" else "generate")


def test_details_of_picture_requests():
    assert route("put the face from the second picture onto the first").options["face_from"] == 2
    assert route("Put my face on the second picture.").options["face_from"] == 1
    assert route("把第二张图的脸换到第一张上").options["face_from"] == 2
    dance = route("make this person dance like the robot dance")
    assert dance.prompt == "robot dance" and dance.options["template"] == "robot dance"
    video = route("make a video from this picture where the sun sets")
    assert video.prompt == "the sun sets"
    assert route("把这两张图融合").options["lang"] == "zh"


@pytest.mark.parametrize(
    "text",
    [
        "I blended two smoothies this morning.",
        "How do I blend two pictures in Photoshop?",
        "mix the paint",
        "What does face swap mean?",
        "My face hurts.",
        "Describe your favourite picture.",
        "Can you dance?",
        "I love watching people dance.",
        "怎么把两张图融合",
        "换脸软件安全吗",
        "这张图片是什么",
    ],
)
def test_talk_about_pictures_stays_chat(text):
    assert isinstance(route(text), ChatRoute), route(text)


def job(action: str, uses: str = "", created: float = 1.0, provider: str = "midjourney") -> Job:
    params = {"uses_pictures": uses, "images": ["data:image/png;base64,AAAA"]} if uses else {}
    kind = VIDEO if uses in ("dance", "animate") else IMAGE
    done = Job(kind=kind, provider=provider, action=action, params=params, created_at=created)
    done.status = JobStatus.SUCCEEDED
    return done


@pytest.mark.parametrize("text", ["again", "Another one like that.", "Do it again.", "one more", "再来一个"])
def test_again_repeats_the_last_request_on_pictures(text):
    swap = job("face_swap", "face_swap", created=2.0)
    grid = job("imagine", created=1.0)
    assert route(text, [grid, swap]) == RepeatRoute(swap.id)
    dance = job("generate", "dance", created=3.0, provider="viggle")
    assert route(text, [grid, swap, dance]) == RepeatRoute(dance.id)


def test_again_after_a_plain_picture_is_still_a_reroll():
    grid = job("imagine", created=3.0)
    swap = job("face_swap", "face_swap", created=2.0)
    routed = route("again", [grid, swap])
    assert not isinstance(routed, RepeatRoute) and routed.job_id == grid.id and routed.action == "reroll"


def test_animating_without_an_attachment_points_at_the_last_picture():
    picture = job("imagine", created=1.0)
    routed = route("Turn this picture into a video.", [picture])
    assert routed.source_job_id == picture.id and routed.uses_pictures == "animate"


def test_tool_call_on_pictures():
    routed = route_from_tool_call("use_pictures", '{"action": "face_swap", "face_from": 2}')
    assert (
        isinstance(routed, MediaRoute) and routed.action == "face_swap" and routed.options["face_from"] == 2
    )
    dance = route_from_tool_call("use_pictures", {"action": "dance", "template": "Robot Dance"})
    assert dance.provider_hint == "viggle" and dance.options["template"] == "Robot Dance"
    video = route_from_tool_call(
        "use_pictures", {"action": "animate", "provider": "Kling", "prompt": "waves"}
    )
    assert (video.kind, video.provider_hint, video.prompt) == (VIDEO, "kling", "waves")
    assert isinstance(route_from_tool_call("use_pictures", {"action": "explode"}), ChatRoute)


def test_what_each_action_needs():
    png = "data:image/png;base64,AAAA"
    assert refusal("blend", []) == "Attach two pictures first (up to five), then ask me to blend them."
    assert "only one picture" in refusal("blend", [png])
    assert refusal("blend", [png, png]) is None
    assert "exactly two pictures" in refusal("face_swap", [png] * 3) and "3" in refusal(
        "face_swap", [png] * 3
    )
    assert refusal("describe", [png, png]).startswith("I can describe one picture at a time")
    assert "GIF" in refusal("dance", ["data:image/gif;base64,R0lG"])
    assert refusal("animate", [], zh=True).startswith("请先上传一张图片")


def test_templates_by_spoken_name():
    templates = [{"id": "a", "description": "Hip Hop Groove"}, {"id": "b", "description": "Robot Dance"}]
    assert match_template("the robot dance", templates)["id"] == "b"
    assert match_template("机器人", templates)["id"] == "b"
    assert match_template("", templates)["id"] == "a"  # none named: the first listed
    assert match_template("tango", templates) is None
