"""Does a value a client sent fit a field's annotation? One checker for every door's incoming events.

The native and Realtime events (voicechat/client_events.py) and the `wyoming` package's dataclasses
(voicechat/doors/wyoming_checks.py) are read from JSON that nothing has checked; each door turns a misfit
into its own error (an `error` event, a Wyoming `error`), this module only says whether it fits.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any


def fits(value: Any, hint: Any) -> bool:
    """Whether `value` fits the annotation `hint`.

    JSON's `true` is no number here (Python's `bool` is an `int`); a `float` field takes an integer; a
    `list[X]` is checked item by item and a dataclass field by field; other generics (`dict[str, Any]`)
    by their container type only. A hint that is no type (a TypeVar) takes anything.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and (not args or all(fits(item, args[0]) for item in value))
    if origin is not None:
        return isinstance(value, origin)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint) and fields_fit(value)
    return isinstance(value, hint) if isinstance(hint, type) else True


@functools.cache
def field_hints(cls: type) -> dict[str, Any]:
    """A dataclass's resolved annotations (resolving evaluates strings: once per class, not per event)."""
    return typing.get_type_hints(cls)


def fields_fit(item: Any) -> bool:
    """Whether every field of the dataclass instance `item` fits its annotation."""
    hints = field_hints(type(item))
    return all(fits(getattr(item, f.name), hints.get(f.name, Any)) for f in dataclasses.fields(item))
