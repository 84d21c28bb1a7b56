"""What every audio backend is: a feature network over log1p|STFT| with named layers and defaults."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import InvalidInput
from ..spectral import SpectralFrame

MAX_PROBE_FRAMES = 4096


@dataclass(frozen=True)
class BackendDefaults:
    """Per-backend starting settings (the shallow net's were chosen by the objective scores)."""

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    content_weight: float
    style_weight: float
    spectral_content_weight: float  # direct term on the spectrogram: keeps notes that pooling would lose
    steps: int
    envelope_weight: float = 0.0    # style term on the long-term spectrum (see spectral.SpectralEnvelope)


class AudioBackend(nn.Module):
    """Subclasses define ``layer_names`` and ``features(log_magnitude, layers)``.

    ``log_magnitude`` is (batch, frequency bins, frames) of log1p|STFT| at ``frame``: the quantity the
    optimizer changes. Each backend computes its own front end from it, differentiably.
    """

    name: str = ""
    frame: SpectralFrame
    defaults: BackendDefaults
    floor_seconds: float = 0.5      # shorter clips say too little about a style, whatever the network takes
    layer_names: tuple[str, ...] = ()
    weights_note: str = ""  # e.g. "pretrained (torchvggish v0.1)" or "random weights"

    def features(self, log_magnitude: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @property
    def min_seconds(self) -> float:
        """The shortest clip this backend takes: its floor, or what its deepest layer needs, whichever is longer.

        The layers' need is measured, not declared: valid convolutions and poolings shrink the time axis,
        and only a pass shows where a layer's output would become empty.
        """
        frames = self.required_frames
        return max(self.floor_seconds, math.ceil((frames - 1) * self.frame.hop) / self.frame.sample_rate)

    def forward(self, log_magnitude: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
        unknown = set(layers) - set(self.layer_names)
        if unknown:
            raise InvalidInput(f"The {self.name} backend has no layer {', '.join(sorted(unknown))}; it has "
                               f"{', '.join(self.layer_names)}.")
        return self.features(log_magnitude, set(layers))

    @functools.cached_property
    def required_frames(self) -> int:
        """The fewest STFT frames for which every layer gives a non-empty output (measured once per network).

        Valid convolutions and poolings shrink the time axis, and only a pass shows where a layer's output
        would become empty: passes on zeros, doubling from one frame, then bisection, so that they stay as
        short as the answer (long ones are costly).
        """
        layers = set(self.layer_names) - {"input"}
        parameter = next(self.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")

        def works(frames: int) -> bool:
            try:
                with torch.no_grad():
                    out = self.features(torch.zeros(1, self.frame.bins, frames, device=device), layers)
            except (RuntimeError, ValueError):  # "Output size is too small", batch norm of one value, ...
                return False
            return all(t.numel() > 0 for t in out.values())

        low, high = 1, 1
        while not works(high):
            if high >= MAX_PROBE_FRAMES:
                raise InvalidInput(f"The {self.name} backend gives no output even for {MAX_PROBE_FRAMES} frames.")
            low, high = high + 1, min(2 * high, MAX_PROBE_FRAMES)
        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if works(middle) else (middle + 1, high)
        return low
