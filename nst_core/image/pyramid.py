"""What the optimizer moves: the picture's pixels, or a pyramid of layers that add up to the picture.

In the pyramid the picture is a full-size layer plus coarser ones, halved down to ``MIN_SIDE``, the k-th enlarged
and weighted ``GAIN**k / 2**k``: x = p0 + sum_k GAIN**k / 2**k * up(p_k). One step on p_k moves a 2**k-pixel block
at once, so L-BFGS's early steps move large areas as a coarser scale would (the pyramid is a preconditioner: the
loss and its optimum are the same pictures). From a start that is already stylized, such as the one-pass result,
it reaches the default run's distances in about two thirds of the pixel-steps that descending on the pixels needs
(``bench/image_descent.py``, docs/benchmarks.md); from the photo it lets the style fall behind. The 1 / 2**k
weight keeps each band's gain in a step at GAIN**(2k); a gain of 2 or more moved large areas too far there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GAIN = math.sqrt(2)
MIN_SIDE = 32


def layer_shapes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The layers' shapes for a picture of ``shape`` (N, C, H, W): full size, then halved while the short side
    stays at least ``MIN_SIDE``."""
    *lead, height, width = shape
    shapes, k = [tuple(shape)], 1
    while min(height, width) / 2**k >= MIN_SIDE:
        shapes.append((*lead, math.ceil(height / 2**k), math.ceil(width / 2**k)))
        k += 1
    return shapes


def size_ratio(height: int, width: int) -> float:
    """The pyramid's numbers over the picture's (about 4/3): what L-BFGS's history holds per step, relative."""
    return sum(math.prod(s) for s in layer_shapes((1, 1, height, width))) / (height * width)


class Pyramid:
    """The layers of a picture as one flat tensor, ``params`` (the optimizer's), and the picture they make.

    It starts at ``start``: the full-size layer holds it, the coarser layers are zero. ``gain``: see the module.
    """

    def __init__(self, start: torch.Tensor, gain: float = GAIN) -> None:
        self.gain = gain
        self.shapes = layer_shapes(tuple(start.shape))
        self.size = tuple(start.shape[-2:])
        sizes = [math.prod(s) for s in self.shapes]
        params = start.new_zeros(sum(sizes), dtype=torch.float32)
        params[: sizes[0]] = start.detach().reshape(-1)
        self.params = params.requires_grad_(True)
        self._sizes = sizes

    def picture(self, params: torch.Tensor | None = None) -> torch.Tensor:
        """The picture that ``params`` (by default the pyramid's own) make."""
        layers = torch.split(params if params is not None else self.params, self._sizes)
        picture = layers[0].view(self.shapes[0])
        for k, (layer, shape) in enumerate(zip(layers[1:], self.shapes[1:]), 1):
            enlarged = F.interpolate(layer.view(shape), size=self.size, mode="bilinear", align_corners=False)
            picture = picture + self.gain**k / 2**k * enlarged
        return picture


class Pixels:
    """The picture itself as the optimizer's tensor (the same interface as :class:`Pyramid`)."""

    def __init__(self, start: torch.Tensor) -> None:
        self.params = start.detach().clone().requires_grad_(True)

    def picture(self, params: torch.Tensor | None = None) -> torch.Tensor:
        return params if params is not None else self.params


def canvas(start: torch.Tensor, pyramid: bool) -> Pyramid | Pixels:
    """What one scale's optimizer moves, starting at the picture ``start``."""
    return Pyramid(start) if pyramid else Pixels(start)
