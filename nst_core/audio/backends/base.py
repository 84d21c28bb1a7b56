"""What every audio backend is: a feature network over log1p|STFT| with named layers and defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..spectral import SpectralFrame


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
        frames = required_frames(self)
        return max(self.floor_seconds, math.ceil((frames - 1) * self.frame.hop) / self.frame.sample_rate)

    def forward(self, log_magnitude: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
        unknown = set(layers) - set(self.layer_names)
        if unknown:
            raise ValueError(f"{self.name} has no layers {sorted(unknown)}; it has {list(self.layer_names)}")
        return self.features(log_magnitude, set(layers))


_REQUIRED_FRAMES: dict[tuple, int] = {}


def required_frames(backend: AudioBackend, limit: int = 4096) -> int:
    """The fewest STFT frames for which every layer of ``backend`` gives a non-empty output (bisection on zeros).

    Remembered per backend class, front end and layer shapes; a pass on zeros costs milliseconds.
    """
    shapes = tuple((name, tuple(p.shape)) for name, p in backend.state_dict().items())
    key = (type(backend).__name__, backend.frame, shapes)
    if key not in _REQUIRED_FRAMES:
        layers = set(backend.layer_names) - {"input"}
        parameter = next(backend.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")

        def works(frames: int) -> bool:
            try:
                with torch.no_grad():
                    out = backend.features(torch.zeros(1, backend.frame.bins, frames, device=device), layers)
            except (RuntimeError, ValueError):  # "Output size is too small", batch norm of one value, ...
                return False
            return all(t.numel() > 0 for t in out.values())

        # Doubling from one frame, then bisection: passes stay as short as the answer (long ones are costly).
        low, high = 1, 1
        while not works(high):
            if high >= limit:
                raise ValueError(f"{backend.name} gives no output even for {limit} frames")
            low, high = high + 1, min(2 * high, limit)
        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if works(middle) else (middle + 1, high)
        _REQUIRED_FRAMES[key] = low
    return _REQUIRED_FRAMES[key]


def run_named(stages: list[tuple[str, nn.Module]], x: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
    """Run ``stages`` in order, keeping the outputs named in ``wanted``; stop after the last one needed."""
    out: dict[str, torch.Tensor] = {}
    if "input" in wanted:
        out["input"] = x
    for name, stage in stages:
        if len(out) == len(wanted):
            break
        x = stage(x)
        if name in wanted:
            out[name] = x
    return out
