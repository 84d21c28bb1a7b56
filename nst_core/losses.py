"""Losses shared by image and audio style transfer: content, Gram style and total variation.

Content and style losses are divided by the mean square of their target, so each layer's loss is a
relative error. That keeps one set of default weights meaningful across backbones (the original
VGG sees 0-255 inputs, torchvision's nets standardized ones) and across image sizes.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-8


class _Gram(torch.autograd.Function):
    """G = X^T X / n for X of shape (B, n, C), with the backward written out: X (dG + dG^T) / n.

    Autograd would differentiate both uses of X separately (two large matmuls and a large sum);
    this is one matmul with a small C x C matrix.
    """

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        out_dtype = torch.promote_types(flat.dtype, torch.float32)  # bf16 -> fp32; fp64 stays fp64
        # Per-sample 2-D products: on CPU, bf16 X^T X as a 2-D mm is ~10x faster than the batched bmm.
        gram = torch.stack([sample.T.mm(sample) for sample in flat])
        return gram.to(out_dtype) / flat.shape[1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        symmetric = ((grad + grad.transpose(1, 2)) / flat.shape[1]).to(flat.dtype)
        return flat @ symmetric


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) fp32: channel co-activations averaged over positions.

    The product runs in the activations' own dtype: under bf16 autocast that is 4x the fp32 matmul
    throughput on CPUs with AVX-512 bf16, and the rounding is far below the optimization's noise.
    """
    batch, channels, height, width = features.shape
    # (B, HW, C) is a free view of channels_last memory, where (B, C, HW) would need a copy.
    flat = features.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
    return _Gram.apply(flat)


def relative_mse(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error divided by the target's mean square (targets broadcast over the batch)."""
    target = target.float()
    return (value.float() - target).pow(2).mean() / (target.pow(2).mean() + EPS)


class ContentLoss(nn.Module):
    """Relative squared distance between activations and the content's activations."""

    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target.detach().float())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return relative_mse(features, self.target)


class StyleLoss(nn.Module):
    """Relative squared distance between Gram matrices; the target may blend several styles."""

    def __init__(self, target_gram: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target_gram.detach().float())

    @classmethod
    def blended(cls, style_features: list[torch.Tensor], blend: list[float]) -> StyleLoss:
        """One target from several style images: the blend-weighted mean of their Gram matrices."""
        total = sum(blend)
        target = sum(weight / total * gram_matrix(f) for weight, f in zip(blend, style_features))
        return cls(target)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return relative_mse(gram_matrix(features), self.target)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels: penalizes high-frequency noise."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()
