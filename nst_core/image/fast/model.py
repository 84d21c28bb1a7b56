"""What a feed-forward style network is run with: its catalogue facts, and the pixel transforms they imply.

Both the stylizer (:mod:`.run`) and the health check (:mod:`.check`) feed a network through
:func:`to_network` / :func:`pad4` and read it back through :func:`from_network`, so the check judges exactly
what a user gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

ValueRange = Literal[1, 255]
ChannelOrder = Literal["rgb", "bgr"]
Palette = Literal["red", "blue"]
FAST_ARCHITECTURE = "johnson-instancenorm-v1"


@dataclass(frozen=True)
class FastStyle:
    """A pretrained feed-forward style: where its weights are and how it expects its pixels."""

    key: str                  # weights key in the hub registry, or "file:<name>" / "hub:<repo>" for user models
    title: str
    artist: str
    value_range: ValueRange      # the network sees pixels in [0, 1] or [0, 255]
    channel_order: ChannelOrder  # the order of colour channels it was trained with
    architecture: str = FAST_ARCHITECTURE
    license: str = ""
    note: str = ""
    # The painting's dominant side of the red-blue axis, where it is clear: a stylization read in the wrong
    # colour order shows the opposite one, so the health check can tell the orders apart.
    palette: Palette | None = None


@dataclass(frozen=True)
class FastModel:
    """A loaded feed-forward network together with the catalogue facts it must be run with.

    A conditional network (:mod:`nst_core.image.onepass`) also carries its ``condition`` (a style vector, or
    weights over its styles) and, where the style strength acts on that condition rather than on pixels,
    ``identity``: the condition a picture itself would give (Ghiasi et al. 2017: strength interpolates between
    the photo's own style vector and the style's).
    """

    net: nn.Module
    style: FastStyle
    condition: torch.Tensor | None = None
    identity: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, compare=False)

    def condition_for(self, picture: torch.Tensor, strength: float) -> torch.Tensor | None:
        """The condition for stylizing ``picture`` (RGB in [0, 1]) at ``strength``."""
        if self.identity is None or self.condition is None or strength >= 1.0:
            return self.condition
        return strength * self.condition + (1.0 - strength) * self.identity(picture)

    def pixel_strength(self, strength: float) -> float:
        """The mix with the photo left to do on pixels: none where the condition already took the strength."""
        return 1.0 if self.identity is not None else strength



def to_network(rgb01: torch.Tensor, style: FastStyle) -> torch.Tensor:
    """RGB in [0, 1] -> the network's input: its colour order, its value range."""
    x = rgb01.flip(1) if style.channel_order == "bgr" else rgb01
    return x * style.value_range


def from_network(y: torch.Tensor, style: FastStyle, *, clamp: bool = True) -> torch.Tensor:
    """The network's output -> RGB in [0, 1] (unclamped with ``clamp=False``, to count clipped values)."""
    y = y.float() / style.value_range
    y = y.flip(1) if style.channel_order == "bgr" else y
    return y.clamp(0, 1) if clamp else y


def pad4(x: torch.Tensor) -> torch.Tensor:
    """Pad to a multiple of 4 (two stride-2 stages); reflection where the picture is large enough for it."""
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % 4, (-width) % 4
    if not (pad_h or pad_w):
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > 4 else "replicate")
