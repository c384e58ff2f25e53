"""Client -> server events as dataclasses, each registered under its wire `type` in one `EventRegistry`.

The registry parses a client's JSON object into its event class, checking every field against the
dataclass's annotation, so a handler gets a checked event, never a dict to probe. The native vocabulary
(`NATIVE`, docs/protocol.md) lives here; the Realtime door registers OpenAI's client events in its own
registry of the same kind (doors/realtime_client.py). A test checks both against their docs.
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Generic, TypeVar

from .typecheck import field_hints, fits


class EventError(ValueError):
    """A client event that cannot be taken: `code` is the error event's code (`unknown_event`,
    `invalid_event`), the message says what the event needs."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ClientEvent:
    """One client -> server event. `check` adds what annotations cannot say (ranges, non-empty)."""

    type: ClassVar[str]
    needs: ClassVar[str] = ""  # how the error names what a malformed event lacks

    def check(self) -> None:
        """Raise `EventError` if the fields, each of the right type, still do not make sense together."""


E = TypeVar("E", bound=ClientEvent)
Context = TypeVar("Context")
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[None]])


class EventRegistry(Generic[Context]):
    """Wire type -> event class, and event class -> the handler that serves it on one door."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: dict[str, type[ClientEvent]] = {}
        self.handlers: dict[type[ClientEvent], Callable[[Context, Any], Awaitable[None]]] = {}

    def event(self, kind: str) -> Callable[[type[E]], type[E]]:
        """Class decorator: register a dataclass under its wire type."""

        def register(cls: type[E]) -> type[E]:
            cls.type = kind
            self.events[kind] = cls
            return cls

        return register

    def handles(self, cls: type[E]) -> Callable[[Handler], Handler]:
        """Method decorator: the handler of `cls` on this registry's door."""

        def register(handler: Handler) -> Handler:
            self.handlers[cls] = handler
            return handler

        return register

    def parse(self, data: dict[str, Any]) -> ClientEvent:
        """The event `data` is, checked; `EventError` says why it is not one."""
        kind = data.get("type")
        if not isinstance(kind, str):
            raise EventError("invalid_event", "an event is a JSON object with a string field `type`")
        cls = self.events.get(kind)
        if cls is None:
            raise EventError("unknown_event", f"unknown event type {kind!r}")
        hints, values = field_hints(cls), {}
        for f in fields(cls):
            if f.name in data:
                value = data[f.name]
            elif f.default is not MISSING or f.default_factory is not MISSING:
                continue
            else:
                raise EventError("invalid_event", cls.needs or f"`{kind}` needs a field `{f.name}`")
            if not fits(value, hints[f.name]):
                raise EventError("invalid_event", cls.needs or f"`{kind}`: `{f.name}` has the wrong type")
            values[f.name] = value
        event = cls(**values)
        event.check()
        return event

    async def dispatch(self, context: Context, data: dict[str, Any]) -> None:
        """Parse `data` and run its handler with `context` (the Session, the door's translator)."""
        event = self.parse(data)
        await self.handlers[type(event)](context, event)


NATIVE: EventRegistry[Any] = EventRegistry("native")


@NATIVE.event("session.update")
@dataclass
class SessionUpdate(ClientEvent):
    session: Any = None  # checked by protocol.SessionUpdate, whose errors say which setting is wrong


@NATIVE.event("input.commit")
@dataclass
class InputCommit(ClientEvent):
    pass


@NATIVE.event("input.clear")
@dataclass
class InputClear(ClientEvent):
    pass


@NATIVE.event("reply.cancel")
@dataclass
class ReplyCancel(ClientEvent):
    pass


@NATIVE.event("playback")
@dataclass
class Playback(ClientEvent):
    played_ms: float
    turn_id: Any = None  # an unknown or malformed id is a turn that is gone: nothing to do
    done: Any = False
    needs: ClassVar[str] = "`playback` needs a non-negative number `played_ms`"

    def check(self) -> None:
        if self.played_ms < 0:
            raise EventError("invalid_event", self.needs)


@NATIVE.event("text")
@dataclass
class Text(ClientEvent):
    text: str
    needs: ClassVar[str] = "`text` needs a non-empty string field `text`"

    def check(self) -> None:
        if not self.text.strip():
            raise EventError("invalid_event", self.needs)


@NATIVE.event("conversation.get")
@dataclass
class ConversationGet(ClientEvent):
    pass


@NATIVE.event("ping")
@dataclass
class Ping(ClientEvent):
    id: Any = None


@NATIVE.event("media.action")
@dataclass
class MediaAction(ClientEvent):
    job_id: str
    action: typing.Literal["upscale", "variation", "reroll"]
    index: int = 0
    needs: ClassVar[str] = ("`media.action` needs `job_id`, `action` (upscale|variation|reroll) and `index` "
                            "1-4 (0 for reroll)")

    def check(self) -> None:
        if not 0 <= self.index <= 4:
            raise EventError("invalid_event", self.needs)


@NATIVE.event("media.attach")
@dataclass
class MediaAttach(ClientEvent):
    upload_ids: Any = None  # checked against the user's uploads by the media bridge
