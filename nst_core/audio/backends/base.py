"""What every audio backend is: a feature network over log1p|STFT| with named layers and defaults."""

from __future__ import annotations

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
    label: str = ""
    frame: SpectralFrame
    defaults: BackendDefaults
    min_seconds: float = 0.5
    layer_names: tuple[str, ...] = ()
    weights_note: str = ""  # e.g. "pretrained (torchvggish v0.1)" or "random weights"

    def features(self, log_magnitude: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, log_magnitude: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
        unknown = set(layers) - set(self.layer_names)
        if unknown:
            raise ValueError(f"{self.name} has no layers {sorted(unknown)}; it has {list(self.layer_names)}")
        return self.features(log_magnitude, set(layers))


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
