"""Typed options whose fields say how they are offered: one declaration for the UI, the client API and a CLI.

Any settings dataclass becomes command-line flags with :func:`add_flags` (one per field, typed from its
annotation) and back with :func:`from_flags`. A backend's options dataclass declares each field with
:func:`option`: a label, a help line, a range or a set of
choices, and a kind (``integer``, ``number``, ``choice``, ``integers``, ``flag``, ``model``). The app builds
one widget per field from it and names the client API's parameter after the field; a command line builds one
flag per field the same way; :func:`check_options` validates an instance against the same declarations.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
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


def described(default: Any, help_text: str, *, choices: tuple[str, ...] | None = None) -> Any:
    """A settings field with the help line (and, for a free-form string, the choices) its flag shows."""
    metadata: dict[str, Any] = {"help": help_text}
    if choices is not None:
        metadata["choices"] = choices
    return dataclasses.field(default=default, metadata=metadata)


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


# --------------------------------------------------------------------------- command-line flags

def _flag_type(hint: Any) -> tuple[type, tuple | None, bool, bool]:
    """(element type, choices, takes several values, may be None) of a settings field's type hint."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        arguments = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(arguments) < len(typing.get_args(hint))
        hint = arguments[0] if len(arguments) == 1 else str
    several = typing.get_origin(hint) is tuple
    if several:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        return type(choices[0]), tuple(choices), several, optional
    return (hint if hint in (int, float, str, bool) else str), None, several, optional


def _parser_for(kind: type, optional: bool) -> Any:
    def parse(text: str) -> Any:
        if optional and text.lower() == "none":
            return None
        return kind(text)

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type,
              skip: Sequence[str] = ()) -> list[str]:
    """One ``--flag`` per field of the settings dataclass ``cls`` (typed, with choices); returns the field names.

    Flags left out keep the dataclass's default; ``none`` sets an optional field to None.
    """
    hints = typing.get_type_hints(cls)
    names = []
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        kind, choices, several, optional = _flag_type(hints[f.name])
        spec = f.metadata.get("option")
        text = f"{spec.label}{': ' + spec.info if spec.info else ''}" if spec else f.metadata.get("help", "")
        choices = choices or f.metadata.get("choices") or (spec.choices if spec and spec.choices else None)
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = "none" if default is None else ", ".join(map(str, default)) if isinstance(default, tuple) else default
        text = f"{text}. " if text else ""
        flag = "--" + f.name.replace("_", "-")
        if kind is bool and not several:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=f"{text}(default: {shown})")
        else:
            parser.add_argument(flag, type=_parser_for(kind, optional), choices=choices, default=argparse.SUPPRESS,
                                nargs="+" if several else None, metavar=f.name.upper() if not choices else None,
                                help=f"{text}(default: {shown}{'; give none to unset' if optional else ''})")
        names.append(f.name)
    return names


def from_flags(cls: type, values: argparse.Namespace | dict, **extra: Any) -> Any:
    """An instance of ``cls`` from the flags :func:`add_flags` made (those given) plus ``extra``."""
    given = vars(values) if isinstance(values, argparse.Namespace) else values
    def value(raw: Any) -> Any:
        if isinstance(raw, list):  # several values; "none" alone clears an optional one
            return None if raw == [None] else tuple(raw)
        return raw

    kwargs = {f.name: value(given[f.name]) for f in dataclasses.fields(cls) if f.name in given}
    return cls(**{**kwargs, **extra})


def whole(value: object, name: str) -> int:
    """A whole number from a widget or a client's raw JSON; a readable refusal for NaN, infinity or text."""
    number = real(value, name)
    if number != int(number):
        raise InvalidInput(f"{name} must be a whole number (got {value!r}).")
    return int(number)


def real(value: object, name: str) -> float:
    """A finite number from a widget or a client's raw JSON; a readable refusal for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(f"{name} must be a number (got {value!r}).")
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a number (got {value!r}).") from None
    if not math.isfinite(number):
        raise InvalidInput(f"{name} must be a finite number (got {value!r}).")
    return number
