"""Media by voice: pictures, music and videos from many providers behind one Job lifecycle.

`MediaService` persists jobs (`JobStore`, SQLite), drives them with one poller, and streams updates
to subscribers; provider adapters (`voicechat.media.providers`) only map wire formats onto `Job`.
"""

from voicechat.media.config import MediaSettings, NotConfigured, ProviderSet, build_providers
from voicechat.media.jobs import Job, JobStatus, MediaKind, MediaRequest
from voicechat.media.providers.base import MediaProvider, ProviderError, ProviderUpdate
from voicechat.media.service import MediaError, MediaService
from voicechat.media.speech import acknowledgement, completion
from voicechat.media.store import JobStore

__all__ = [
    "Job",
    "JobStatus",
    "JobStore",
    "MediaError",
    "MediaKind",
    "MediaProvider",
    "MediaRequest",
    "MediaService",
    "MediaSettings",
    "NotConfigured",
    "ProviderError",
    "ProviderSet",
    "ProviderUpdate",
    "acknowledgement",
    "build_providers",
    "completion",
]
