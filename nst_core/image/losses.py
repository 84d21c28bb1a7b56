"""Losses for optimization-based style transfer: content, Gram style and total variation.

Content and style losses are divided by the mean square of their target, so each layer's loss is a
relative error. That keeps one set of default weights meaningful across backbones (the original
VGG sees 0-255 inputs, torchvision's nets standardized ones) and across image sizes.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-8


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) fp32: channel co-activations averaged over positions.

    The product runs in the activations' own dtype: under bf16 autocast that is 4x the fp32 matmul
    throughput on CPUs with AVX-512 bf16, and the rounding is far below the optimization's noise.
    """
    batch, channels, height, width = features.shape
    # (B, HW, C) is a free view of channels_last memory, where (B, C, HW) would need a copy.
    flat = features.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
    return (flat.transpose(1, 2) @ flat).float() / (height * width)


class ContentLoss(nn.Module):
    """Relative squared distance between activations and the content's activations."""

    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        target = target.detach().float()
        self.register_buffer("target", target)
        self.scale = 1.0 / (target.pow(2).mean().item() + EPS)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features.float() - self.target).pow(2).mean() * self.scale


class StyleLoss(nn.Module):
    """Relative squared distance between Gram matrices; the target may blend several styles."""

    def __init__(self, target_gram: torch.Tensor) -> None:
        super().__init__()
        target_gram = target_gram.detach().float()
        self.register_buffer("target", target_gram)
        self.scale = 1.0 / (target_gram.pow(2).mean().item() + EPS)

    @classmethod
    def blended(cls, style_features: list[torch.Tensor], blend: list[float]) -> "StyleLoss":
        """One target from several style images: the blend-weighted mean of their Gram matrices."""
        total = sum(blend)
        target = sum(weight / total * gram_matrix(f) for weight, f in zip(blend, style_features))
        return cls(target)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (gram_matrix(features) - self.target).pow(2).mean() * self.scale


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels: penalizes high-frequency noise."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()
