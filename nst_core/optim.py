"""The optimizers both modalities use, and one step of them that reports the loss terms."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch

Result = TypeVar("Result")
# Per optimizer: the point with the lowest finite loss so far, and that loss's terms.
_BEST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

Objective = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]]


def make_optimizer(kind: str, tensor: torch.Tensor, learning_rate: float) -> torch.optim.Optimizer:
    """Adam, or L-BFGS doing one iteration per ``step()`` so that progress can be reported between steps.

    L-BFGS keeps its curvature history across steps; zero tolerances stop a small relative loss from
    ending the run early.
    """
    if kind == "adam":
        return torch.optim.Adam([tensor], lr=learning_rate)
    return torch.optim.LBFGS([tensor], lr=1.0, max_iter=1, history_size=50, tolerance_grad=0.0,
                             tolerance_change=0.0)


def optimizer_step(optimizer: torch.optim.Optimizer, objective: Objective, tensor: torch.Tensor) -> dict[str, float]:
    """One optimizer step on ``objective(tensor)``; returns the loss terms of the last evaluation.

    A step that landed where the loss overflows (L-BFGS without a line search can overshoot) is undone:
    the tensor goes back to the best point so far and the optimizer's history is cleared, so its next
    step is a small gradient step. A run never ends in NaNs.
    """
    terms: dict[str, float] = {}
    start = tensor.detach().clone()

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss, values = objective(tensor)
        loss.backward()
        terms.update(values)
        return loss

    optimizer.step(closure)
    if all(math.isfinite(value) for value in terms.values()):
        best = _BEST.get(optimizer)
        if best is None or terms.get("total", 0.0) <= best[1].get("total", 0.0):
            _BEST[optimizer] = (start, dict(terms))
        return terms
    good, good_terms = _BEST.get(optimizer, (start, terms))
    with torch.no_grad():
        tensor.copy_(good)
    optimizer.state.clear()
    return good_terms


def run_to_result(events: Iterable[object], result_type: type[Result],
                  on_progress: Callable[[object], None] | None = None) -> Result:
    """Consume a stylization's events, passing progress to ``on_progress``; return its final result."""
    for event in events:
        if isinstance(event, result_type):
            return event
        if on_progress is not None:
            on_progress(event)
    raise RuntimeError("the stylization ended without a result")
