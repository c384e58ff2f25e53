"""One adapter per media provider; `ADAPTERS` maps our provider names to their classes."""

from __future__ import annotations

from voicechat.media.providers.base import (
    BaseAdapter,
    MediaProvider,
    ProviderError,
    ProviderHTTP,
    ProviderUpdate,
)
from voicechat.media.providers.ideogram import IdeogramAdapter
from voicechat.media.providers.kling import KlingAdapter
from voicechat.media.providers.luma import LumaAdapter
from voicechat.media.providers.midjourney import MidjourneyAdapter
from voicechat.media.providers.openai_images import OpenAIImagesAdapter
from voicechat.media.providers.pika import PikaAdapter
from voicechat.media.providers.pixverse import PixVerseAdapter
from voicechat.media.providers.runway import RunwayAdapter
from voicechat.media.providers.runwayml import RunwayMLAdapter
from voicechat.media.providers.suno import SunoAdapter
from voicechat.media.providers.udio import UdioAdapter
from voicechat.media.providers.viggle import ViggleAdapter

# Order matters: within a kind, earlier providers are preferred as the default.
ADAPTERS: dict[str, type[BaseAdapter]] = {
    cls.name: cls
    for cls in (
        MidjourneyAdapter,
        OpenAIImagesAdapter,
        IdeogramAdapter,
        SunoAdapter,
        UdioAdapter,
        LumaAdapter,
        KlingAdapter,
        RunwayMLAdapter,
        RunwayAdapter,
        PikaAdapter,
        PixVerseAdapter,
        ViggleAdapter,
    )
}

__all__ = ["ADAPTERS", "BaseAdapter", "MediaProvider", "ProviderError", "ProviderHTTP", "ProviderUpdate"]
