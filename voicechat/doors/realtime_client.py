"""OpenAI Realtime client events as dataclasses in one registry (`REALTIME`), the same kind as the native
one (voicechat/client_events.py). The translator in doors/realtime.py registers one handler per class.

docs/realtime.md lists what is served; a test keeps that list and this registry the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..client_events import ClientEvent, EventRegistry

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
