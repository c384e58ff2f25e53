"""Helpers shared by the fake gateway's route modules."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

CDN = "https://cdn.example.test"


def new_task(state: Any, provider: str, **info: Any) -> str:
    state.counter += 1
    task_id = f"{provider[:3]}{1754743024000000 + state.counter}"
    state.tasks[task_id] = {"provider": provider, "polls": 0, **info}
    return task_id


def step_task(state: Any, task_id: str, steps: int) -> tuple[dict[str, Any], int, bool]:
    """Advance a task one poll: (task, step index, failed?). The last step (steps - 1) is the end."""
    task = state.tasks[task_id]
    task["polls"] += 1
    last = steps - 1
    step = min(task["polls"] - 1, last)
    if task["provider"] in state.stuck:
        step = min(step, last - 1)
    failed = step == last and task["provider"] in state.fail_with
    return task, step, failed


def missing(message: str = "task not found") -> Response:
    return JSONResponse({"error": {"message": message}}, status_code=404)
