"""The health check of a feed-forward style network: it keeps the photo's structure and repaints it."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...health import CHECK_PHOTO, HealthResult
from ...runtime import freeze
from ..io import ImageSource, load_image, to_tensor
from .model import FastStyle, from_network, pad4, to_network

log = logging.getLogger(__name__)

FAST_CHECK_SOURCE = ("Johnson et al. (2016): the network keeps the photo's structure and repaints it; here, on the "
                     "example cat photo: at most 20 % of channel values clipped at 0 or 255, edge-map correlation "
                     "with the photo at least 0.15, mean change at least 0.05; and, for paintings with a clear "
                     "red or blue dominance, the same dominance in the result")
MAX_CLIPPED = 0.20
MIN_EDGE_CORRELATION = 0.15
MIN_CHANGE = 0.05


def _edges(image: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude of the blurred luminance: the structure a stylization should keep."""
    luma = (image * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    luma = F.avg_pool2d(luma, 5, stride=1, padding=2, count_include_pad=False)
    dy, dx = luma[..., 1:, :-1] - luma[..., :-1, :-1], luma[..., :-1, 1:] - luma[..., :-1, :-1]
    return (dx.square() + dy.square()).sqrt().flatten()


def fast_style_check(net: nn.Module, style: FastStyle, photo: ImageSource) -> HealthResult:
    """Stylize ``photo`` as ``style`` says the network expects: the result must be neither clipped nor the photo,
    must keep its structure, and (where the painting's palette is clear) show the painting's palette."""
    x = to_tensor(load_image(photo).image)
    height, width = x.shape[-2:]
    with torch.inference_mode():
        raw = freeze(net)(pad4(to_network(x, style)))[..., :height, :width]
    y = from_network(raw, style, clamp=False)
    clipped = ((y <= 0.5 / 255) | (y >= 254.5 / 255)).float().mean().item()
    y = y.clamp(0, 1)
    edges_y, edges_x = _edges(y), _edges(x)
    correlation = torch.corrcoef(torch.stack([edges_y, edges_x]))[0, 1].nan_to_num(0.0).item()
    change = (y - x).abs().mean().item()
    red_minus_blue = (y[:, 0] - y[:, 2]).mean().item()
    facts = {"value_range": style.value_range, "channel_order": style.channel_order, "clipped": round(clipped, 4),
             "edge_correlation": round(correlation, 3), "change": round(change, 3),
             "red_minus_blue": round(red_minus_blue, 3)}
    problems = []
    if clipped > MAX_CLIPPED:
        problems.append(f"{clipped:.0%} of values clipped (at most {MAX_CLIPPED:.0%})")
    if correlation < MIN_EDGE_CORRELATION:
        problems.append(f"edge correlation with the photo {correlation:.2f} (at least {MIN_EDGE_CORRELATION})")
    if change < MIN_CHANGE:
        problems.append(f"mean change {change:.3f} (at least {MIN_CHANGE}): the photo came back unstyled")
    if style.palette and (red_minus_blue > 0) != (style.palette == "red"):
        problems.append(f"the result leans {'red' if red_minus_blue > 0 else 'blue'}, the painting {style.palette}")
    summary = (f"{style.channel_order.upper()} 0-{style.value_range}: clipped {clipped:.1%}, edge correlation "
               f"{correlation:.2f}, change {change:.3f}")
    return HealthResult(not problems, summary + ("; " + "; ".join(problems) if problems else ""), facts)


def settle_catalogue_style(style: FastStyle, candidates: Sequence[tuple[int, str]],
                           build: Callable[[object, str], nn.Module]) -> Callable[[object], HealthResult]:
    """The catalogue file's check: the first (value range, colour order) candidate that passes is recorded."""

    def check(raw: object) -> HealthResult:
        net = build(raw, style.key)
        tried = []
        for value_range, order in candidates:
            candidate = dataclasses.replace(style, value_range=value_range, channel_order=order)
            result = fast_style_check(net, candidate, CHECK_PHOTO)
            if result.passed:
                log.info("%s: settled on %s", style.key, result.detail)
                return result
            tried.append(result.detail)
        return HealthResult(False, "no value range and colour order passes: " + " | ".join(tried))

    return check
