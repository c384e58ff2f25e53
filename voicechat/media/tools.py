"""Media tools offered to a chat model that calls functions, and turning its calls into routes.

The deterministic router (`router.py`) catches what it can before the model is asked; these tools are
for what it misses ("I would love to see the sunset over Paris as a watercolor").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from voicechat.media import picture_intents
from voicechat.media.jobs import Job, MediaKind
from voicechat.media.router import PROVIDERS, latest_grid, picture_route
from voicechat.media.routes import ActionRoute, ChatRoute, MediaRoute, Route


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


_PROVIDER_PROP = {"type": "string", "description": "Only if the user named one, e.g. midjourney, suno, luma."}
MEDIA_TOOLS: list[dict[str, Any]] = [
    _tool(
        "generate_image",
        "Draw a picture the user asked for. Takes a minute; the user is told when it is ready.",
        {
            "prompt": {
                "type": "string",
                "description": "What to draw, in the user's words, without 'draw me'.",
            },
            "aspect_ratio": {"type": "string", "enum": ["1:1", "16:9", "9:16", "4:3", "3:4"]},
            "provider": _PROVIDER_PROP,
        },
        ["prompt"],
    ),
    _tool(
        "generate_music",
        "Make a song the user asked for.",
        {
            "prompt": {
                "type": "string",
                "description": "Style and subject, e.g. 'a jazzy song about Sunday'.",
            },
            "lyrics": {"type": "string", "description": "Only if the user dictated lyrics."},
            "title": {"type": "string"},
            "instrumental": {"type": "boolean"},
            "provider": _PROVIDER_PROP,
        },
        ["prompt"],
    ),
    _tool(
        "generate_video",
        "Make a short video the user asked for.",
        {
            "prompt": {"type": "string", "description": "What happens in the video."},
            "image_job_id": {"type": "string", "description": "A finished picture job to animate, if any."},
            "provider": _PROVIDER_PROP,
        },
        ["prompt"],
    ),
    _tool(
        "act_on_media",
        "Upscale or vary one picture of the last Midjourney grid, or draw the grid again.",
        {
            "action": {"type": "string", "enum": ["upscale", "variation", "reroll"]},
            "index": {"type": "integer", "minimum": 0, "maximum": 4, "description": "1-4; 0 for reroll."},
            "job_id": {"type": "string", "description": "Omit to use the most recent grid."},
        },
        ["action"],
    ),
]
MEDIA_TOOLS.append(
    _tool(
        "use_pictures",
        "Work on the pictures the user attached (or the last picture made): blend them into one, put the "
        "face from one picture onto another, describe a picture as prompts, make the person in a picture "
        "dance like a Viggle dance template, or turn a picture into a video.",
        {
            "action": {"type": "string", "enum": list(picture_intents.NEEDS)},
            "face_from": {
                "type": "integer",
                "enum": [1, 2],
                "description": "Face swap: which picture has the face (the other gets it); default 1.",
            },
            "template": {"type": "string", "description": "Dance: the template the user named, if any."},
            "prompt": {"type": "string", "description": "Video: what should happen, if the user said."},
            "provider": _PROVIDER_PROP,
        },
        ["action"],
    )
)
_TOOL_KINDS = {
    "generate_image": MediaKind.IMAGE,
    "generate_music": MediaKind.MUSIC,
    "generate_video": MediaKind.VIDEO,
}


def route_from_tool_call(
    name: str, arguments: str | dict[str, Any], recent_jobs: Sequence[Job] = ()
) -> Route:
    """Turn a chat model's call of one of `MEDIA_TOOLS` into a route (ChatRoute if it makes no sense)."""
    args = json.loads(arguments or "{}") if isinstance(arguments, str) else dict(arguments)
    if name in _TOOL_KINDS:
        options = {k: args[k] for k in ("aspect_ratio", "lyrics", "title", "instrumental") if k in args}
        provider = args.get("provider")
        provider = PROVIDERS.get(str(provider).lower()) if provider else None
        return MediaRoute(
            _TOOL_KINDS[name],
            str(args.get("prompt", "")).strip(),
            provider,
            options,
            source_job_id=args.get("image_job_id"),
        )
    if name == "use_pictures" and args.get("action") in picture_intents.NEEDS:
        action = str(args["action"])
        options: dict[str, Any] = {"uses_pictures": action}
        if action == "face_swap":
            options["face_from"] = 2 if args.get("face_from") == 2 else 1
        template = str(args.get("template") or "").strip()
        if action == "dance":
            options["template"] = template
        provider = args.get("provider")
        hint = PROVIDERS.get(str(provider).lower()) if provider else None
        prompt = template if action == "dance" else str(args.get("prompt") or "").strip()
        intent = {"action": action, "prompt": prompt, "options": options}
        return picture_route(intent, hint, recent_jobs)
    if name == "act_on_media":
        grid = latest_grid(recent_jobs)
        job_id = args.get("job_id") or (grid.id if grid is not None else None)
        if job_id and args.get("action") in ("upscale", "variation", "reroll"):
            return ActionRoute(job_id, args["action"], int(args.get("index") or 0))
    return ChatRoute("")
