"""A running job's controls: cancel it, give it a time budget, and let the computation notice both.

The engine's loops check a :class:`JobControl` between steps, tiles, frames and segments, and the feature
networks check it between their stages, forward and backward (:func:`checkpoint`), so a cancelled job stops
within one stage of one network pass, not at the end of a step that can take seconds. Time budgets are
softer: a loop that finds the budget spent ends at its best result so far and says so.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

from .errors import NSTError

Event = TypeVar("Event")
_bound = threading.local()
# A server's requests, for background work that must not run beside them: (started so far, running now).
Activity = Callable[[], tuple[int, int]]
QUIET_POLL_S = 0.25


class Cancelled(NSTError):
    """The job was cancelled (by its caller, or because its client went away)."""


class JobControl:
    """Cancellation and an optional time budget (seconds from creation) for one job; thread-safe."""

    def __init__(self, seconds: float | None = None) -> None:
        self.started = time.monotonic()
        self.seconds = seconds
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` once :meth:`cancel` has been called."""
        if self._stop.is_set():
            raise Cancelled("The job was cancelled.")

    def out_of_time(self) -> bool:
        return self.seconds is not None and time.monotonic() - self.started >= self.seconds

    @contextlib.contextmanager
    def bound(self) -> Iterator[JobControl]:
        """Make this the control :func:`checkpoint` sees in the current thread, for the block."""
        previous = getattr(_bound, "control", None)
        _bound.control = self
        try:
            yield self
        finally:
            _bound.control = previous


def current() -> JobControl | None:
    """The control bound to this thread, if any."""
    return getattr(_bound, "control", None)


def checkpoint(tensor: torch.Tensor | None = None) -> None:
    """Stop here if the bound job was cancelled; given a tensor that needs gradients, stop at it in the
    backward pass too (the hook holds the control itself: backward may run on another thread)."""
    control = current()
    if control is None:
        return
    control.check()
    if tensor is not None and tensor.requires_grad:
        tensor.register_hook(lambda grad: control.check())


def controlled(events: Iterator[Event], control: JobControl | None) -> Iterator[Event]:
    """``events`` with ``control`` bound while each one is computed, whichever thread asks for it."""
    if control is None:
        yield from events
        return
    try:
        while True:
            with control.bound():
                try:
                    event = next(events)
                except StopIteration:
                    return
            yield event
    finally:
        events.close()  # a consumer that stops early ends the inner job (and its clean-up) now


def wait_until_quiet(activity: Activity, deadline: float = float("inf"),
                     stop: threading.Event | None = None) -> tuple[int, int]:
    """Wait until ``activity`` shows no request running, ``deadline`` (``time.monotonic``) passes or ``stop`` is
    set; returns the last reading (a request still runs where its second part is not 0)."""
    while (reading := activity())[1] and time.monotonic() < deadline and not (stop is not None and stop.is_set()):
        time.sleep(QUIET_POLL_S)
    return reading


def release_memory() -> None:
    """Hand freed heap pages back to the operating system (glibc keeps them otherwise), after a large job."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
