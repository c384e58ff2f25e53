"""The pictures a request works on: how many each action takes, what to say when they are missing or
wrong, their order (which face goes where), and which Viggle dance template a spoken name means."""

from __future__ import annotations

import re
from typing import Any

from voicechat.media.picture_intents import NEEDS

# Said when the pictures do not fit: (none or too few, too many), English then Chinese.
_TOO_FEW = {
    "blend": ("Attach two pictures first (up to five), then ask me to blend them.",
              "请先上传两张图片（最多五张），再让我融合。"),
    "face_swap": ("Attach two pictures first: the face, then the picture to put it on.",
                  "请先上传两张图片：第一张是脸，第二张是要换上这张脸的图。"),
    "describe": ("Attach a picture first, then ask me to describe it.", "请先上传一张图片，再让我描述。"),
    "dance": ("Attach a picture of the person first, then ask me to make them dance.",
              "请先上传一张人物照片，再让我让他跳舞。"),
    "animate": ("Attach a picture first (or draw one), then ask me to turn it into a video.",
                "请先上传一张图片（或者先画一张），再让我把它做成视频。"),
}  # fmt: skip
_TOO_MANY = {
    "blend": ("I can blend at most five pictures; you attached {n}.",
              "最多只能融合五张图片，你上传了{n}张。"),
    "face_swap": ("A face swap takes exactly two pictures, the face and the picture to put it on; "
                  "you attached {n}.", "换脸只需要两张图片：脸和要换脸的图，你上传了{n}张。"),
    "describe": ("I can describe one picture at a time; you attached {n}.",
                 "我一次只能描述一张图片，你上传了{n}张。"),
    "dance": ("Viggle makes the person in one picture dance; attach just one, you attached {n}.",
              "Viggle 一次只能让一张照片里的人跳舞，你上传了{n}张。"),
    "animate": ("A video starts from one picture, and may end on a second; you attached {n}.",
                "视频最多用两张图片：开头和结尾，你上传了{n}张。"),
}  # fmt: skip
_ONE_SHORT = ("I have only one picture; attach at least two to blend them.",
              "只有一张图片，至少要两张才能融合。")  # fmt: skip
_GIF = ("An animated GIF can't be used here; attach a PNG, JPEG or WebP picture instead.",
        "不能使用 GIF 动图，请上传 PNG、JPEG 或 WebP 图片。")  # fmt: skip


def refusal(action: str, images: list[str], zh: bool = False) -> str | None:
    """What to say when `images` do not suit `action` (None: they do)."""
    fewest, most = NEEDS[action]
    n = len(images)
    pick = 1 if zh else 0
    if n < fewest:
        return _ONE_SHORT[pick] if action == "blend" and n == 1 else _TOO_FEW[action][pick]
    if n > most:
        return _TOO_MANY[action][pick].format(n=n)
    if any(image.startswith("data:image/gif") for image in images):
        return _GIF[pick]
    return None


def arrange(action: str, images: list[str], options: dict[str, Any]) -> list[str]:
    """The pictures in the order the provider wants: for a face swap, the face first."""
    if action == "face_swap" and options.get("face_from") == 2:
        return [images[1], images[0]]
    return list(images)


# Spoken Chinese names of common dances -> words in template names.
_ZH_DANCES = {"机器人": "robot", "街舞": "hip hop", "芭蕾": "ballet", "僵尸": "zombie", "拉丁": "latin",
              "迪斯科": "disco", "太空步": "moonwalk", "广场": "square"}  # fmt: skip


def _words(text: str) -> set[str]:
    for zh, en in _ZH_DANCES.items():
        text = text.replace(zh, f" {en} ")
    words = set(re.findall(r"[a-z0-9]+", text.lower()))
    return words - {"the", "a", "an", "dance", "dancing", "move", "moves", "like", "one"}


def template_name(template: dict[str, Any]) -> str:
    """How a template is named to the user (the reference UI shows `description`)."""
    name = str(template.get("description") or template.get("command") or template.get("id") or "")
    return name.strip().lstrip("/")


def match_template(spoken: str, templates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The template whose name shares the most words with what was said; the first one if none was named."""
    if not templates:
        return None
    wanted = _words(spoken)
    if not wanted:
        return templates[0]
    scored = [(len(wanted & _words(f"{template_name(t)} {t.get('command', '')}")), t) for t in templates]
    best, template = max(scored, key=lambda pair: pair[0])
    return template if best else None
