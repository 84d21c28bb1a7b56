"""Settings declared once: each field of a settings dataclass says how it is offered and what it accepts.

A field made with :func:`setting` carries a :class:`Setting`: its label, a help line, its range (minimum,
maximum, step, unit) or its choices (taken from its ``Literal`` type, or given for a registry's names), which
panel offers it (``basic``, ``advanced``, or ``engine``: the library and the command line only) and the
server budget that narrows its maximum. Its *kind* comes from the type hint (``integer``, ``number``, ``flag``,
``choice``, ``integers``, ``numbers``, ``names``, ``text``; ``model`` and ``picture`` where the setting says so;
``None`` in the union makes it optional).

From these declarations come :func:`check_settings` (the one validator of every job), the command-line flags
(:func:`add_flags` / :func:`from_flags`), and, in the app, the widgets, the client API's parameters and the
MCP tools' schemas. Fields without a declaration (a mask, a backend's options object) are checked by their job.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InvalidInput, shown

Panel = Literal["basic", "advanced", "engine"]
Kind = Literal["integer", "number", "flag", "choice", "integers", "numbers", "names", "text", "model", "picture"]
Limits = Callable[[str], float | None]  # a budget's limit by name (None: lifted), e.g. ``Budget.limit``


@dataclass(frozen=True)
class Setting:
    label: str
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    unit: str = ""                    # shown after numbers: " px", " s"
    panel: Panel = "engine"
    choices: tuple = ()               # for a field whose type is not a Literal (a registry's names)
    choice_labels: tuple[str, ...] = ()  # what a person sees for each choice, in the same order
    max_count: int | None = None      # tuple fields: how many values at most
    budget: str | None = None         # the server budget limit that narrows ``maximum``
    kind: Kind | None = None          # where the type does not say: ``model`` (an upload or a Hub repo id) or
                                      # ``picture`` (a file or an array, decoded and checked by its job)
    example: Any = None               # a value worth showing where the default is None (the client API's page)


def setting(default: Any, label: str, help: str = "", **details: Any) -> Any:  # noqa: A002 - the field's help
    """A dataclass field with its :class:`Setting` (``name: type = setting(default, label, help, ...)``)."""
    return dataclasses.field(default=default, metadata={"setting": Setting(label, help, **details)})


@dataclass(frozen=True)
class Declared:
    """One declared field of a settings dataclass, with what its type says."""

    name: str
    setting: Setting
    default: Any
    kind: Kind
    optional: bool
    choices: tuple

    def maximum(self, limits: Limits | None = None) -> float | None:
        """The declared maximum, narrowed by the budget limit the field names (when ``limits`` is given)."""
        limit = limits(self.setting.budget) if limits and self.setting.budget else None
        if limit is None:
            return self.setting.maximum
        return limit if self.setting.maximum is None else min(self.setting.maximum, limit)

    def offered(self) -> bool:
        return self.setting.panel != "engine"


@functools.cache
def declarations(cls: type) -> tuple[Declared, ...]:
    """Every declared field of the settings dataclass ``cls``, in order."""
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("setting")
        if spec is None:
            continue
        kind, optional, choices = _kind_of(hints[f.name], spec)
        found.append(Declared(f.name, spec, f.default, kind, optional, choices))
    return tuple(found)


def declared(cls: type, name: str) -> Declared:
    return next(d for d in declarations(cls) if d.name == name)


def _kind_of(hint: Any, spec: Setting) -> tuple[Kind, bool, tuple]:
    optional = False
    if spec.kind is not None:
        return spec.kind, True, ()
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        arguments = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(arguments) < len(typing.get_args(hint))
        hint = arguments[0]
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return {int: "integers", float: "numbers"}.get(item, "names"), optional, ()
    if typing.get_origin(hint) is Literal:
        return "choice", optional, typing.get_args(hint)
    if spec.choices:
        return "choice", optional, spec.choices
    kinds: dict[Any, Kind] = {bool: "flag", int: "integer", float: "number"}
    return kinds.get(hint, "text"), optional, ()


def check_settings(instance: Any, limits: Limits | None = None) -> None:
    """:class:`InvalidInput` naming the field for any declared value of the wrong type, outside its range
    (narrowed by ``limits`` on a server) or not among its choices. The one validator of every job."""
    for field in declarations(type(instance)):
        value = getattr(instance, field.name)
        if value is None and field.optional:
            continue
        _check_value(field, value, limits)


def _check_value(field: Declared, value: Any, limits: Limits | None) -> None:
    name = field.name
    if field.kind == "choice":
        if value not in field.choices:
            raise InvalidInput(f"{name} must be one of {', '.join(map(str, field.choices))} (got {shown(value)}).")
    elif field.kind == "flag":
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false (got {shown(value)}).")
    elif field.kind in ("integers", "numbers"):
        count = field.setting.max_count
        if not isinstance(value, (tuple, list)) or not value or (count and len(value) > count):
            raise InvalidInput(f"{name} takes 1 to {count or 'any number of'} "
                               f"{'whole numbers' if field.kind == 'integers' else 'numbers'} (got {shown(value)}).")
        for item in value:
            _check_number(field, item, limits, integer=field.kind == "integers")
    elif field.kind in ("integer", "number"):
        _check_number(field, value, limits, integer=field.kind == "integer")
    elif field.kind == "names":
        if not isinstance(value, (tuple, list)) or not all(isinstance(item, str) for item in value):
            raise InvalidInput(f"{name} takes names (got {shown(value)}).")
    elif field.kind == "model":
        if not isinstance(value, str) and not hasattr(value, "files"):  # text, or a sources.ModelSource
            raise InvalidInput(f"{name} must be a Hub repo id or a model file (got {type(value).__name__}).")
    elif field.kind == "text" and not isinstance(value, str):
        raise InvalidInput(f"{name} must be text (got {type(value).__name__}).")


def _check_number(field: Declared, value: Any, limits: Limits | None, *, integer: bool) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise InvalidInput(f"{field.name} must be a {'whole number' if integer else 'finite number'} "
                           f"(got {shown(value)}).")
    unit = field.setting.unit
    low = -math.inf if field.setting.minimum is None else field.setting.minimum
    high = field.maximum(limits)
    high = math.inf if high is None else high
    declared_high = math.inf if field.setting.maximum is None else field.setting.maximum
    if value > high and high < declared_high:  # within what the engine takes, beyond what this server allows
        raise InvalidInput(f"{field.name} is {value:g}{unit}; this server allows {high:g}{unit} at most: choose "
                           f"a smaller {field.setting.label.lower()}.")
    if value < low or value > high:
        raise InvalidInput(f"{field.name} must be between {low:g} and {high:g}{unit} (got {value:g}{unit}).")


def parse_numbers(text: object, name: str, *, integer: bool) -> tuple:
    """'1024, 512' -> (1024, 512): the text form of a tuple field, from a form field or a client's JSON."""
    if isinstance(text, (list, tuple)):
        parts: Sequence = text
    else:
        parts = [part.strip() for part in str(text).replace(";", ",").split(",") if part.strip()]
    return tuple((whole if integer else real)(part, name) for part in parts)


def parse_integers(text: object, name: str) -> tuple[int, ...]:
    return parse_numbers(text, name, integer=True)


def whole(value: object, name: str) -> int:
    """A whole number from a widget or a client's raw JSON; a readable refusal for NaN, infinity or text."""
    number = real(value, name)
    if number != int(number):
        raise InvalidInput(f"{name} must be a whole number (got {shown(value)}).")
    return int(number)


def real(value: object, name: str) -> float:
    """A finite number from a widget or a client's raw JSON; a readable refusal for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(f"{name} must be a number (got {shown(value)}).")
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a number (got {shown(value)}).") from None
    if not math.isfinite(number):
        raise InvalidInput(f"{name} must be a finite number (got {shown(value)}).")
    return number


def value_from(field: Declared, raw: object) -> Any:
    """A declared field's value from a form or a client's JSON: numbers parsed, tuples from text, empty optional
    values as None. Ranges are left to :func:`check_settings`."""
    empty = raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, (list, tuple)) and not raw)
    if empty and field.optional:
        return None
    if field.kind == "integer":
        return whole(raw, field.name)
    if field.kind == "number":
        return real(raw, field.name)
    if field.kind in ("integers", "numbers"):
        return parse_numbers(raw, field.name, integer=field.kind == "integers")
    if field.kind == "names":
        parts = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
        return tuple(str(part).strip() for part in parts if str(part).strip())
    if field.kind == "flag":
        if not isinstance(raw, bool):
            raise InvalidInput(f"{field.name} must be true or false (got {shown(raw)}).")
        return raw
    if field.kind == "choice":
        # A number choice arrives as a number or as its text; a text choice as it is.
        numeric = all(isinstance(c, (int, float)) for c in field.choices)
        return real(raw, field.name) if numeric and raw is not None else raw
    return raw if raw is None else str(raw)


def from_record(cls: type, record: Mapping[str, Any]) -> dict[str, Any]:
    """The declared fields of ``cls`` that a stored record holds (a result PNG's settings), as values ``cls``
    takes; the rest (the runtime, a mask's description: not the mask) is left out. Ranges are left to
    :func:`check_settings`."""
    return {field.name: value_from(field, record[field.name]) for field in declarations(cls)
            if field.name in record and field.kind != "picture"}


# --------------------------------------------------------------------------- command-line flags

def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type,
              skip: Sequence[str] = ()) -> list[str]:
    """One ``--flag`` per declared field of ``cls`` (typed, ranged in its help, with choices); returns the names.

    Flags left out keep the dataclass's default; ``none`` sets an optional field to None.
    """
    names = []
    for field in declarations(cls):
        if field.name in skip:
            continue
        spec = field.setting
        # argparse formats help with %: a literal one is doubled
        text = f"{spec.label}{': ' + spec.help if spec.help else ''}. {flag_range(field)}".replace("%", "%%")
        default = field.default
        shown = "none" if default is None else ", ".join(map(str, default)) if isinstance(default, tuple) else default
        flag = "--" + field.name.replace("_", "-")
        if field.kind == "flag":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=f"{text}(default: {shown})")
        else:
            several = field.kind in ("integers", "numbers", "names")
            parser.add_argument(flag, type=_flag_parser(field), choices=field.choices or None,
                                default=argparse.SUPPRESS, nargs="+" if several else None,
                                metavar=field.name.upper() if not field.choices else None,
                                help=f"{text}(default: {shown}{'; give none to unset' if field.optional else ''})")
        names.append(field.name)
    return names


def flag_range(field: Declared) -> str:
    """'Range: 32-2048 px. ' for a ranged field (what ``--help`` says), else ''."""
    spec = field.setting
    if spec.minimum is None and spec.maximum is None:
        return ""
    low = "" if spec.minimum is None else f"{spec.minimum:g}"
    high = "" if spec.maximum is None else f"{spec.maximum:g}"
    return f"Range: {low}-{high}{spec.unit}. "


def _flag_parser(field: Declared) -> Callable[[str], Any]:
    item = {"integers": "integer", "numbers": "number"}.get(field.kind, field.kind)

    def parse(text: str) -> Any:
        if field.optional and text.lower() == "none":
            return None
        if item == "integer":
            return int(text)
        if item == "number" or (field.choices and isinstance(field.choices[0], float)):
            return float(text)
        return text

    parse.__name__ = {"integer": "int", "number": "float"}.get(item, "str")  # argparse names it in messages
    return parse


def from_flags(cls: type, values: argparse.Namespace | dict, **extra: Any) -> Any:
    """An instance of ``cls`` from the flags :func:`add_flags` made (those given) plus ``extra``."""
    given = vars(values) if isinstance(values, argparse.Namespace) else values

    def value(raw: Any) -> Any:
        if isinstance(raw, list):  # several values; "none" alone clears an optional one
            return None if raw == [None] else tuple(raw)
        return raw

    kwargs = {f.name: value(given[f.name]) for f in declarations(cls) if f.name in given}
    return cls(**{**kwargs, **extra})
