"""Short sentences the assistant says about media jobs: on acknowledgement and on completion.

Chinese prompts get Chinese sentences, so the TTS voice picked for the user's language fits.
"""

from __future__ import annotations

import re

from voicechat.media.jobs import Job, JobStatus, MediaKind

_CJK = re.compile(r"[\u3400-\u9fff]")
_MUSIC_NOUN = re.compile(
    r"\b(songs?|tunes?|tracks?|music|melod(y|ies)|jingles?|ballads?|lullab(y|ies)|"
    r"anthems?|raps?|hymns?|pieces?)\b",
    re.IGNORECASE,
)
_NOUN = {MediaKind.IMAGE: "picture", MediaKind.MUSIC: "song", MediaKind.VIDEO: "video"}
_NOUN_ZH = {MediaKind.IMAGE: "图片", MediaKind.MUSIC: "歌曲", MediaKind.VIDEO: "视频"}
_NUMBER = {1: "one", 2: "two", 3: "three", 4: "four"}


def _short(prompt: str, words: int = 14) -> str:
    """Prompts can be paragraphs; say only the start."""
    prompt = " ".join(prompt.split()).rstrip(" .!?,;:")
    parts = prompt.split(" ")
    return prompt if len(parts) <= words else " ".join(parts[:words]) + "\u2026"


def _zh(job: Job) -> bool:
    return job.params.get("lang") == "zh" or bool(_CJK.search(job.prompt))


# Requests on attached pictures: (acknowledgement, completion), English then Chinese.
_ON_PICTURES = {
    "blend": (("Okay, blending your pictures.", "Your blended picture is ready."),
              ("好的，正在融合你的图片。", "融合好的图片好了。")),
    "face_swap": (("Okay, swapping the face.", "Your face swap is ready."),
                  ("好的，正在换脸。", "换脸的图片好了。")),
    "describe": (("Okay, looking at your picture.", "The description of your picture is ready."),
                 ("好的，正在看你的图片。", "图片的描述好了。")),
    "dance": (("Okay, making them dance: {prompt}.", "Your dance video is ready."),
              ("好的，正在让他跳舞：{prompt}。", "跳舞视频好了。")),
    "animate": (("Okay, turning your picture into a video.", "Your video is ready."),
                ("好的，正在把图片做成视频。", "视频好了。")),
}  # fmt: skip


def _on_pictures(job: Job, which: int) -> str | None:
    lines = _ON_PICTURES.get(str(job.params.get("uses_pictures") or ""))
    if lines is None:
        return None
    return lines[1 if _zh(job) else 0][which].format(prompt=_short(job.prompt) or "the first dance")


def acknowledgement(job: Job) -> str:
    """What to say right after a request is accepted: "Okay, drawing a red fox sleeping in the snow."."""
    if job.status is JobStatus.FAILED:
        return job.error
    if (line := _on_pictures(job, 0)) is not None:
        return line
    prompt = _short(job.prompt)
    index = int(job.params.get("index", 0) or 0)
    number = _NUMBER.get(index, str(index))
    if job.action == "upscale":
        return f"Okay, upscaling number {number}."
    if job.action == "variation":
        return f"Okay, making variations of number {number}."
    if job.action == "reroll":
        return "Okay, drawing it again."
    if job.action == "blend":
        return "Okay, blending your pictures."
    if job.action == "describe":
        return "Okay, looking at your picture."
    if job.action == "face_swap":
        return "Okay, swapping the face."
    if _zh(job):
        if job.kind is MediaKind.IMAGE:
            return f"好的，正在画{prompt}。"
        if job.kind is MediaKind.MUSIC:
            return f"好的，正在写{prompt or '一首歌'}。"
        return f"好的，正在生成{prompt}的视频。"
    if job.kind is MediaKind.IMAGE:
        return f"Okay, drawing {prompt}." if prompt else "Okay, drawing."
    if job.kind is MediaKind.MUSIC:
        if not prompt:
            return "Okay, making a song."
        return (
            f"Okay, making {prompt}."
            if _MUSIC_NOUN.search(prompt)
            else f"Okay, making a song about {prompt}."
        )
    return f"Okay, making a video of {prompt}." if prompt else "Okay, making a video."


def completion(job: Job) -> str:
    """What to say when a job ends: "Your picture of … is ready." / "The picture failed: <reason>."."""
    noun = _NOUN[job.kind]
    if job.status is JobStatus.FAILED:
        reason = job.error.rstrip(" .") or "the provider gave no reason"
        if _zh(job):
            return f"{_NOUN_ZH[job.kind]}生成失败：{reason}。"
        return f"The {noun} failed: {reason}."
    if job.status is not JobStatus.SUCCEEDED:
        return ""
    if job.params.get("uses_pictures") == "describe" and job.result.get("text"):
        first = re.split(r"\s*\n+\s*|\s*[2-4]\ufe0f\u20e3", str(job.result["text"]))[0]
        first = re.sub(r"^\s*1\ufe0f\u20e3\s*|\s+--\S+(?:\s+\S+)?", "", first).strip()
        lead = "这张图片可以描述为：" if _zh(job) else "Midjourney describes your picture as: "
        return lead + _short(first, 24) + ("。" if _zh(job) else ".")
    if (line := _on_pictures(job, 1)) is not None:
        return line
    if _zh(job) and job.action not in ("upscale", "variation", "reroll"):
        return f"你的{_NOUN_ZH[job.kind]}好了：{_short(job.prompt)}。"
    if job.action == "upscale":
        return "The upscaled picture is ready."
    if job.action == "variation":
        return "The variations are ready."
    if job.action == "reroll":
        return "The new pictures are ready."
    if job.action == "describe":
        return "The description of your picture is ready."
    if job.action in ("blend", "face_swap"):
        return "Your picture is ready."
    if job.kind is MediaKind.MUSIC:
        titles = list(dict.fromkeys(job.result.get("titles") or []))
        if len(titles) == 1:
            return f"Your song \u201c{titles[0]}\u201d is ready."
        if len(titles) > 1:
            return "Your songs " + " and ".join(f"\u201c{t}\u201d" for t in titles[:2]) + " are ready."
        return "Your song is ready."
    prompt = _short(job.prompt)
    return f"Your {noun} of {prompt} is ready." if prompt else f"Your {noun} is ready."


def timed_out(job: Job, label: str, elapsed_s: float) -> str:
    if elapsed_s < 90:
        seconds = max(1, round(elapsed_s))
        span = f"{seconds} second" + ("s" if seconds != 1 else "")
    else:
        minutes = round(elapsed_s / 60)
        span = f"{minutes} minute" + ("s" if minutes != 1 else "")
    return f"{label} timed out after {span}"
