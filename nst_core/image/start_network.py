"""The one-pass network itself as what a one-pass start's coarse scale optimizes.

A picture optimized at a coarse scale and enlarged lacks the fine band, and the full-size steps spend themselves
putting it back. The arbitrary transformer (Ghiasi et al. 2017, :mod:`.onepass`) renders at any size, so on the
coarse scale L-BFGS moves its weights and its style vector (a trainable fp32 copy, about 180k numbers: less than
the picture's pixels at 512 px) against that scale's loss, and the final scale starts from its rendering at full
size. At the one-pass option's cost this keeps the photo closer than moving the picture on the pyramid from an
enlargement (``bench/image_start.py``; docs/benchmarks.md). A step costs about 1.3 pixel steps at the same size
(:data:`STEP_COST`): the transformer's forward and backward pass come on top of the loss network's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch.func import functional_call

from ..runtime import Runtime
from .color import ColorMode, keep_content_colors, recolor_style
from .fast.model import from_network, pad4, to_network
from .fast.run import MIN_FAST_SIDE

# A network step's time over a pixel step's at the same size, on VGG19's loss (``python bench/image_optimize.py
# --network``: 1.26-1.32 at 181 px, 1.14-1.32 at 512 px, fp32 and bf16; docs/benchmarks.md).
STEP_COST = 1.3


def style_vector(content: torch.Tensor, styles: Sequence[Image.Image], blend: Sequence[float] | None,
                 color: ColorMode) -> torch.Tensor:
    """The arbitrary network's condition for ``styles`` blended by ``blend``, each recoloured as ``color`` asks
    for ``content`` (RGB in [0, 1])."""
    from .onepass.styles import blend_weights, style_picture, vector_of

    shares = blend_weights(blend, len(styles))
    return sum(share * vector_of(recolor_style(style_picture(style), content, color))
               for share, style in zip(shares, styles))


def at_network_size(network: Callable[[torch.Tensor], torch.Tensor], picture: torch.Tensor) -> torch.Tensor:
    """``network`` on ``picture``, enlarged first where a side is below ``MIN_FAST_SIDE`` (the network's padded
    convolutions need 16 px a side) and its result brought back to the picture's size."""
    height, width = picture.shape[-2:]
    grow = max(1.0, MIN_FAST_SIDE / min(height, width))
    if grow == 1.0:
        return network(picture)
    grown = torch.nn.functional.interpolate(picture, scale_factor=grow, mode="bilinear", align_corners=False)
    return torch.nn.functional.interpolate(network(grown), size=(height, width), mode="area")


class StartNetwork:
    """A trainable copy of the one-pass transformer and its ``condition``, as one flat tensor, ``params`` (the
    optimizer's); it renders the photo at any size (:meth:`render`), or gives one scale's canvas (:meth:`at`)."""

    def __init__(self, condition: torch.Tensor, color: ColorMode, runtime: Runtime) -> None:
        from .onepass.catalogue import load_network

        # A copy: the loaded network is shared by every request and must never move.
        self._net = copy.deepcopy(load_network("onepass-transformer")).float().to(runtime.device)
        tensors = dict(self._net.named_parameters())
        for tensor in tensors.values():
            tensor.requires_grad_(False)  # the flat tensor below is what moves; these are only its template
        self._names = list(tensors)
        self._shapes = [t.shape for t in tensors.values()] + [condition.shape]
        self._sizes = [shape.numel() for shape in self._shapes]
        flat = torch.cat([t.detach().reshape(-1) for t in tensors.values()] + [condition.detach().reshape(-1)])
        self.params = flat.float().to(runtime.device).requires_grad_(True)
        self.color, self.runtime = color, runtime

    def render(self, photo: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        """The network (with ``params``, by default its own) on ``photo`` (RGB in [0, 1]), unclamped: the range
        term of the loss, not a clamp, keeps it in range while it learns."""
        from .onepass.styles import ANY_PICTURE

        values = [v.view(s) for v, s in zip(torch.split(self.params if params is None else params, self._sizes),
                                            self._shapes)]
        weights = dict(zip(self._names, values))

        def network(picture: torch.Tensor) -> torch.Tensor:
            with self.runtime.autocast():
                styled = functional_call(self._net, weights, (to_network(pad4(picture), ANY_PICTURE),),
                                         {"condition": values[-1]})
            return from_network(styled[..., : picture.shape[-2], : picture.shape[-1]], ANY_PICTURE, clamp=False)

        styled = at_network_size(network, photo.to(self.runtime.device))
        styled = styled.to(photo.device)
        return keep_content_colors(styled, photo) if self.color == "luminance" else styled

    def at(self, photo: torch.Tensor) -> NetworkCanvas:
        """What one scale's optimizer moves: this network, judged by its rendering of ``photo``."""
        return NetworkCanvas(self, photo)


class NetworkCanvas:
    """The network's parameters as the optimizer's tensor, its rendering of one scale's photo as the picture (the
    interface of :class:`~nst_core.image.pyramid.Pyramid`)."""

    def __init__(self, network: StartNetwork, photo: torch.Tensor) -> None:
        self.network, self.photo, self.params = network, photo, network.params

    def picture(self, params: torch.Tensor | None = None) -> torch.Tensor:
        return self.network.render(self.photo, params)
