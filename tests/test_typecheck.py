"""The one checker every door's incoming event fields go through (voicechat/typecheck.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from voicechat.typecheck import fields_fit, fits


@dataclass
class Shape:
    rate: int
    channels: int | None = None


@dataclass
class Holder:
    shape: Shape
    names: list[str]


def test_json_true_is_no_number_but_an_integer_is_a_float():
    assert fits(3, int) and not fits(True, int) and not fits(3.0, int)
    assert fits(3, float) and fits(2.5, float) and not fits(False, float)
    assert fits(True, bool)


def test_optional_union_literal_and_any():
    assert fits(None, int | None) and fits(4, int | None) and not fits("4", int | None)
    assert fits("reroll", Literal["upscale", "reroll"]) and not fits("zoom", Literal["upscale", "reroll"])
    assert fits(object(), Any)


def test_lists_are_checked_item_by_item_and_other_generics_by_container():
    assert fits(["a", "b"], list[str]) and not fits(["a", 2], list[str]) and not fits("ab", list[str])
    assert fits({"any": object()}, dict[str, Any]) and not fits([], dict[str, Any])


def test_dataclasses_are_checked_field_by_field_nested_too():
    assert fields_fit(Holder(Shape(16000, 1), ["x"]))
    assert not fields_fit(Holder(Shape(True, 1), ["x"]))  # type: ignore[arg-type]
    assert not fields_fit(Holder(Shape(16000, "one"), ["x"]))  # type: ignore[arg-type]
    assert not fits(Shape(16000), Holder)
