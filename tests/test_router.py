"""The media-intent router: English and Chinese requests, clean prompts, follow-ups, and lots of chat."""

from __future__ import annotations

import json

import pytest

from voicechat.media.jobs import Job, JobStatus, MediaKind
from voicechat.media.router import route
from voicechat.media.routes import ActionRoute, ChatRoute, MediaRoute
from voicechat.media.tools import MEDIA_TOOLS, route_from_tool_call

IMAGE, MUSIC, VIDEO = MediaKind.IMAGE, MediaKind.MUSIC, MediaKind.VIDEO


def grid(created_at: float = 100.0, buttons: bool = True, **fields) -> Job:
    result = {
        "buttons": [{"label": f"U{i}", "custom_id": f"MJ::JOB::upsample::{i}::h"} for i in range(1, 5)]
        + [{"label": f"V{i}", "custom_id": f"MJ::JOB::variation::{i}::h"} for i in range(1, 5)]
    }
    return Job(
        kind=IMAGE,
        provider="midjourney",
        action="imagine",
        prompt="a fox",
        status=JobStatus.SUCCEEDED,
        created_at=created_at,
        result=result if buttons else {"buttons": []},
        **fields,
    )


@pytest.mark.parametrize(
    ("text", "kind", "prompt"),
    [
        ("draw me a fox in the snow", IMAGE, "a fox in the snow"),
        (
            "Please draw a picture of a red fox sleeping in the snow, please.",
            IMAGE,
            "a red fox sleeping in the snow",
        ),
        ("Okay, draw a cat wearing a hat for me", IMAGE, "a cat wearing a hat"),
        (
            "can you paint a watercolor painting of a lighthouse?",
            IMAGE,
            "a watercolor painting of a lighthouse",
        ),
        ("paint a sunset over the sea", IMAGE, "a sunset over the sea"),
        ("sketch a dragon", IMAGE, "a dragon"),
        ("generate an image of a castle on a hill", IMAGE, "a castle on a hill"),
        ("create a picture: a robot reading a book", IMAGE, "a robot reading a book"),
        ("make me a logo for my bakery", IMAGE, "a logo for my bakery"),
        ("show me a picture of a cat on the moon", IMAGE, "a cat on the moon"),
        ("a picture of a lighthouse at night", IMAGE, "a lighthouse at night"),
        ("I'd like an image of two owls, thanks", IMAGE, "two owls"),
        ("make a song about Sunday", MUSIC, "a song about Sunday"),
        ("compose a song about the sea", MUSIC, "a song about the sea"),
        ("write me a jazzy song about Sunday mornings please", MUSIC, "a jazzy song about Sunday mornings"),
        ("sing me a lullaby", MUSIC, "a lullaby"),
        ("make some music for my party", MUSIC, "some music for my party"),
        ("a video of a sunrise", VIDEO, "a sunrise"),
        ("make a video of a sunrise over the sea", VIDEO, "a sunrise over the sea"),
        ("generate a short animation of a cat dancing", VIDEO, "a short animation of a cat dancing"),
        ("animate a paper boat on a river", VIDEO, "a paper boat on a river"),
        ("画一张雪地里的狐狸", IMAGE, "雪地里的狐狸"),
        ("画一个苹果", IMAGE, "一个苹果"),
        ("请帮我画一只猫吧", IMAGE, "一只猫"),
        ("能帮我画一只柯基吗？", IMAGE, "一只柯基"),
        ("生成图片：一只猫", IMAGE, "一只猫"),
        ("生成一张日落的图片", IMAGE, "日落"),
        ("我想要一张海边小屋的照片", IMAGE, "海边小屋"),
        ("生成视频：日出", VIDEO, "日出"),
        ("生成一段日出的视频", VIDEO, "日出"),
        ("做一个关于日出的视频", VIDEO, "日出"),
        ("做一个视频", VIDEO, ""),
        ("来一首歌", MUSIC, "一首歌"),
        ("写一首关于周日的歌", MUSIC, "一首关于周日的歌"),
        ("来一首摇滚", MUSIC, "一首摇滚"),
    ],
)
def test_media_requests(text, kind, prompt):
    assert route(text, []) == MediaRoute(kind, prompt)


@pytest.mark.parametrize(
    ("text", "kind", "prompt", "hint"),
    [
        ("draw a fox with Midjourney", IMAGE, "a fox", "midjourney"),
        ("Midjourney, draw a cat astronaut", IMAGE, "a cat astronaut", "midjourney"),
        ("draw a fox using dall-e", IMAGE, "a fox", "openai"),
        ("make a video of a sunrise over the sea with kling", VIDEO, "a sunrise over the sea", "kling"),
        ("make a song about rain on suno", MUSIC, "a song about rain", "suno"),
        ("用可灵生成一段视频：海边日落", VIDEO, "海边日落", "kling"),
    ],
)
def test_provider_hints(text, kind, prompt, hint):
    assert route(text, []) == MediaRoute(kind, prompt, hint)


@pytest.mark.parametrize(
    "text",
    [
        "what's a good picture frame size?",
        "tell me about the video game Halo",
        "I painted my fence yesterday",
        "can you draw conclusions from this data?",
        "draw the curtains please",
        "paint my room blue",
        "how do I draw a fox?",
        "what's your favourite song?",
        "play a song",
        "who wrote the song Yesterday?",
        "make a video call to mom",
        "make a picture frame",
        "I want a picture frame",
        "write a story about a song",
        "write a list of songs for my wedding",
        "nice picture of you",
        "that video was funny",
        "I need a photo of my passport for the visa, what size?",
        "the picture of Dorian Gray is a novel",
        "make a playlist of sad songs",
        "draw",
        "say that again",
        "one more thing, what time is it?",
        "again",  # no picture to redo yet
        "upscale the second one",  # no picture yet either
        "",
        "画画有什么技巧",
        "我昨天画了一幅画",
        "这首歌叫什么名字",
        "生成一个计划",
        "做一个图表",
        "写一首诗",
        "我在看视频",
        "推荐几个视频",
        "视频怎么剪辑",
    ],
)
def test_ordinary_chat_stays_chat(text):
    assert route(text, []) == ChatRoute(text)


@pytest.mark.parametrize(
    ("text", "action", "index"),
    [
        ("upscale the second one", "upscale", 2),
        ("Upscale, the second one.", "upscale", 2),  # whisper punctuates the pause
        ("Upscale number 3 please", "upscale", 3),
        ("upscale the first image", "upscale", 1),
        ("make the fourth one bigger", "upscale", 4),
        ("U2", "upscale", 2),
        ("another variation of number three", "variation", 3),
        ("give me variations of the 2nd one", "variation", 2),
        ("vary number one", "variation", 1),
        ("v4", "variation", 4),
        ("again", "reroll", 0),
        ("one more", "reroll", 0),
        ("reroll", "reroll", 0),
        ("do it again please", "reroll", 0),
        ("放大第二张", "upscale", 2),
        ("把第4张放大", "upscale", 4),
        ("第三张变体", "variation", 3),
        ("重新生成", "reroll", 0),
        ("换一批", "reroll", 0),
    ],
)
def test_follow_ups_on_the_latest_grid(text, action, index):
    older, latest = grid(created_at=1.0), grid(created_at=2.0)
    assert route(text, [latest, older]) == ActionRoute(latest.id, action, index)
    assert route(text, [older, latest]) == ActionRoute(latest.id, action, index)


def test_follow_ups_skip_upscales_and_unfinished_jobs():
    target = grid(created_at=1.0)
    upscale = Job(
        kind=IMAGE,
        provider="midjourney",
        action="upscale",
        status=JobStatus.SUCCEEDED,
        created_at=2.0,
        result={"buttons": [{"label": "Vary (Strong)", "custom_id": "MJ::JOB::variation::1::h::SOLO"}]},
    )
    running = Job(
        kind=IMAGE, provider="midjourney", action="imagine", status=JobStatus.RUNNING, created_at=3.0
    )
    dalle = Job(kind=IMAGE, provider="openai", action="imagine", status=JobStatus.SUCCEEDED, created_at=4.0)
    assert route("upscale the second one", [target, upscale, running, dalle]) == ActionRoute(
        target.id, "upscale", 2
    )
    assert route("upscale the second one", [dalle]) == ChatRoute("upscale the second one")


def test_open_source_proxy_grids_have_no_buttons_but_still_count():
    plain = grid(buttons=False)
    assert route("upscale 1", [plain]) == ActionRoute(plain.id, "upscale", 1)


def test_animate_a_previous_picture():
    picture = grid()
    assert route("animate the second one", [picture]) == MediaRoute(
        VIDEO, "a fox", source_job_id=picture.id, source_index=2
    )
    assert route("把它做成视频", [picture]) == MediaRoute(VIDEO, "a fox", source_job_id=picture.id)
    assert route("animate it", []) == ChatRoute("animate it")


def test_tool_schema_and_tool_calls():
    names = [tool["function"]["name"] for tool in MEDIA_TOOLS]
    assert names == ["generate_image", "generate_music", "generate_video", "act_on_media", "use_pictures"]
    for tool in MEDIA_TOOLS:
        assert tool["type"] == "function" and tool["function"]["parameters"]["type"] == "object"
        json.dumps(tool)
    call = route_from_tool_call(
        "generate_music",
        json.dumps({"prompt": "a song about rain", "instrumental": True, "provider": "Suno"}),
    )
    assert call == MediaRoute(MUSIC, "a song about rain", "suno", {"instrumental": True})
    assert call.to_request().options == {"instrumental": True} and call.to_request().provider == "suno"
    latest = grid()
    assert route_from_tool_call("act_on_media", {"action": "upscale", "index": 2}, [latest]) == ActionRoute(
        latest.id, "upscale", 2
    )
    assert route_from_tool_call("act_on_media", {"action": "upscale", "index": 2}, []) == ChatRoute("")
