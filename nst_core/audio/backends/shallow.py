"""Shallow random network over time (Ulyanov & Lebedev 2016): frequency bins as channels, 1-D convolutions.

Needs no download. Grinstein et al. (ICASSP 2018) found such a random shallow net better than VGG-19 or
SoundNet for audio style, and that starting from the content matters more than the network.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ...layers import NamedStages
from ..spectral import SpectralFrame
from .base import AudioBackend, BackendDefaults

# With the adaptive style strength, 1024 filters met every pair's targets as 2048 did, in half the time per
# step (bench/audio.py --pairs); 2048 reached a closer MFCC match to the style at fixed weights.
DEFAULT_FILTERS = (1024,)


class ShallowNet(AudioBackend):
    name = "shallow"
    weights_note = "random fixed weights (by design; nothing to download)"
    # Chosen by the scores on a 10 s clip (bench/audio.py): 240 L-BFGS steps plus the long-term-spectrum
    # term beat the reference setting (4096 filters, 300 steps, Gram only) on every score at a fifth of the
    # time. Without the envelope term the MFCC statistics stayed behind it. With the adaptive style
    # strength (balance.py) the steps are a ceiling and the weights a starting point.
    defaults = BackendDefaults(content_layers=("relu1",), style_layers=("relu1",), content_weight=1.0,
                               style_weight=1000.0, spectral_content_weight=0.0, steps=240, envelope_weight=30.0)

    def __init__(self, *, filters: tuple[int, ...] = DEFAULT_FILTERS, kernel: int = 11, seed: int = 0,
                 frame: SpectralFrame = SpectralFrame(22050, 2048, 512)) -> None:
        super().__init__()
        self.frame = frame
        generator = torch.Generator().manual_seed(seed)
        convs = []
        channels = frame.bins
        for count in filters:
            # skip_init: the weights come from the generator below, so no draw from the global one
            conv = nn.utils.skip_init(nn.Conv1d, channels, count, kernel, padding=kernel // 2, bias=False)
            # Ulyanov's scale: N(0, sqrt(2) * sqrt(2 / ((in + out) * kernel))).
            std = math.sqrt(2) * math.sqrt(2.0 / ((channels + count) * kernel))
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * std)
            convs.append(conv)
            channels = count
        self.convs = nn.ModuleList(convs)
        self.stages = NamedStages([(f"relu{i + 1}", nn.Sequential(conv, nn.ReLU())) for i, conv in enumerate(convs)])
        self.layer_names = ("input", *self.stages.layer_names)
        # Content on the first layer, style on all of them (as the seed project did with two layers).
        self.defaults = dataclasses.replace(ShallowNet.defaults,
                                            style_layers=tuple(f"relu{i + 1}" for i in range(len(filters))))
        for parameter in self.parameters():
            parameter.requires_grad_(False)

    def features(self, log_magnitude: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
        out = self.stages(log_magnitude, layers)
        return {"input": log_magnitude, **out} if "input" in layers else out
