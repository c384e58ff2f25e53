"""A reference picture as bytes, for providers that only take uploads (Viggle's `/asset/image`).

Pictures reach a request as data URLs (the user's uploads) or as http(s) URLs (a finished job's result on
a provider's CDN, "make the person in that picture dance"). A URL is fetched here with limits: a time
limit, a size limit, a few redirects, and the answer must be an image. It is fetched with a client of its
own, so the provider's key is never sent to whatever host serves the picture.
"""

from __future__ import annotations

import httpx

from voicechat.media.providers.base import ProviderError, decode_data_url
from voicechat.media.uploads import MAX_UPLOAD_BYTES, image_type

MAX_PICTURE_BYTES = MAX_UPLOAD_BYTES  # the same limit as an upload to POST /api/uploads
FETCH_TIMEOUT_S = 20.0
MAX_REDIRECTS = 3


async def picture_bytes(image: str, *, transport: httpx.AsyncBaseTransport | None = None,
                        timeout_s: float = FETCH_TIMEOUT_S) -> tuple[str, bytes]:
    """(mime type, bytes) of a data URL or an http(s) picture URL; ProviderError saying what is wrong."""
    if image.startswith("data:"):
        return decode_data_url(image)
    url = httpx.URL(image) if image.startswith(("http://", "https://")) else None
    if url is None or not url.host:
        raise ProviderError("needs_image", "the picture must be an uploaded image or an http(s) URL")
    where = url.host
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                                     transport=transport) as client:
            async with client.stream("GET", url, headers={"Accept": "image/*"}) as response:
                if response.status_code != 200:
                    raise ProviderError("image_unreachable", f"the picture at {where} could not be fetched "
                                        f"(HTTP {response.status_code})")
                declared = int(response.headers.get("content-length") or 0)
                if declared > MAX_PICTURE_BYTES:
                    raise _too_large(where)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_PICTURE_BYTES:
                        raise _too_large(where)
    except httpx.TimeoutException:
        raise ProviderError("image_unreachable",
                            f"the picture at {where} did not arrive within {timeout_s:g} seconds") from None
    except httpx.TooManyRedirects:
        raise ProviderError("image_unreachable", f"the picture at {where} redirects too often") from None
    except httpx.HTTPError as exc:
        raise ProviderError("image_unreachable",
                            f"the picture at {where} could not be fetched ({type(exc).__name__})") from None
    mime = image_type(bytes(data))
    if mime is None:
        kind = response.headers.get("content-type", "unknown").split(";")[0]
        raise ProviderError("unsupported_image", f"the picture at {where} is not a PNG, JPEG, GIF or WebP "
                            f"image (it is {kind})")
    return mime, bytes(data)


def _too_large(where: str) -> ProviderError:
    return ProviderError("image_too_large",
                         f"the picture at {where} is over the {MAX_PICTURE_BYTES >> 20} MB limit")
