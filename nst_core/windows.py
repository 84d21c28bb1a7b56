"""Overlapping windows and their cross-fade: fast-style tiles (2-D) and audio segments (1-D) share them.

A long axis is cut into evenly spaced windows whose neighbours overlap by at least ``min_overlap`` (audio
segments have one length; picture tiles are as small as their count allows); each
window's weight ramps linearly across its overlaps, so that the weights of all windows add up to one
everywhere and a blend of per-window results shows no seams.
"""

from __future__ import annotations

import math

import torch

Span = tuple[int, int]  # [start, end)


def spans(length: int, size: int, min_overlap: int) -> list[Span]:
    """Windows of ``size`` covering ``[0, length)``, evenly spaced, overlapping by at least ``min_overlap``."""
    if length <= size:
        return [(0, length)]
    count = math.ceil((length - min_overlap) / (size - min_overlap))
    step = (length - size) / (count - 1)
    return [(round(i * step), round(i * step) + size) for i in range(count)]


def fitted_spans(length: int, largest: int, min_overlap: int, align: int = 1) -> list[Span]:
    """As few windows of at most ``largest`` as cover ``[0, length)``, each only as long as that count needs,
    starting at multiples of ``align`` (the last one runs to the end).

    Picture tiles are cut so. With :func:`spans`' fixed size, a 1225 px side took two 1024 px tiles that
    overlapped by 823 px, so the network ran on twice the picture's pixels; and a tile must start where the
    whole picture's stride-2 grid does (``align`` 4 for two such stages), or its output is a shifted rendering
    that the cross-fade blends with its neighbour's.
    """
    if length <= largest:
        return [(0, length)]
    margin = min_overlap + align  # the starts' rounding may take up to ``align`` off an overlap
    count = math.ceil((length - margin) / (largest - margin))
    size = min(largest, align * math.ceil(math.ceil((length + (count - 1) * margin) / count) / align))
    step = (length - size) / (count - 1)
    starts = [align * round(i * step / align) for i in range(count - 1)] + [align * ((length - size) // align)]
    return [(start, start + size) for start in starts[:-1]] + [(starts[-1], length)]


def fade_weights(windows: list[Span], index: int) -> torch.Tensor:
    """Window ``index``'s weights: linear ramps across its overlaps with its neighbours, one elsewhere."""
    start, end = windows[index]
    weight = torch.ones(end - start)
    if index > 0:
        overlap = windows[index - 1][1] - start
        weight[:overlap] = torch.linspace(0, 1, overlap + 2)[1:-1]
    if index < len(windows) - 1:
        overlap = end - windows[index + 1][0]
        weight[-overlap:] = torch.linspace(1, 0, overlap + 2)[1:-1]
    return weight


def blend(parts: list[torch.Tensor], windows: list[Span], length: int) -> torch.Tensor:
    """Cross-fade per-window results (the window axis last) into one tensor of ``length`` along that axis."""
    total = torch.zeros(*parts[0].shape[:-1], length)
    weight = torch.zeros(length)
    for index, (part, (start, end)) in enumerate(zip(parts, windows)):
        ramp = fade_weights(windows, index)
        total[..., start:end] += part * ramp
        weight[start:end] += ramp
    return total / weight.clamp_min(1e-6)
