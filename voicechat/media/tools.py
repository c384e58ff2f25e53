"""Media as tools for chat models that call functions: `MEDIA_TOOLS`, and a call of one back to a route.

The deterministic router (router.py) catches plain requests before the model; these tools catch what it
misses, from models that support function calling.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .jobs import Job, MediaKind
from .router import ActionRoute, ChatRoute, MediaRoute, Route, latest_grid, provider_named


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
        provider = provider_named(str(provider)) if provider else None
        return MediaRoute(
            _TOOL_KINDS[name],
            str(args.get("prompt", "")).strip(),
            provider,
            options,
            source_job_id=args.get("image_job_id"),
        )
    if name == "act_on_media":
        job_id = args.get("job_id") or getattr(latest_grid(recent_jobs), "id", None)
        if job_id and args.get("action") in ("upscale", "variation", "reroll"):
            return ActionRoute(job_id, args["action"], int(args.get("index") or 0))
    return ChatRoute("")
