"""Colour control: keep the content's colours, or recolour the style to the content's palette.

Both options follow Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer" (CVPR 2017):
luminance-only transfer, and colour histogram matching of the style image before transfer.
Tensors are (1, 3, H, W) RGB in [0, 1].
"""

from __future__ import annotations

from typing import Literal

import torch

ColorMode = Literal["none", "luminance", "match-meancov", "match-histogram"]

# RGB -> YIQ (NTSC); Y is luminance, I and Q carry the colour.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(image), image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    return _apply(_RGB_TO_YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return _apply(_YIQ_TO_RGB, image)


def to_greyscale(image: torch.Tensor) -> torch.Tensor:
    """The luminance (Y of YIQ) in all three channels: a grey picture in RGB."""
    return rgb_to_yiq(image)[:, :1].expand_as(image).clamp(0, 1)


def keep_content_colors(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The result's luminance with the content's chrominance (jcjohnson's ``-original_colors``)."""
    if content.shape[-2:] != result.shape[-2:]:
        content = torch.nn.functional.interpolate(content, size=result.shape[-2:], mode="bilinear",
                                                  align_corners=False, antialias=True)
    mixed = torch.cat([rgb_to_yiq(result)[:, :1], rgb_to_yiq(content)[:, 1:]], dim=1)
    return yiq_to_rgb(mixed).clamp(0, 1)


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp_min(1e-6)
    power = -0.5 if inverse else 0.5
    return vectors @ torch.diag(values.pow(power)) @ vectors.T


def match_mean_cov(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Affine recolouring of ``source`` so its RGB mean and covariance equal the reference's."""
    src = source.double().reshape(3, -1)
    ref = reference.double().reshape(3, -1)
    src_mean, ref_mean = src.mean(1, keepdim=True), ref.mean(1, keepdim=True)
    src_cov = torch.cov(src) + 1e-5 * torch.eye(3, dtype=src.dtype)
    ref_cov = torch.cov(ref) + 1e-5 * torch.eye(3, dtype=src.dtype)
    transform = _sqrtm(ref_cov) @ _sqrtm(src_cov, inverse=True)
    out = transform @ (src - src_mean) + ref_mean
    return out.reshape(source.shape).to(source.dtype).clamp(0, 1)


def match_histogram(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-channel histogram matching: each channel of ``source`` takes the reference's value distribution."""
    out = torch.empty_like(source)
    for channel in range(source.shape[1]):
        src = source[0, channel].flatten()
        ref_sorted = reference[0, channel].flatten().sort().values
        ranks = src.argsort().argsort().to(torch.float64)
        positions = (ranks / max(src.numel() - 1, 1) * (ref_sorted.numel() - 1)).round().long()
        out[0, channel] = ref_sorted[positions].reshape(source.shape[-2:])
    return out


def _matched_values(values: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Each of ``values`` replaced by the reference value of the same rank (1-D histogram matching)."""
    ref_sorted = reference.flatten().sort().values
    ranks = values.flatten().argsort().argsort().to(torch.float64)
    positions = (ranks / max(values.numel() - 1, 1) * (ref_sorted.numel() - 1)).round().long()
    return ref_sorted[positions].reshape(values.shape)


SHADOWS = (0.10, 0.30)  # luminance up to which shadows follow the style fully, and where that fades out


def match_shadows(result: torch.Tensor, styles: list[torch.Tensor]) -> torch.Tensor:
    """Give the result's shadows the style's distribution of dark values, leaving mid-tones and lights alone.

    Gram statistics say little about how dark the darkest pixels may get, and optimization pushes dark areas
    to pure black (a city photo's buildings became black blobs; 7.5 % of a result below luminance 10/255
    against 1.8 % of its style). The result's luminance is histogram-matched to the styles' pooled luminance,
    fully below ``SHADOWS[0]`` and fading out by ``SHADOWS[1]``; its chrominance is kept.
    """
    yiq = rgb_to_yiq(result)
    luminance = yiq[:, :1]
    reference = torch.cat([rgb_to_yiq(style)[:, :1].flatten() for style in styles])
    matched = _matched_values(luminance, reference)
    low, high = SHADOWS
    weight = ((high - luminance) / (high - low)).clamp(0, 1)
    lifted = luminance + weight * (matched - luminance)
    return yiq_to_rgb(torch.cat([lifted, yiq[:, 1:]], dim=1)).clamp(0, 1)


def recolors_style(mode: ColorMode) -> bool:
    """Whether ``mode`` changes the style pictures towards the content's colours before the transfer (then a
    style picture differs from scale to scale with the content's)."""
    return mode.startswith("match-")


def recolor_style(style: torch.Tensor, content: torch.Tensor, mode: ColorMode) -> torch.Tensor:
    """Apply the pre-transfer part of ``mode`` to a style image."""
    if not recolors_style(mode):
        return style
    return (match_mean_cov if mode == "match-meancov" else match_histogram)(style, content)
