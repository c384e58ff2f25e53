"""The fake gateway's Midjourney routes (midjourney-proxy "plus" API): submit codes, task steps, buttons."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.fakes.media_common import CDN, missing, new_task, step_task

# -- Midjourney ---------------------------------------------------------------------------------

_MJ_STEPS = [
    ("NOT_START", ""),
    ("SUBMITTED", "0%"),
    ("IN_PROGRESS", "25%"),
    ("IN_PROGRESS", "50%"),
    ("IN_PROGRESS", "75%"),
    ("SUCCESS", "100%"),
]


def _mj_buttons(task_id: str, action: str) -> list[dict[str, Any]]:
    if action in ("UPSCALE",):
        keys = [
            # Subtle first, so a sloppy substring match ("variation::1") picks the wrong button.
            ("low_variation::1", "Vary (Subtle)"),
            ("variation::1", "Vary (Strong)"),
            ("upsample_v6_2x_subtle::1", "Upscale (Subtle)"),
        ]
        return [
            {
                "customId": f"MJ::JOB::{key}::{task_id}::SOLO",
                "label": label,
                "emoji": "",
                "type": 2,
                "style": 2,
            }
            for key, label in keys
        ]
    buttons = [{"customId": f"MJ::JOB::upsample::{i}::{task_id}", "label": f"U{i}"} for i in range(1, 5)]
    buttons.append({"customId": f"MJ::JOB::reroll::0::{task_id}::SOLO", "label": "", "emoji": "🔄"})
    buttons += [{"customId": f"MJ::JOB::variation::{i}::{task_id}", "label": f"V{i}"} for i in range(1, 5)]
    return [{"emoji": "", "type": 2, "style": 2, **b} for b in buttons]


def _mj_submit(state: Any, action: str, prompt: str = "", **info: Any) -> dict[str, Any]:
    code = state.mj_submit_codes.pop(0) if state.mj_submit_codes else 1
    if code == 24:
        return {
            "code": 24,
            "description": "Banned prompt",
            "result": None,
            "properties": {"promptEn": prompt, "bannedWord": state.mj_banned_word},
        }
    if code == 23:
        return {"code": 23, "description": "Queue is full, please try again later", "result": None}
    task_id = new_task(state, "midjourney", action=action, prompt=prompt, **info)
    if code == 21:
        return {
            "code": 21,
            "description": "Waiting for window confirm",
            "result": task_id,
            "properties": {"finalPrompt": prompt or "confirm me"},
        }
    if code == 22:
        return {"code": 22, "description": "In queue", "result": task_id, "properties": {"numberOfQueues": 3}}
    return {"code": code, "description": "Submit success", "result": task_id, "properties": {}}


def _mj_fetch(state: Any, task_id: str) -> Any:
    if task_id not in state.tasks:
        return None
    task, step, failed = step_task(state, task_id, len(_MJ_STEPS))
    status, progress = _MJ_STEPS[step]
    data: dict[str, Any] = {
        "id": task_id,
        "action": task["action"],
        "status": status,
        "progress": progress,
        "prompt": task["prompt"],
        "promptEn": task["prompt"],
        "description": f"/imagine {task['prompt']}",
        "state": "",
        "submitTime": 1754743024076,
        "failReason": "",
        "imageUrl": "",
        "imageUrls": [],
        "videoUrl": "",
        "properties": {},
        "buttons": [],
    }
    if failed:
        data.update(status="FAILURE", progress="", failReason=state.fail_with["midjourney"])
    elif status == "SUCCESS":
        data["imageUrl"] = f"{CDN}/mj/{task_id}/grid.webp"
        data["imageUrls"] = [{"url": f"{CDN}/mj/{task_id}_{i}.png"} for i in range(4)]
        if task["action"] == "DESCRIBE":
            data["properties"] = {"finalPrompt": "1\ufe0f\u20e3 a red fox in the snow --ar 1:1"}
        if state.mj_buttons and task["action"] not in ("SWAP_FACE", "DESCRIBE"):  # one picture, or text
            data["buttons"] = _mj_buttons(task_id, task["action"])
    return data


def _is_image(value: Any) -> bool:
    return isinstance(value, str) and (value.startswith("data:image/") or value.startswith("http"))


def _checked(state: Any, action: str, valid: bool, needs: str) -> dict[str, Any]:
    """midjourney-proxy answers a body it cannot use with code 4 (validation error), HTTP 200."""
    if not valid:
        return {"code": 4, "description": f"{needs} required", "result": None}
    return _mj_submit(state, action)


def _blend(state: Any, body: dict[str, Any]) -> dict[str, Any]:
    images = body.get("base64Array") or []
    if not 2 <= len(images) <= 5 or not all(_is_image(i) for i in images):
        return {"code": 4, "description": "base64List parameter error", "result": None}
    if body.get("dimensions", "SQUARE") not in ("PORTRAIT", "SQUARE", "LANDSCAPE"):
        return {"code": 4, "description": "dimensions parameter error", "result": None}
    return _mj_submit(state, "BLEND")


def midjourney(state: Any, method: str, path: str, body: Any) -> Any:
    body = body or {}
    if method == "GET" and (m := re.fullmatch(r"/mj/task/([^/]+)/fetch", path)):
        return _mj_fetch(state, m.group(1))
    routes: dict[str, Callable[[], Any]] = {
        "/mj/submit/imagine": lambda: _mj_submit(state, "IMAGINE", body.get("prompt", "")),
        "/mj/submit/blend": lambda: _blend(state, body),
        "/mj/submit/describe": lambda: _checked(state, "DESCRIBE", _is_image(body.get("base64")), "base64"),
        "/mj/insight-face/swap": lambda: _checked(
            state,
            "SWAP_FACE",
            _is_image(body.get("sourceBase64")) and _is_image(body.get("targetBase64")),
            "sourceBase64 and targetBase64",
        ),
        "/mj/submit/modal": lambda: {
            "code": 1,
            "description": "Submit success",
            "result": body.get("taskId"),
        },
    }
    if path in routes:
        return routes[path]()
    if path == "/mj/submit/action":
        parent = state.tasks.get(body.get("taskId"))
        if parent is None:
            return {"code": 3, "description": "task not found", "result": None}
        custom_id = body.get("customId", "")
        action = "UPSCALE" if "upsample" in custom_id else "REROLL" if "reroll" in custom_id else "VARIATION"
        return _mj_submit(state, action, parent["prompt"], custom_id=custom_id)
    if path == "/mj/submit/change":
        parent = state.tasks.get(body.get("taskId"))
        if parent is None:
            return {"code": 3, "description": "task not found", "result": None}
        return _mj_submit(state, body.get("action", ""), parent["prompt"], index=body.get("index"))
    return missing("no such route")
