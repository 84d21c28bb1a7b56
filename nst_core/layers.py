"""One way to run a network by named stages and keep the outputs asked for.

Every feature network of the engine (the image backbones, the audio backends, the genre classifier's
trunk) is a list of ``(name, module)`` stages run in order. :class:`NamedStages` runs only as deep as the
deepest layer asked for and returns the requested outputs by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from .control import checkpoint
from .errors import InvalidInput


class NamedStages:
    """Stages run in order; ``names`` are the public layer names (``None`` for a stage no one may ask for)."""

    def __init__(self, stages: Sequence[tuple[str | None, nn.Module]]) -> None:
        # A plain list, not a ModuleList: the network that builds this owns (and names, for checkpoints) the modules.
        self._stages = [module for _, module in stages]
        self._names = [name for name, _ in stages]
        self.layer_names = tuple(name for name in self._names if name is not None)
        self._position = {name: i for i, name in enumerate(self._names) if name is not None}
        # An in-place ReLU would overwrite a requested pre-activation: such outputs are copied first.
        following = [*self._stages[1:], None]
        self._overwritten = [isinstance(module, nn.ReLU) and module.inplace for module in following]

    def check(self, layers: Iterable[str], network: str) -> set[str]:
        """The requested layers as a set; :class:`InvalidInput` naming the known ones for any other."""
        wanted = set(layers)
        unknown = wanted - self._position.keys()
        if unknown:
            raise InvalidInput(f"{network} has no layer {', '.join(sorted(unknown))}; it has "
                               f"{', '.join(self.layer_names)}.")
        return wanted

    def __call__(self, x: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        deepest = max((self._position[name] for name in wanted if name in self._position), default=-1)
        for position in range(deepest + 1):
            x = self._stages[position](x)
            checkpoint(x)  # a cancelled job stops between stages, forward and backward
            name = self._names[position]
            if name in wanted:
                out[name] = x.clone() if self._overwritten[position] else x
        return out

    def run_all(self, x: torch.Tensor) -> torch.Tensor:
        """Every stage, for a network's own head (a classifier's logits)."""
        for stage in self._stages:
            x = stage(x)
            checkpoint(x)
        return x
