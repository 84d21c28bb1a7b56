"""Typed errors raised by nst_core. The UI turns each into a readable message."""

from __future__ import annotations

ECHO_CHARACTERS = 40


def shown(value: object) -> str:
    """A value a user gave, quoted for a message, cut to about :data:`ECHO_CHARACTERS` (a hundred kilobytes of
    text typed into a number field comes back as a line, not as a hundred kilobytes of message)."""
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
