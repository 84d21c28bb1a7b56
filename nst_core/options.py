"""Typed options whose fields say how they are offered: one declaration for the UI, the client API and a CLI.

A settings dataclass declares each field with :func:`option`: a label, a help line, a range or a set of
choices, and a kind (``integer``, ``number``, ``choice``, ``integers``, ``flag``, ``model``). The app builds
one widget per field from it and names the client API's parameter after the field; a command line builds one
flag per field the same way; :func:`check_options` validates an instance against the same declarations.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InvalidInput

OptionKind = Literal["integer", "number", "choice", "integers", "flag", "model"]


@dataclass(frozen=True)
class Option:
    label: str
    kind: OptionKind
    info: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    max_count: int | None = None     # ``integers``: how many values at most


def option(default: Any, label: str, kind: OptionKind, info: str = "", **details: Any) -> Any:
    """A dataclass field with its :class:`Option` (use as ``name: type = option(...)``)."""
    return dataclasses.field(default=default, metadata={"option": Option(label, kind, info, **details)})


def options_of(cls_or_instance: Any) -> list[tuple[str, Option, Any]]:
    """``(field name, option, default)`` for every declared option of a settings dataclass, in order."""
    return [(f.name, f.metadata["option"], f.default) for f in dataclasses.fields(cls_or_instance)
            if "option" in f.metadata]


def check_options(instance: Any) -> None:
    """:class:`InvalidInput` naming the field for any value outside its declared range, choices or count."""
    for name, spec, _ in options_of(instance):
        value = getattr(instance, name)
        if spec.kind == "choice" and value not in spec.choices:
            raise InvalidInput(f"{name} must be one of {', '.join(spec.choices)} (got {value!r}).")
        if spec.kind in ("integer", "number"):
            _check_number(name, value, spec, integer=spec.kind == "integer")
        if spec.kind == "integers":
            if not isinstance(value, Sequence) or not value or (spec.max_count and len(value) > spec.max_count):
                raise InvalidInput(f"{name} takes 1 to {spec.max_count} whole numbers (got {value!r}).")
            for item in value:
                _check_number(name, item, spec, integer=True)
        if spec.kind == "model" and value is not None and not isinstance(value, str):
            raise InvalidInput(f"{name} must be a Hub repo id or a model file (got {type(value).__name__}).")


def _check_number(name: str, value: Any, spec: Option, *, integer: bool) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise InvalidInput(f"{name} must be a {'whole number' if integer else 'number'} (got {value!r}).")
    low = -math.inf if spec.minimum is None else spec.minimum
    high = math.inf if spec.maximum is None else spec.maximum
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low:g} and {high:g} (got {value!r}).")


def parse_integers(text: str, name: str) -> tuple[int, ...]:
    """'1024, 512' -> (1024, 512): the text form of an ``integers`` option, from a form field or a flag."""
    try:
        return tuple(int(part) for part in str(text).replace(";", ",").split(",") if part.strip())
    except ValueError:
        raise InvalidInput(f"{name} must be whole numbers separated by commas, e.g. '1024' or '1024, 1024' "
                           f"(got {text!r}).") from None
