"""Per-provider routes of the fake media gateway (see providers.py for the server and faults).

Each task advances one step per poll; `state.stuck` holds a provider's tasks on their last
unfinished step forever, and `state.fail_with[provider]` ends them in the provider's own failure.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse

from tests.fakes.media_common import CDN, missing, new_task, step_task
from tests.fakes.media_midjourney import midjourney

TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


# -- music ----------------------------------------------------------------------------------------

_SUNO_STEPS = ["submitted", "queued", "streaming", "complete"]


def _suno(state: Any, method: str, path: str, body: Any) -> Any:
    if method == "POST" and path in ("/suno/generate", "/suno/generate/description-mode"):
        ids = [new_task(state, "suno", body=body, n=n) for n in range(2)]
        return {"id": "batch", "clips": [{"id": i, "status": "submitted"} for i in ids], "status": "complete"}
    if method == "GET" and (m := re.fullmatch(r"/suno/feed/([^/]+)", path)):
        clips = []
        for clip_id in m.group(1).split(","):
            if clip_id not in state.tasks:
                return missing()
            task, step, failed = step_task(state, clip_id, len(_SUNO_STEPS))
            status = "error" if failed else _SUNO_STEPS[step]
            clip = {
                "id": clip_id,
                "status": status,
                "title": f"Sunday Song {task['n'] + 1}",
                "model_name": "chirp-v4",
                "audio_url": "",
                "video_url": "",
                "image_url": f"{CDN}/suno/{clip_id}.jpg",
                "metadata": {
                    "tags": "pop",
                    "prompt": "",
                    "duration": None,
                    "type": "gen",
                    "error_message": state.fail_with.get("suno") if failed else None,
                },
            }
            if status in ("streaming", "complete"):
                clip["audio_url"] = f"{CDN}/suno/{clip_id}.mp3"
            if status == "complete":
                clip["video_url"] = f"{CDN}/suno/{clip_id}.mp4"
                clip["metadata"]["duration"] = 182.3
            clips.append(clip)
        return clips
    return missing("no such route")


def _udio(state: Any, method: str, path: str, body: Any) -> Any:
    if method == "POST" and path == "/udio/submit/music":
        return {"data": new_task(state, "udio", body=body)}
    if method == "GET" and (m := re.fullmatch(r"/udio/fetch/([^/]+)", path)):
        if m.group(1) not in state.tasks:
            return missing()
        _, step, failed = step_task(state, m.group(1), 3)
        status = ["IN_PROGRESS", "IN_PROGRESS", "SUCCESS"][step]
        songs = []
        if failed:
            status = "FAILURE"
        elif status == "SUCCESS":
            songs = [
                {
                    "id": f"song{i}",
                    "title": f"Udio Song {i}",
                    "lyrics": "la la",
                    "prompt": "",
                    "duration": 130,
                    "finished": True,
                    "song_path": f"{CDN}/udio/{m.group(1)}_{i}.mp3",
                    "image_path": f"{CDN}/udio/{i}.jpg",
                    "tags": ["pop"],
                }
                for i in range(2)
            ]
        return {
            "data": {
                "task_id": m.group(1),
                "status": status,
                "fail_reason": state.fail_with.get("udio", "") if failed else "",
                "data": {"songs": songs},
            }
        }
    return missing("no such route")


# -- video ----------------------------------------------------------------------------------------


def _luma(state: Any, method: str, path: str, body: Any) -> Any:
    if method == "POST" and path == "/luma/generations/":
        task_id = new_task(state, "luma", body=body)
        answer = {"id": task_id, "prompt": (body or {}).get("user_prompt"), "state": "pending", "video": None}
        return [answer] if state.luma_array else answer
    if method == "GET" and (m := re.fullmatch(r"/luma/generations/([^/]+)", path)):
        if m.group(1) not in state.tasks:
            return missing()
        _, step, failed = step_task(state, m.group(1), 4)
        generation: dict[str, Any] = {
            "id": m.group(1),
            "prompt": "",
            "estimate_wait_seconds": 10,
            "video": None,
        }
        states = [
            "pending",
            "processing",
            "completed" if state.luma_early_complete else "processing",
            "completed",
        ]
        generation["state"] = "failed" if failed else states[step]
        if failed:
            generation["failure_reason"] = state.fail_with["luma"]
        elif step >= 2 and generation["state"] == "completed":
            generation["video"] = {
                "url": f"{CDN}/luma/{m.group(1)}.mp4",
                "width": 1360,
                "height": 752,
                "thumbnail": None,
                "download_url": None,
            }
            if step == 3:
                generation["video"]["download_url"] = f"{CDN}/luma/{m.group(1)}-dl.mp4"
        return generation
    return missing("no such route")


def _runway(state: Any, method: str, path: str, body: Any) -> Any:
    if method == "POST" and path == "/runway/tasks":
        return {"task": {"id": new_task(state, "runway", body=body), "status": "PENDING"}}
    if method == "GET" and (m := re.fullmatch(r"/runway/tasks/([^/]+)", path)):
        if m.group(1) not in state.tasks:
            return missing()
        _, step, failed = step_task(state, m.group(1), 3)
        task: dict[str, Any] = {
            "id": m.group(1),
            "status": ["PENDING", "RUNNING", "SUCCEEDED"][step],
            "progressRatio": ["0", "0.42", "1"][step],
            "artifacts": [],
            "error": None,
        }
        if failed:
            task.update(status="FAILED", error={"message": state.fail_with["runway"]})
        elif step == 2:
            task["artifacts"] = [{"url": f"{CDN}/runway/{m.group(1)}.mp4", "previewUrls": []}]
        return {"task": task}
    return missing("no such route")


def _runwayml(state: Any, method: str, path: str, body: Any) -> Any:
    if method == "POST" and path == "/runwayml/v1/image_to_video":
        return {"id": new_task(state, "runwayml", body=body)}
    if method == "GET" and (m := re.fullmatch(r"/runwayml/v1/tasks/([^/]+)", path)):
        if m.group(1) not in state.tasks:
            return missing()
        _, step, failed = step_task(state, m.group(1), 3)
        task: dict[str, Any] = {
            "id": m.group(1),
            "status": ["PENDING", "RUNNING", "SUCCEEDED"][step],
            "createdAt": "2025-01-01T00:00:00Z",
        }
        if step == 1:
            task["progress"] = 0.5
        if failed:
            task.update(status="FAILED", failure=state.fail_with["runwayml"], failureCode="INTERNAL")
        elif step == 2:
            task["output"] = [f"{CDN}/runwayml/{m.group(1)}.mp4"]
        return task
    return missing("no such route")


def _kling(state: Any, method: str, path: str, body: Any) -> Any:
    def envelope(data: Any, code: int = 0, message: str = "SUCCEED") -> dict[str, Any]:
        return {"code": code, "message": message, "request_id": "req-1", "data": data}

    kinds = r"(videos/text2video|videos/image2video|images/generations)"
    if method == "POST" and (m := re.fullmatch(rf"/kling/v1/{kinds}", path)):
        code = state.kling_codes.pop(0) if state.kling_codes else 0
        if code:
            messages = {
                1301: "The content is not compliant",
                1002: "Authorization is invalid",
                1303: "Concurrency limit exceeded",
            }
            return envelope(None, code, messages.get(code, "error"))
        task_id = new_task(state, "kling", body=body, route=m.group(1))
        return envelope({"task_id": task_id, "task_status": "submitted", "created_at": 0, "updated_at": 0})
    if method == "GET" and (m := re.fullmatch(rf"/kling/v1/{kinds}/([^/]+)", path)):
        task = state.tasks.get(m.group(2))
        if task is None or task["route"] != m.group(1):
            return JSONResponse(envelope(None, 1203, "task not found"), status_code=404)
        _, step, failed = step_task(state, m.group(2), 3)
        status = "failed" if failed else ["submitted", "processing", "succeed"][step]
        data: dict[str, Any] = {
            "task_id": m.group(2),
            "task_status": status,
            "task_status_msg": state.fail_with.get("kling", "") if failed else "",
            "created_at": 0,
            "updated_at": 0,
        }
        if status == "succeed":
            data["task_result"] = (
                {"images": [{"index": 0, "url": f"{CDN}/kling/{m.group(2)}.png"}]}
                if m.group(1).startswith("images")
                else {"videos": [{"id": "v1", "url": f"{CDN}/kling/{m.group(2)}.mp4", "duration": "5"}]}
            )
        return envelope(data)
    return missing("no such route")


def _pika(state: Any, method: str, path: str, body: Any) -> Any:
    if method == "POST" and path == "/pika/generate":
        return {"id": new_task(state, "pika", body=body)}
    if method == "GET" and (m := re.fullmatch(r"/pika/feed/([^/]+)", path)):
        if m.group(1) not in state.tasks:
            return missing()
        _, step, failed = step_task(state, m.group(1), 3)
        video: dict[str, Any] = {
            "id": "v1",
            "status": ["queued", "pending", "finished"][step],
            "progress": [0, 50, 100][step],
            "resultUrl": None,
            "seed": 1,
        }
        if failed:
            video.update(status="error", error=state.fail_with["pika"])
        elif step == 2:
            video.update(
                resultUrl=f"{CDN}/pika/{m.group(1)}.mp4", videoPoster=f"{CDN}/pika/p.jpg", duration=5
            )
        return {"id": m.group(1), "promptText": "", "videos": [video]}
    return missing("no such route")


def _pixverse(state: Any, method: str, path: str, body: Any) -> Any:
    if method == "POST" and path == "/pixverse/generate":
        task_id = new_task(state, "pixverse", body=body)
        return {"ErrCode": 0, "ErrMsg": "success", "Resp": {"video_id": int(task_id[3:])}}
    if method == "GET" and (m := re.fullmatch(r"/pixverse/feed/(\d+)", path)):
        task_id = f"pix{m.group(1)}"
        if task_id not in state.tasks:
            return {"ErrCode": 400, "ErrMsg": "video not found"}
        _, step, failed = step_task(state, task_id, 3)
        resp: dict[str, Any] = {"id": int(m.group(1)), "video_status": 8 if failed else [5, 5, 1][step]}
        if resp["video_status"] == 1:
            resp.update(url=f"{CDN}/pixverse/{m.group(1)}.mp4", first_frame=f"{CDN}/p.jpg", video_duration=5)
        return {"ErrCode": 0, "ErrMsg": "success", "Resp": resp}
    return missing("no such route")


VIGGLE_TAGS = [{"id": "tag-1", "name": "Trending", "sort": 1}, {"id": "tag-2", "name": "Dance", "sort": 2}]
VIGGLE_TEMPLATES = [
    {"id": "tpl-hiphop", "description": "Hip Hop Groove", "command": "/mix hiphop-groove"},
    {"id": "tpl-robot", "description": "Robot Dance", "command": "/mix robot-dance"},
    {"id": "tpl-ballet", "description": "Ballet Spin", "command": "/mix ballet-spin"},
]


def _viggle(state: Any, method: str, path: str, body: Any, raw: bytes) -> Any:
    if method == "GET" and path == "/viggle/template2/tag":
        return {"code": 0, "data": VIGGLE_TAGS}
    if method == "GET" and path == "/viggle/template2":
        templates = [
            {
                **t,
                "processedURL": f"{CDN}/viggle/{t['id']}.mp4",
                "processedCoverURL": f"{CDN}/viggle/{t['id']}.jpg",
            }
            for t in VIGGLE_TEMPLATES
        ]
        return {"code": 0, "data": templates}
    if method == "POST" and path == "/viggle/asset/image":
        if b'name="file"' not in raw:
            return JSONResponse({"error": {"message": "file is required"}}, status_code=400)
        return {"data": {"id": "img-1", "url": f"{CDN}/viggle/img-1.png"}}
    if method == "POST" and path == "/viggle/video-task":
        known = {t["id"] for t in VIGGLE_TEMPLATES}
        if not (body or {}).get("imageID") or (body or {}).get("templateID") not in known:
            return JSONResponse({"code": 400, "message": "imageID and a known templateID are required"}, 400)
        return {"data": {"taskID": new_task(state, "viggle", body=body)}}
    if method == "POST" and path == "/viggle/video-task/by-ids":
        tasks = []
        for task_id in (body or {}).get("ids", []):
            if task_id in state.tasks:
                _, step, failed = step_task(state, task_id, 3)
                done = step == 2
                tasks.append(
                    {
                        "taskID": task_id,
                        "status": 0 if done else 1,
                        "result": f"{CDN}/viggle/{task_id}.mp4" if done and not failed else "",
                        "resultCover": f"{CDN}/viggle/c.jpg",
                        "videoDuration": 6,
                    }
                )
        return {"data": tasks}
    return missing("no such route")


# -- synchronous images -------------------------------------------------------------------------


def _ideogram(state: Any, method: str, path: str, body: Any) -> Any:
    if method == "POST" and path == "/ideogram/generate":
        safe = "ideogram" not in state.fail_with
        return {
            "created": "2025-01-01",
            "data": [
                {
                    "url": f"{CDN}/ideogram/1.png",
                    "is_image_safe": safe,
                    "prompt": body["image_request"]["prompt"],
                    "seed": 42,
                    "resolution": "1024x1024",
                }
            ],
        }
    return missing("no such route")


def _openai(state: Any, method: str, path: str, body: Any) -> Any:
    if method == "POST" and path == "/v1/images/generations":
        if "openai" in state.fail_with:
            return JSONResponse(
                {"error": {"code": "content_policy_violation", "message": state.fail_with["openai"]}},
                status_code=400,
            )
        if str(body.get("model", "")).startswith("gpt-image"):
            item = {"b64_json": base64.b64encode(TINY_PNG).decode()}
        else:
            item = {"url": f"{CDN}/openai/1.png", "revised_prompt": f"A detailed {body['prompt']}"}
        return {"created": 1, "data": [item]}
    return missing("no such route")


_HANDLERS: dict[str, Callable[..., Any]] = {
    "midjourney": midjourney,
    "suno": _suno,
    "udio": _udio,
    "luma": _luma,
    "runway": _runway,
    "runwayml": _runwayml,
    "kling": _kling,
    "pika": _pika,
    "pixverse": _pixverse,
    "ideogram": _ideogram,
    "openai": _openai,
}
_PREFIX_OF = {
    "midjourney": "/mj/",
    "suno": "/suno/",
    "udio": "/udio/",
    "luma": "/luma/",
    "runway": "/runway/",
    "runwayml": "/runwayml/",
    "kling": "/kling/",
    "pika": "/pika/",
    "pixverse": "/pixverse/",
    "viggle": "/viggle/",
    "ideogram": "/ideogram/",
    "openai": "/v1/images/",
}


def dispatch(state: Any, method: str, path: str, body: Any, raw: bytes) -> Any:
    for provider, prefix in _PREFIX_OF.items():
        if path.startswith(prefix) and (provider != "runway" or not path.startswith("/runwayml/")):
            if provider == "viggle":
                return _viggle(state, method, path, body, raw)
            return _HANDLERS[provider](state, method, path, body)
    return missing("no such route")
