"""Plain HTTP routes: conversations, media jobs and their lookup, reference-image uploads, and the
Viggle dance templates the page lists."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..events import openai_error
from ..media.pictures import template_name
from ..media.providers.base import ListsTemplates, ProviderError
from ..media.uploads import MAX_UPLOAD_BYTES, UploadRefused, save_upload
from ..security import principal_user
from ..server_state import server_state


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """OpenAI-shaped error body, so one client-side handler fits every route."""
    return JSONResponse(openai_error(status, code, message), status_code=status, headers=headers)


def _limit(request: Request) -> int | None:
    """The `limit` query parameter, 1-100 (default 20); None when it is not a number."""
    try:
        return max(1, min(100, int(request.query_params.get("limit", "20"))))
    except ValueError:
        return None


_BAD_LIMIT = (400, "invalid_limit", "limit must be a whole number from 1 to 100")


def _owner(request: Request) -> str:
    return principal_user(request.state)


async def list_jobs(request: Request) -> JSONResponse:
    limit = _limit(request)
    if limit is None:
        return error(*_BAD_LIMIT)
    jobs = await request.app.state.media.list(_owner(request), limit=limit)
    return JSONResponse({"jobs": [job.to_public_dict() for job in jobs]})


async def get_job(request: Request) -> JSONResponse:
    job = await request.app.state.media.get(request.path_params["job_id"])
    if job is None or job.owner != _owner(request):
        return error(404, "job_not_found", "no such job")
    return JSONResponse(job.to_public_dict())


async def upload(request: Request) -> JSONResponse:
    """Store a reference image (face swap, blend, Viggle, image to video); answer its id and URL."""
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_UPLOAD_BYTES + 64 * 1024:
        return error(413, "upload_too_large", f"uploads are limited to {MAX_UPLOAD_BYTES >> 20} MB")
    try:
        form = await request.form(max_files=1, max_fields=4)
    except Exception:
        return error(400, "invalid_upload", "send multipart/form-data with one `file` field")
    field: Any = form.get("file")
    if field is None or isinstance(field, str):
        return error(400, "invalid_upload", "send multipart/form-data with one `file` field")
    data = await field.read(MAX_UPLOAD_BYTES + 1)
    state = server_state(request.app)
    try:
        saved = save_upload(state.uploads_dir, data)
    except UploadRefused as exc:
        return error(exc.status, exc.code, exc.message)
    prefix = state.media.files_url_prefix
    return JSONResponse({"id": saved.id, "url": f"{prefix}/uploads/{saved.filename}", "bytes": saved.size},
                        status_code=201)


async def viggle_templates(request: Request) -> JSONResponse:
    """The provider's dance templates: what "make this person dance like …" can name."""
    viggle = server_state(request.app).media.providers.get("viggle")
    if not isinstance(viggle, ListsTemplates):
        message = "Viggle is not set up; set VIGGLE_SERVER (or VOICECHAT_MEDIA_GATEWAY)"
        return error(404, "not_configured", message)
    try:
        templates = await viggle.templates()
    except ProviderError as exc:
        return error(502, exc.code, exc.message)
    listed = [
        {"id": str(t["id"]), "name": template_name(t), "cover": t.get("processedCoverURL") or "",
         "preview": t.get("processedURL") or ""}
        for t in templates
    ]  # fmt: skip
    return JSONResponse({"templates": listed})


async def list_conversations(request: Request) -> JSONResponse:
    limit = _limit(request)
    if limit is None:
        return error(*_BAD_LIMIT)
    found = await request.app.state.store.conversations(_owner(request), limit)
    return JSONResponse({"conversations": found})


async def get_conversation(request: Request) -> JSONResponse:
    conversation_id = request.path_params["conversation_id"]
    found = await request.app.state.store.conversation(conversation_id, _owner(request))
    if found is None:
        return error(404, "conversation_not_found", "no such conversation")
    return JSONResponse(found)


conversation_routes = [
    Route("/api/conversations", list_conversations),
    Route("/api/conversations/{conversation_id}", get_conversation),
]

media_routes = [
    Route("/api/jobs", list_jobs),
    Route("/api/jobs/{job_id}", get_job),
    Route("/api/uploads", upload, methods=["POST"]),
    Route("/api/media/viggle/templates", viggle_templates),
]
