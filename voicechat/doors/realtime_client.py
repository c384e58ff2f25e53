"""OpenAI Realtime client events as dataclasses in one registry (`REALTIME`), the same kind as the native
one (voicechat/client_events.py). The translator in doors/realtime.py registers one handler per class.
Pictures in a user item (`input_image` parts) take the native door's path: stored as uploads, attached.

docs/realtime.md lists what is served; a test keeps that list and this registry the same.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from .. import client_events as native
from ..client_events import ClientEvent, EventRegistry
from ..media.bridge import MAX_ATTACHMENTS
from ..media.uploads import UploadRefused, save_data_url
from ..session import Session, SessionError

REALTIME: EventRegistry[Any] = EventRegistry("realtime")


@dataclass
class RealtimeEvent(ClientEvent):
    event_id: Any = None  # the client's id, echoed in the `error` an event causes


@REALTIME.event("session.update")
@dataclass
class SessionUpdate(RealtimeEvent):
    session: Any = None  # GA or beta shape: translated (and checked) by realtime_events.session_update_from


@REALTIME.event("input_audio_buffer.append")
@dataclass
class InputAudioBufferAppend(RealtimeEvent):
    audio: str = ""  # base64


@REALTIME.event("input_audio_buffer.commit")
@dataclass
class InputAudioBufferCommit(RealtimeEvent):
    pass


@REALTIME.event("input_audio_buffer.clear")
@dataclass
class InputAudioBufferClear(RealtimeEvent):
    pass


@REALTIME.event("conversation.item.create")
@dataclass
class ConversationItemCreate(RealtimeEvent):
    item: dict[str, Any] | None = None
    previous_item_id: str | None = None


@REALTIME.event("conversation.item.retrieve")
@dataclass
class ConversationItemRetrieve(RealtimeEvent):
    item_id: Any = None  # an unknown id is answered with `item_not_found`


@REALTIME.event("conversation.item.truncate")
@dataclass
class ConversationItemTruncate(RealtimeEvent):
    item_id: Any = None
    audio_end_ms: Any = None  # checked with the item: only assistant items, at audio_end_ms >= 0
    content_index: int = 0


@REALTIME.event("conversation.item.delete")
@dataclass
class ConversationItemDelete(RealtimeEvent):
    item_id: Any = None


@REALTIME.event("response.create")
@dataclass
class ResponseCreate(RealtimeEvent):
    response: dict[str, Any] | None = None


@REALTIME.event("response.cancel")
@dataclass
class ResponseCancel(RealtimeEvent):
    response_id: str | None = None


async def attach_pictures(session: Session, urls: list[Any]) -> tuple[str, ...]:
    """`input_image` data URLs stored as uploads and attached to the session's next media request, the
    same as `POST /api/uploads` + `media.attach` on the native door; their file URLs, for the echoed item."""
    media = session.media
    if media is None or session.uploads_dir is None:
        raise SessionError("media_unavailable", "media generation is not enabled on this server")
    if len(urls) > MAX_ATTACHMENTS:
        raise SessionError("invalid_event", f"at most {MAX_ATTACHMENTS} pictures can be attached")
    if not all(isinstance(url, str) for url in urls):
        raise SessionError("invalid_event", "an `input_image` part needs `image_url`, a data URL")
    folder = session.uploads_dir
    try:
        saved = [await asyncio.to_thread(save_data_url, folder, url) for url in urls]
    except UploadRefused as exc:
        raise SessionError(exc.code, exc.message) from None
    await session.handle(native.MediaAttach([upload.id for upload in saved]))
    return tuple(f"{media.files_url_prefix}/uploads/{upload.filename}" for upload in saved)
