"""Requests that work on pictures the user attached (or the last one made): blend, face swap, describe,
dance (Viggle) and picture-to-video, in English and Chinese.

Like the rest of the router these are rules, not a model, and conservative: the sentence must be the
request itself ("blend these two pictures", "把这两张图融合"), so talk *about* blending stays chat. Each
route carries `options["uses_pictures"]`, the bridge's cue to attach the pictures and to refuse, with a
sentence saying what is needed, when there are too few.
"""

from __future__ import annotations

import re
from typing import Any

from voicechat.media.jobs import MediaKind

_I = re.IGNORECASE

# What each action needs: (fewest, most) pictures, and where it runs when the user names no provider.
NEEDS: dict[str, tuple[int, int]] = {"blend": (2, 5), "face_swap": (2, 2), "describe": (1, 1),
                                     "dance": (1, 1), "animate": (1, 2)}  # fmt: skip
PROVIDER = {"blend": "midjourney", "face_swap": "midjourney", "describe": "midjourney", "dance": "viggle"}
ACTION = {"blend": "blend", "face_swap": "face_swap", "describe": "describe", "dance": "generate",
          "animate": "generate"}  # fmt: skip
KIND = {"blend": MediaKind.IMAGE, "face_swap": MediaKind.IMAGE, "describe": MediaKind.IMAGE,
        "dance": MediaKind.VIDEO, "animate": MediaKind.VIDEO}  # fmt: skip

_POLITE = (
    r"(?:(?:please|pls|can you|could you|would you|will you|i want you to|i'd like you to|go ahead and|"
    r"just|now)[\s,]+)*"
)
_PIC = r"(?:picture|pic|image|img|photo|photograph|selfie)s?"
_THIS = r"(?:this|that|the|my|these|those|our)"
_COUNT = r"(?:two|2|three|3|four|4|five|5|both|all)"
_ORDINAL = {"first": 1, "1st": 1, "one": 1, "1": 1, "second": 2, "2nd": 2, "two": 2, "2": 2,
            "一": 1, "二": 2, "两": 2}  # fmt: skip

_BLEND = re.compile(
    rf"^{_POLITE}(?:blend|merge|mix|combine|fuse|mash up)\s+(?:together\s+)?"
    rf"(?:them|{_THIS}(?:\s+{_COUNT})?(?:\s+of\s+{_THIS})?(?:\s+{_PIC}|\s+ones)?|{_COUNT}\s+{_PIC}|{_PIC})"
    r"(?:\s+(?:together|into one(?:\s+(?:picture|image))?))*$",
    _I,
)
_FACE_SWAP = re.compile(
    rf"^{_POLITE}(?:(?:do|make)\s+(?:a\s+)?)?(?:face[\s-]?swap|swap\s+(?:the\s+|our\s+|their\s+)?faces?)\b.*$|"
    rf"^{_POLITE}(?:put|swap|place|paste|move|stick)\s+(?:the|my|his|her|their|this|that|a)\s+face\b.*$",
    _I,
)
_FACE_FROM = re.compile(r"\bfrom\s+(?:the\s+)?(first|second|1st|2nd)\b", _I)
_FACE_TO = re.compile(r"\b(?:on|onto|into|in|to|over)\s+(?:the\s+)?(first|second|1st|2nd)\b", _I)
_DESCRIBE = re.compile(
    rf"^{_POLITE}(?:describe|write (?:a |the )?prompts? for|give me (?:a |the )?prompts? for)\s+"
    rf"(?:{_THIS}\s+)?{_PIC}$",
    _I,
)
_DANCER = (
    r"(?:person|guy|girl|man|woman|boy|lady|character|kid|child|baby|cat|dog|people|him|her|them|me|it|us)"
)
_DANCE = re.compile(
    rf"^{_POLITE}(?:make|let|have|get)\s+(?:{_THIS}\s+)?{_DANCER}"
    rf"(?:\s+(?:in|from|on)\s+{_THIS}\s+{_PIC})?\s+dance"
    r"(?:\s+(?:like|to|with|using|as|in)\s+(?:(?:the|a|an)\s+)?(?P<template>.+?))?$",
    _I,
)
_ANIMATE = [
    re.compile(
        rf"^{_POLITE}(?:turn|make|convert|change)\s+{_THIS}\s+{_PIC}\s+(?:into|to)\s+(?:a\s+)?"
        r"(?:video|clip|animation|movie)(?:\s+(?:of|where|with|showing|in which)\s+(?P<rest>.+))?$",
        _I,
    ),
    re.compile(
        rf"^{_POLITE}(?:animate|bring)\s+{_THIS}\s+{_PIC}(?:\s+to life)?"
        r"(?:\s+(?:so that|so|where|with|showing)\s+(?P<rest>.+))?$",
        _I,
    ),
    re.compile(
        rf"^{_POLITE}make\s+{_THIS}\s+{_PIC}\s+(?:move|come alive|come to life)(?:\s+(?P<rest>.+))?$", _I
    ),
    re.compile(
        rf"^{_POLITE}(?:make|create|generate)\s+(?:a\s+)?(?:video|clip|animation)\s+"
        rf"(?:from|of|out of|with)\s+{_THIS}\s+{_PIC}"
        r"(?:\s+(?:where|with|showing|of|in which)\s+(?P<rest>.+))?$",
        _I,
    ),
]

_ZH_POLITE = r"(?:请|麻烦|你)?(?:能不能|可不可以|可以|能)?(?:帮我|给我|为我|帮忙)?"
_ZH_QUESTION = re.compile(r"什么|怎么|如何|为什么|哪|技巧|教程|多少|吗$")
_ZH_PIC = r"(?:图片|图像|照片|相片|图|画)"
_ZH_BLEND = re.compile(rf"^{_ZH_POLITE}(?:把)?(?:这|那)?(?:两|几|[2-5二三四五])?(?:张|幅)?{_ZH_PIC}?"
                       rf"(?:融合|混合|合成|合并|融在一起)|^{_ZH_POLITE}(?:融合|混合|合成|合并)"
                       rf"(?:一下)?(?:这|那)?(?:两|几|[2-5二三四五])?(?:张|幅)?{_ZH_PIC}")  # fmt: skip
_ZH_FACE_SWAP = re.compile(
    rf"^{_ZH_POLITE}(?:(?:把|给)?(?:这|那)?(?:两张)?{_ZH_PIC}?)?(?:换脸|换个脸|换一下脸|换张脸)(?:一下)?$|"
    rf"^{_ZH_POLITE}把.{{0,12}}脸.{{0,12}}(?:换|放|贴|移)到.{{0,12}}$"
)
_ZH_FACE_FROM = re.compile(r"第([一二两12])张.{0,6}?(?:的|上的|里的)?脸")
_ZH_DESCRIBE = re.compile(
    rf"^{_ZH_POLITE}(?:描述|反推|解读|形容)(?:一下)?(?:这|那)?(?:张|幅|个)?{_ZH_PIC}(?:的?(?:提示词|内容))?$"
)
_ZH_DANCE = re.compile(
    rf"^{_ZH_POLITE}(?:让|叫)(?:这个|那个|图里的|图片里的|照片里的|图中的|照片中的)?"
    r"(?:人|他|她|它|他们|她们|小孩|孩子|猫|狗|角色)(?:来)?(?:跳|跳个|跳一段|跳起)(?P<template>.*?)(?:舞蹈|舞)?(?:吧)?$"
)
_ZH_ANIMATE = re.compile(
    rf"^{_ZH_POLITE}(?:把|让|将)?(?:这|那)(?:张|幅|个)?{_ZH_PIC}"
    r"(?:(?:做成|变成|生成|转成|转换成)(?:一段|一个|一条)?(?:视频|动画|短片)|动起来)(?P<rest>.*)$"
)


def _route(action: str, prompt: str = "", **options: Any) -> dict[str, Any]:
    return {"action": action, "prompt": prompt, "options": {"uses_pictures": action, **options}}


def english(text: str) -> dict[str, Any] | None:
    if _BLEND.match(text):
        return _route("blend")
    if _FACE_SWAP.match(text):
        source = _FACE_FROM.search(text)
        target = _FACE_TO.search(text)
        reverse = (source and _ORDINAL[source.group(1).lower()] == 2) or (
            target and _ORDINAL[target.group(1).lower()] == 1
        )
        return _route("face_swap", face_from=2 if reverse else 1)
    if _DESCRIBE.match(text):
        return _route("describe")
    match = _DANCE.match(text)
    if match:
        template = (match.group("template") or "").strip()
        return _route("dance", template, template=template)
    for pattern in _ANIMATE:
        match = pattern.match(text)
        if match:
            return _route("animate", (match.group("rest") or "").strip())
    return None


def chinese(text: str) -> dict[str, Any] | None:
    if _ZH_QUESTION.search(text):
        return None
    if _ZH_FACE_SWAP.match(text):
        source = _ZH_FACE_FROM.search(text)
        return _route("face_swap", face_from=_ORDINAL.get(source.group(1), 1) if source else 1, lang="zh")
    if _ZH_BLEND.match(text):
        return _route("blend", lang="zh")
    if _ZH_DESCRIBE.match(text):
        return _route("describe", lang="zh")
    match = _ZH_DANCE.match(text)
    if match:
        template = match.group("template").strip()
        return _route("dance", template, template=template, lang="zh")
    match = _ZH_ANIMATE.match(text)
    if match:
        return _route("animate", match.group("rest").strip(" ，,。"), lang="zh")
    return None


def picture_intent(text: str) -> dict[str, Any] | None:
    """{action, prompt, options} for a request on pictures, or None. `text` is already cleaned."""
    return chinese(text) if re.search(r"[\u4e00-\u9fff]", text) else english(text)


def kind_of(action: str) -> MediaKind:
    return KIND[action]
