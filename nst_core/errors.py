"""Typed errors raised by nst_core. The UI turns each into a readable message."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import PurePath

ECHO_CHARACTERS = 40


class _File:
    """A file in a message: by its name, never its folder."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.name = PurePath(path).name

    def __repr__(self) -> str:
        return f"<file {self.name}>"


def _named_files(value: object) -> object:
    """``value`` with every file in it (a path, or a record of one such as a web app's ``{"path": ...}``, where
    the server wrote the file it was sent) standing for its name, so that a message shows no server folder."""
    if isinstance(value, os.PathLike):
        return _File(value)
    if isinstance(value, Mapping):
        if isinstance(value.get("path"), str):
            return _File(value["path"])
        return {key: _named_files(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_named_files(item) for item in value] if isinstance(value, list) else \
            tuple(_named_files(item) for item in value)
    if isinstance(getattr(value, "path", None), str) and hasattr(value, "model_dump"):  # a record as a model
        return _File(value.path)
    return value


def shown(value: object) -> str:
    """A value a user gave, quoted for a message, cut to about :data:`ECHO_CHARACTERS` (a hundred kilobytes of
    text typed into a number field comes back as a line, not as a hundred kilobytes of message); a file in it by
    its name alone."""
    value = _named_files(value)
    text = repr(value)
    if len(text) <= ECHO_CHARACTERS:
        return text
    if isinstance(value, str):
        quoted = repr(value[:ECHO_CHARACTERS])
        return quoted[:-1] + "..." + quoted[-1]
    return text[:ECHO_CHARACTERS] + "..."


class NSTError(Exception):
    """Base class for every error nst_core raises on purpose."""


class InvalidInput(NSTError, ValueError):
    """A user-supplied file or setting cannot be used; the message says why."""


class WeightsUnavailable(NSTError):
    """Pretrained weights are not in the cache and cannot be fetched now."""

    def __init__(self, key: str, reason: str, fix: str = "") -> None:
        self.key = key
        self.reason = reason
        self.fix = fix
        message = f"weights '{key}' are unavailable: {reason}"
        super().__init__(f"{message}. {fix}" if fix else message)


class WeightsMismatch(NSTError):
    """A weight file was found but its tensors do not fit the network."""
