"""Plain HTTP routes: conversations, media jobs and their lookup, reference-image uploads, and the
Viggle dance templates the page lists."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..events import openai_error
from ..media.pictures import template_name
from ..media.providers.base import ProviderError
from ..security import principal_user

MAX_UPLOAD_BYTES = 10 << 20
# Magic numbers, so a file is accepted for what it is, not for the name or type the client claims.
_IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}


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


def _image_type(data: bytes) -> str | None:
    for signature, ext in _IMAGE_SIGNATURES.items():
        if data.startswith(signature):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


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
    if len(data) > MAX_UPLOAD_BYTES:
        return error(413, "upload_too_large", f"uploads are limited to {MAX_UPLOAD_BYTES >> 20} MB")
    ext = _image_type(data)
    if ext is None:
        return error(415, "unsupported_image", "only PNG, JPEG, GIF and WebP images are accepted")
    upload_id = secrets.token_hex(12)
    (request.app.state.uploads_dir / f"{upload_id}.{ext}").write_bytes(data)
    prefix = request.app.state.media.files_url_prefix
    return JSONResponse({"id": upload_id, "url": f"{prefix}/uploads/{upload_id}.{ext}", "bytes": len(data)},
                        status_code=201)


async def viggle_templates(request: Request) -> JSONResponse:
    """The provider's dance templates: what "make this person dance like …" can name."""
    viggle = request.app.state.media.providers.get("viggle")
    listing = getattr(viggle, "templates", None)
    if listing is None:
        message = "Viggle is not set up; set VIGGLE_SERVER (or VOICECHAT_MEDIA_GATEWAY)"
        return error(404, "not_configured", message)
    try:
        templates = await listing()
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
