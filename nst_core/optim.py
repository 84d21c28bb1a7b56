"""The one descent both modalities optimize with, and the way their event streams end in a result."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, TypeVar

import torch

from .control import checkpoint

Result = TypeVar("Result")
LBFGS_HISTORY = 50  # past steps L-BFGS keeps: two copies of the optimized tensor each (see nst_core.cost)
OptimizerKind = Literal["lbfgs", "adam"]
Objective = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]]


def make_optimizer(kind: OptimizerKind, params: torch.Tensor | Sequence[torch.Tensor],
                   learning_rate: float) -> torch.optim.Optimizer:
    """Adam, or L-BFGS doing one iteration per ``step()`` so that progress can be reported between steps, on a
    tensor (or several, optimized as one).

    L-BFGS keeps its curvature history across steps; zero tolerances stop a small relative loss from
    ending the run early.
    """
    params = [params] if torch.is_tensor(params) else list(params)
    if kind == "adam":
        return torch.optim.Adam(params, lr=learning_rate)
    return torch.optim.LBFGS(params, lr=1.0, max_iter=1, history_size=LBFGS_HISTORY, tolerance_grad=0.0,
                             tolerance_change=0.0)


class Descent:
    """An optimizer on one tensor that also keeps the best point seen, so that a run never ends in NaNs.

    A step that lands where the loss overflows (L-BFGS without a line search can overshoot) is undone: the
    tensor goes back to the best point so far and the optimizer's history is cleared, so its next step is a
    small gradient step. ``clamp`` keeps the tensor in a range after every step (Adam only: L-BFGS's curvature
    model breaks if the iterate is moved behind its back).
    """

    def __init__(self, kind: OptimizerKind, tensor: torch.Tensor, learning_rate: float, *,
                 clamp: tuple[float, float] | None = None) -> None:
        self.kind, self.tensor, self.learning_rate, self.clamp = kind, tensor, learning_rate, clamp
        self.optimizer = make_optimizer(kind, tensor, learning_rate)
        self.best: tuple[torch.Tensor, dict[str, float]] | None = None

    def restart(self) -> None:
        """Start afresh after the objective changed: its curvature history and best loss belong to the old one."""
        self.optimizer = make_optimizer(self.kind, self.tensor, self.learning_rate)
        self.best = None

    def step(self, objective: Objective) -> dict[str, float]:
        """One step on ``objective(tensor)``; returns the loss terms of its last evaluation."""
        terms: dict[str, float] = {}
        start = self.tensor.detach().clone()

        def closure() -> torch.Tensor:
            checkpoint()  # a cancelled job stops between evaluations too, whatever network it runs
            self.optimizer.zero_grad(set_to_none=True)
            loss, values = objective(self.tensor)
            loss.backward()
            terms.update(values)
            return loss

        self.optimizer.step(closure)
        if not all(math.isfinite(value) for value in terms.values()):
            good, good_terms = self.best or (start, terms)
            with torch.no_grad():
                self.tensor.copy_(good)
            self.optimizer.state.clear()
            return good_terms
        if self.best is None or terms.get("total", 0.0) <= self.best[1].get("total", 0.0):
            self.best = (start, dict(terms))
        if self.clamp is not None:
            with torch.no_grad():
                self.tensor.clamp_(*self.clamp)
        return terms


def run_to_result(events: Iterable[object], result_type: type[Result],
                  on_progress: Callable[[object], None] | None = None) -> Result:
    """Consume a stylization's events, passing progress to ``on_progress``; return its final result."""
    for event in events:
        if isinstance(event, result_type):
            return event
        if on_progress is not None:
            on_progress(event)
    raise RuntimeError("the stylization ended without a result")
