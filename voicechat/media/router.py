"""Deterministic media-intent router: does this utterance ask for a picture, a song, a video, or a
follow-up on a Midjourney grid, or is it ordinary chat?

Rules, not a model: it runs on every transcript, so it must be instant and predictable. It is
deliberately conservative (anything unclear stays chat; the chat model can still call `MEDIA_TOOLS`).
A request must *start* with a making verb ("draw…", "make a song about…", "画一只…"), so talk
about pictures, songs and videos ("I painted my fence", "what's a good picture frame size?") stays chat.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from voicechat.media import picture_intents
from voicechat.media.jobs import Job, JobStatus, MediaKind
from voicechat.media.routes import ActionRoute, ChatRoute, MediaRoute, RepeatRoute, Route

_I = re.IGNORECASE

# -- shared pieces ---------------------------------------------------------------------------------

_FILLER = re.compile(r"^(?:(?:ok(?:ay)?|hey|hi|so|um+|uh+|well|alright|all right|oh|and|now)\b[\s,.!]*)+", _I)
_POLITE = (
    r"(?:(?:please|pls|kindly|can you|could you|would you|will you|would you mind|can u|i want you to|"
    r"i'd like you to|i would like you to|go ahead and|try to|just|quickly|now)[\s,]+)*"
)
_REQUEST = (
    r"(?:i want|i'd like|i would like|i wanna|give me|get me|show me|let me see|let's have|"
    r"let's see|can i (?:get|have|see)|could i (?:get|have|see)|may i (?:have|see)|how about)\s+"
)
_ARTICLE = r"(?:(?:a|an|some|one|another|the)\s+)?"
# Words that may stand between the article and the noun ("a jazzy, upbeat song"); function words and
# other artefacts are excluded so "write a story about a song" is not a song request.
_NOT_ADJ = (
    r"(?!(?:of|about|for|on|with|from|to|in|the|a|an|and|that|which|list|story|poem|essay|article|"
    r"review|playlist|book|summary|recommendations?|frame|game|call)\b)"
)
_ADJ = rf"(?:{_NOT_ADJ}[\w'-]+,?\s+){{0,3}}?"
_ME = r"(?:(?:me|us)\s+)?"
_IMG_GENERIC = r"(?:picture|pic|image|img)s?"
_IMG_NOUN = (
    r"(?:picture|pic|image|img|drawing|painting|photo|photograph|illustration|sketch|portrait|logo|"
    r"poster|wallpaper|artwork|icon|sticker|cartoon|comic|rendering|render)s?"
)
_VID_GENERIC = r"(?:video|clip)s?"
_VID_NOUN = r"(?:video|clip|animation|movie|film|short film|footage|gif|cartoon)s?"
_MUS_NOUN = (
    r"(?:song|tune|track|melody|jingle|ballad|lullaby|anthem|rap|hymn|piece of music|music|"
    r"theme song|beat)s?"
)
_LINK = (
    r"(?:(?:of|showing|depicting|featuring|about|with|where|in which|that shows|for|called|titled|named|on)"
    r"\b|:|,)"
)

# fmt: off
PROVIDERS = {
    "midjourney": "midjourney", "mid journey": "midjourney", "mj": "midjourney", "dall-e": "openai",
    "dalle": "openai", "dall e": "openai", "dall-e 3": "openai", "dall-e-3": "openai", "gpt image": "openai",
    "gpt-image-1": "openai", "openai": "openai", "ideogram": "ideogram", "suno": "suno", "udio": "udio",
    "luma": "luma", "dream machine": "luma", "runway": "runway", "runwayml": "runwayml", "kling": "kling",
    "可灵": "kling", "pika": "pika", "pixverse": "pixverse", "viggle": "viggle",
}
# fmt: on
_PROVIDER_NAMES = "|".join(sorted((re.escape(n) for n in PROVIDERS), key=len, reverse=True))
_HINT_TAIL = re.compile(
    rf"[\s,]+(?:with|using|via|on|in|through|by)\s+({_PROVIDER_NAMES})\s*[.!?。！？]*$", _I
)
_HINT_HEAD = re.compile(rf"^(?:({_PROVIDER_NAMES})[\s,:，：]+|用\s*({_PROVIDER_NAMES})\s*)", _I)

_TAIL = re.compile(
    r"(?:[\s,]+(?:please|pls|for me|for us|thanks|thank you|now|right now|if you can|"
    r"if you could|real quick|okay|ok)|[\s.!?。！？,，、~～]+|(?:吧|吗|呗|好吗|好不好|可以吗|谢谢|行吗))$",
    _I,
)
_LEAD = re.compile(r"^[\s,:：，、-]+")

# "draw conclusions", "paint the town red": idioms, not pictures.
_DRAW_IDIOMS = re.compile(
    r"^(?:a\s+)?(?:conclusions?|attention|the curtains|a bath|blood|a card|cards|lots|straws|"
    r"a distinction|distinctions|comparisons?|inspiration|the line|a line under|a blank|"
    r"near|closer|breath|water|money|a salary|a crowd|fire|criticism|parallels|"
    r"the town red|on\b|up\b|from\b|out\b|in\b)",
    _I,
)
_POSSESSIVE = re.compile(
    r"^(?:my|our|your|his|her|their|the (?:wall|walls|fence|house|room|door|car|nails|"
    r"ceiling|bedroom|kitchen|bike|boat))\b",
    _I,
)


def _clean(prompt: str) -> str:
    prompt = _LEAD.sub("", prompt.strip())
    previous = None
    while previous != prompt:
        previous = prompt
        prompt = _TAIL.sub("", prompt).strip()
    return prompt


def _hint(text: str) -> tuple[str, str | None]:
    """Take "with Midjourney" / "Midjourney, draw…" / "用可灵…" out of the text."""
    match = _HINT_TAIL.search(text)
    if match:
        return text[: match.start()], PROVIDERS[match.group(1).lower()]
    match = _HINT_HEAD.match(text)
    if match:
        return text[match.end() :], PROVIDERS[(match.group(1) or match.group(2)).lower()]
    return text, None


# -- English intents ---------------------------------------------------------------------------------

_DRAW = re.compile(
    rf"^{_POLITE}(?P<verb>draw|paint|sketch|illustrate|doodle)\s+{_ME}"
    rf"(?:(?P<np>{_ARTICLE}{_ADJ}(?P<noun>{_IMG_NOUN}))(?:\s+(?P<link>of|showing|depicting|with|for))?"
    rf"(?:\s+|$))?(?P<rest>.*)$",
    _I,
)
def _make_rule(verbs: str, noun: str) -> re.Pattern[str]:
    """"make me a <noun> of …": a request verb, the noun phrase, then (optionally) what it shows."""
    return re.compile(
        rf"^{_POLITE}(?:{verbs})\s+{_ME}"
        rf"(?P<np>{_ARTICLE}{_ADJ}(?P<noun>{noun}))\s*(?:(?P<link>{_LINK})\s*(?P<rest>.*)|$)",
        _I,
    )


def _want_rule(noun: str, links: str) -> re.Pattern[str]:
    """"I'd like a <noun> about …" or a bare "a <noun> of …": the noun phrase, a link word, the subject."""
    return re.compile(
        rf"^(?:{_POLITE}{_REQUEST}|(?=(?:a|an)\s))(?P<np>{_ARTICLE}{_ADJ}(?P<noun>{noun}))\s+"
        rf"(?P<link>{links})\s+(?P<rest>.+)$",
        _I,
    )


# One row per kind: the verbs that make one, its nouns, and the words that link the noun to its subject.
_RULES = {
    MediaKind.IMAGE: ("make|create|generate|produce|render|design|do|give|show|get", _IMG_NOUN,
                      "of|showing|depicting"),
    MediaKind.VIDEO: ("make|create|generate|produce|render|shoot|film|do|give|show|get", _VID_NOUN,
                      "of|showing|depicting|about|where"),
    MediaKind.MUSIC: ("make|compose|write|create|generate|produce|sing|do|give|record", _MUS_NOUN,
                      "about|for|called|titled"),
}
_MAKE_WANT = {kind: (_make_rule(verbs, noun), _want_rule(noun, links))
              for kind, (verbs, noun, links) in _RULES.items()}
_ANIMATE = re.compile(rf"^{_POLITE}animate\s+(?P<rest>.+)$", _I)
_IT = re.compile(r"^(?:it|this|that|this one|that one|the (?:last |latest )?(?:one|picture|image|pic))$", _I)


def _noun_prompt(match: re.Match[str], generic: str = _IMG_GENERIC) -> str:
    rest = match.group("rest") or ""
    np = match.groupdict().get("np")
    if not np:
        return _clean(rest)
    # "a picture of a fox" -> "a fox"; but "a watercolor painting of a fox" keeps its style words.
    if re.fullmatch(rf"{_ARTICLE}{generic}", np.strip(), _I):
        return _clean(rest)
    link = match.groupdict().get("link") or ""
    link = "" if link in (":", ",") else link
    return _clean(" ".join(part for part in (np, link, rest) if part))


def _english(text: str) -> Route | None:
    match = _DRAW.match(text)
    if (
        match
        and match.group("np") is None
        and (
            _DRAW_IDIOMS.match(match.group("rest"))
            or (match.group("verb").lower() == "paint" and _POSSESSIVE.match(match.group("rest")))
        )
    ):
        return None
    for kind, rules in ((MediaKind.IMAGE, (_DRAW, *_MAKE_WANT[MediaKind.IMAGE])),
                        (MediaKind.VIDEO, _MAKE_WANT[MediaKind.VIDEO])):
        for pattern in rules:
            match = pattern.match(text)
            if match:
                generic = _VID_GENERIC if kind is MediaKind.VIDEO else _IMG_GENERIC
                return MediaRoute(kind, _noun_prompt(match, generic))
    match = _ANIMATE.match(text)
    if match and not _IT.match(match.group("rest")):
        return MediaRoute(MediaKind.VIDEO, _clean(match.group("rest")))
    make_song, want_song = _MAKE_WANT[MediaKind.MUSIC]
    match = make_song.match(text) or want_song.match(text)
    if match:  # a song keeps its whole noun phrase: "a sad jazz song about rain"
        return MediaRoute(MediaKind.MUSIC, _clean(text[match.start("np") :]))
    return None


# -- Chinese intents ---------------------------------------------------------------------------------

_ZH_POLITE = r"(?:请|麻烦|劳驾|你)?(?:能不能|可不可以|可以|能否|能)?(?:帮我|给我|为我|替我|帮忙)?"
_ZH_QUESTION = re.compile(r"什么|怎么|如何|为什么|哪|技巧|教程|多少")
_ZH_VIDEO = re.compile(
    rf"^{_ZH_POLITE}(?:生成|做|制作|创作|来|弄|拍)(?:一|几|两)?(?:个|段|条|部)?"
    r"(?P<rest>.*?)的?(?:视频|动画|短片|影片)(?P<tail>.*)$"
)
_ZH_SONG = re.compile(rf"^{_ZH_POLITE}(?:来|写|做|创作|生成|唱|作)(?P<rest>(?:一|几|两)?首.*)$")
_ZH_MUSIC = re.compile(rf"^{_ZH_POLITE}(?:生成|创作|做|写|来)(?:一段|一些|点|段)?音乐(?P<tail>.*)$")
_ZH_SONG_WORD = re.compile(r"歌|曲|音乐|说唱|摇滚|爵士|民谣|流行|古典|电子|嘻哈|蓝调|rap", _I)
_ZH_DRAW = re.compile(rf"^{_ZH_POLITE}(?:画|绘制|画出)(?P<rest>.+)$")
_ZH_MAKE_IMAGE = re.compile(
    rf"^(?:{_ZH_POLITE}(?:生成|做|制作|创作|来|弄)|我想要|我要|我想看|给我来)"
    r"(?:一|几|两)?(?:张|幅|副)?(?P<rest>.*?)的?(?P<noun>图片|图像|照片|插画|海报|画作|画像|图(?!表)|(?<=[的张幅副])画)(?P<tail>.*)$"
)
_ZH_PICTURE_MEASURE = re.compile(r"^(?:一|两|几)?(?:张|幅|副)")
_ZH_PICTURE_TAIL = re.compile(r"的?(?:图片|图像|照片|图|画)$")


def _chinese(text: str) -> Route | None:
    if _ZH_QUESTION.search(text):
        return None
    match = _ZH_VIDEO.match(text)
    if match:
        rest = re.sub(r"^关于", "", match.group("rest"))
        return MediaRoute(MediaKind.VIDEO, _clean(rest or match.group("tail")))
    match = _ZH_SONG.match(text)
    if match and _ZH_SONG_WORD.search(match.group("rest")) and not re.search(r"诗|词", match.group("rest")):
        return MediaRoute(MediaKind.MUSIC, _clean(match.group("rest")))
    match = _ZH_MUSIC.match(text)
    if match:
        return MediaRoute(MediaKind.MUSIC, _clean(match.group("tail")) or "音乐")
    match = _ZH_DRAW.match(text)
    if match and not match.group("rest").startswith("画"):
        rest = _ZH_PICTURE_TAIL.sub("", _ZH_PICTURE_MEASURE.sub("", _clean(match.group("rest"))))
        return MediaRoute(MediaKind.IMAGE, _clean(rest))
    match = _ZH_MAKE_IMAGE.match(text)
    if match:
        prompt = _clean(match.group("rest")) or _clean(match.group("tail"))
        if not prompt and match.group("noun") in ("插画", "海报"):
            prompt = match.group("noun")
        return MediaRoute(MediaKind.IMAGE, prompt)
    return None


# -- follow-ups on a Midjourney grid -------------------------------------------------------------------

# fmt: off
_ORDINALS = {
    "first": 1, "1st": 1, "one": 1, "second": 2, "2nd": 2, "two": 2, "third": 3, "3rd": 3, "three": 3,
    "fourth": 4, "4th": 4, "four": 4, "last": 4, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "１": 1, "２": 2, "３": 3, "４": 4,
}
# fmt: on


def _ord(name: str) -> str:
    """An ordinal ("the second one", "number 3", "4") captured as group `name`."""
    return (
        rf"(?:the\s+)?(?:(?:number|no\.?|#)\s*)?(?P<{name}>first|second|third|fourth|last|1st|2nd|3rd|4th|"
        r"one|two|three|four|[1-4])(?:\s+(?:one|image|picture|pic|photo|version|option))?"
    )


def _zh_ord(name: str) -> str:
    return rf"第?(?P<{name}>[一二两三四1-4１-４])(?:张|个|幅)?(?:图|图片)?"


_UPSCALE = re.compile(
    rf"^{_POLITE}(?:upscale|enlarge|upsize|upres|blow up|zoom in on|"
    rf"(?:make|give me|get me)\s+(?:a\s+)?(?:bigger|larger|high[- ]res(?:olution)?|hd|"
    rf"higher[- ]resolution)\s+(?:version\s+of\s+)?)\s*{_ord('o1')}$|"
    rf"^{_POLITE}(?:make\s+)?{_ord('o2')}\s+(?:bigger|larger|in high[- ]res(?:olution)?|in hd)$|"
    r"^u\s*(?P<u>[1-4])$",
    _I,
)
_VARIATION = re.compile(
    rf"^{_POLITE}(?:(?:make|give me|get me|do|create|show me)\s+)?(?:another|more|some|a|an)?\s*"
    rf"(?:variations?|variants?|versions?|alternatives?|vary|more like)\s+(?:(?:of|on|for)\s+)?"
    rf"{_ord('o1')}$|^v\s*(?P<v>[1-4])$",
    _I,
)
_REROLL = re.compile(
    r"^(?:reroll|re-roll|redo|redo it|do it again|do that again|try again|try that again|"
    r"draw it again|again|one more|one more time|another one|another set|another batch|new ones|"
    r"a new set|regenerate|generate again|regenerate it|give me (?:another|a new) (?:set|batch))$",
    _I,
)
_ZH_UPSCALE = re.compile(
    rf"^{_ZH_POLITE}(?:放大|高清|超分)(?:一下)?{_zh_ord('o1')}$|^{_ZH_POLITE}(?:把)?{_zh_ord('o2')}的?"
    r"(?:放大|高清|超分)(?:一下)?$"
)
_ZH_VARIATION = re.compile(
    rf"^{_ZH_POLITE}(?:把)?{_zh_ord('o1')}的?(?:变体|变化|变换|再来几张类似的|类似的)$|"
    rf"^{_ZH_POLITE}(?:变体|变化)(?:一下)?{_zh_ord('o2')}$"
)
_ZH_REROLL = re.compile(
    r"^(?:重新生成|重画|重新画|再来一次|再画一次|再来一组|换一批|重来|再生成一次|再来一张)$"
)
_ZH_ANIMATE = re.compile(
    rf"^{_ZH_POLITE}(?:把)?(?:{_zh_ord('o1')}|它|这张|这张图)?(?:做成视频|变成视频|动起来)$"
)


def latest_grid(recent_jobs: Sequence[Job]) -> Job | None:
    """The newest finished Midjourney grid: a job with U/V buttons (or none, on an open-source proxy)."""
    for job in sorted(recent_jobs, key=lambda j: j.created_at, reverse=True):
        if job.provider != "midjourney" or job.status is not JobStatus.SUCCEEDED:
            continue
        buttons = job.result.get("buttons") or []
        if any(":upsample::" in b.get("custom_id", "") for b in buttons):
            return job
        if not buttons and job.action in ("imagine", "variation", "reroll", "blend"):
            return job
    return None


def latest_image(recent_jobs: Sequence[Job]) -> Job | None:
    finished = [j for j in recent_jobs if j.kind is MediaKind.IMAGE and j.status is JobStatus.SUCCEEDED]
    return max(finished, key=lambda j: j.created_at, default=None)


_AGAIN = re.compile(
    r"^(?:(?:do|make|give me)\s+)?(?:another one|one more|another)"
    r"(?:\s+(?:like that|like this|of those|please))?$|"
    r"^(?:same again|(?:do|try) (?:it|that) again|again|once more|repeat that|repeat it)$|"
    r"^(?:再来一个|再来一次|再做一个|再来一张|再做一次|再来|重来)$",
    _I,
)


def _repeatable(recent_jobs: Sequence[Job]) -> Job | None:
    """The newest job, when it worked on pictures (blend, face swap, dance…): "again" repeats it."""
    newest = max(recent_jobs, key=lambda j: j.created_at, default=None)
    if newest is not None and newest.params.get("uses_pictures") and not newest.parent_job_id:
        return newest
    return None


def _follow_up(text: str, recent_jobs: Sequence[Job]) -> Route | None:
    # Whisper punctuates pauses: "Upscale, the second one." is still a follow-up.
    text = " ".join(re.sub(r"[,，、;:]", " ", text).split())
    repeatable = _repeatable(recent_jobs)
    if repeatable is not None and (_AGAIN.match(text) or _REROLL.match(text) or _ZH_REROLL.match(text)):
        return RepeatRoute(repeatable.id)
    grid = latest_grid(recent_jobs)
    if grid is not None:
        for patterns, action in (
            ((_UPSCALE, _ZH_UPSCALE), "upscale"),
            ((_VARIATION, _ZH_VARIATION), "variation"),
        ):
            for pattern in patterns:
                match = pattern.match(text)
                if match:
                    word = next(g for g in match.groupdict().values() if g)
                    return ActionRoute(grid.id, action, _ORDINALS.get(word.lower(), 0) or int(word))
        if _REROLL.match(text) or _ZH_REROLL.match(text):
            return ActionRoute(grid.id, "reroll", 0)
    picture = latest_image(recent_jobs)
    match = _ZH_ANIMATE.match(text) or re.match(
        rf"^{_POLITE}animate\s+(?:it|this|that|{_ord('o1')})$", text, _I
    )
    if picture is not None and match:
        word = next((g for g in match.groupdict().values() if g), None)
        index = (_ORDINALS.get(word.lower(), 0) or int(word)) if word else 0
        return MediaRoute(MediaKind.VIDEO, picture.prompt, source_job_id=picture.id, source_index=index)
    return None


# Whisper writes Mandarin in traditional characters now and then; the rules are written in simplified ones.
_SIMPLIFIED = str.maketrans(
    "這兩張圖臉換讓個機畫視頻動來變製幫給請為們裡轉併與將貼後張個對聲歌曲錄雙幾剛愛樂電",
    "这两张图脸换让个机画视频动来变制帮给请为们里转并与将贴后张个对声歌曲录双几刚爱乐电",
)


def route(text: str, recent_jobs: Sequence[Job] = ()) -> Route:
    """Classify one user utterance. `recent_jobs`: this user's recent media jobs (any order)."""
    stripped = _FILLER.sub("", " ".join(text.translate(_SIMPLIFIED).split())).strip()
    body = _clean(stripped)
    if not body:
        return ChatRoute(text)
    follow_up = _follow_up(body, recent_jobs)
    if follow_up is not None:
        return follow_up
    without_hint, hint = _hint(stripped)
    without_hint = _clean(without_hint)
    on_pictures = picture_intents.picture_intent(without_hint)
    if on_pictures is not None:
        return picture_route(on_pictures, hint, recent_jobs)
    found = _chinese(without_hint) if re.search(r"[\u4e00-\u9fff]", without_hint) else _english(without_hint)
    if isinstance(found, MediaRoute):
        return dataclasses.replace(found, provider_hint=hint) if hint else found
    return ChatRoute(text)


def picture_route(intent: dict[str, Any], hint: str | None, recent_jobs: Sequence[Job]) -> MediaRoute:
    action = intent["action"]
    picture = latest_image(recent_jobs) if action in ("animate", "describe", "dance") else None
    return MediaRoute(
        picture_intents.kind_of(action),
        intent["prompt"],
        hint or picture_intents.PROVIDER.get(action),
        intent["options"],
        source_job_id=picture.id if picture else None,
        action=picture_intents.ACTION[action],
    )
