"""Reference pictures the user attaches (blend, face swap, describe, Viggle, picture to video), stored once.

Every door stores them the same way: `POST /api/uploads` (the page, native clients) and the Realtime door's
`input_image` content parts (a data URL). A file is accepted for what its bytes are, not for the name or
type the client claims, and gets a random id; `media.attach` (or the Realtime item) then attaches ids.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from pathlib import Path

MAX_UPLOAD_BYTES = 10 << 20
# Magic numbers, so a file is accepted for what it is, not for the name or type the client claims.
_IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


class UploadRefused(ValueError):
    """A picture we do not take: `code` and `status` for the error, the message says what is accepted."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Upload:
    id: str
    filename: str  # under the uploads folder, served at <files prefix>/uploads/<filename>
    size: int


def image_type(data: bytes) -> str | None:
    """The image type the bytes say they are (`image/png`, JPEG, GIF, WebP), or None."""
    for signature, mime in _IMAGE_SIGNATURES.items():
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_extension(data: bytes) -> str | None:
    """The file extension the bytes say they are (png, jpg, gif, webp), or None."""
    mime = image_type(data)
    return _EXTENSIONS[mime] if mime else None


def too_large() -> UploadRefused:
    return UploadRefused(413, "upload_too_large", f"uploads are limited to {MAX_UPLOAD_BYTES >> 20} MB")


def save_upload(uploads_dir: Path, data: bytes) -> Upload:
    """Store one picture; `UploadRefused` if it is too large or not an image we take."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise too_large()
    ext = image_extension(data)
    if ext is None:
        raise UploadRefused(415, "unsupported_image", "only PNG, JPEG, GIF and WebP images are accepted")
    upload_id = secrets.token_hex(12)
    upload = Upload(upload_id, f"{upload_id}.{ext}", len(data))
    uploads_dir.mkdir(parents=True, exist_ok=True)
    (uploads_dir / upload.filename).write_bytes(data)
    return upload


def save_data_url(uploads_dir: Path, url: str) -> Upload:
    """Store a picture given as a `data:image/...;base64,...` URL (what Realtime clients send)."""
    header, comma, payload = url.partition(",")
    if not (header.startswith("data:") and header.endswith(";base64") and comma):
        raise UploadRefused(400, "unsupported_image",
                            "a picture is a data URL (data:image/png;base64,...); links are not fetched")
    if len(payload) > (MAX_UPLOAD_BYTES * 4) // 3 + 4:
        raise too_large()  # before decoding it
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise UploadRefused(400, "unsupported_image", "the picture's data URL is not valid base64") from None
    return save_upload(uploads_dir, data)
