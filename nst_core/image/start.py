"""The picture an optimization starts from: the one-pass network's result, the photo, or noise.

The optimization's step is at the machine's roofline, so the way to a faster run is fewer steps, and the way to
fewer steps is a start that is already near the end. The arbitrary network (Ghiasi et al. 2017;
:mod:`nst_core.image.onepass`) gives one in a fraction of a second: conditioned on the same style pictures,
blended by the same weights, recoloured as ``color`` asks, at the size of the first scale. Where a region mask
applies, the start is the network's result inside and the photo (or the second style's result) outside.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from PIL import Image

from ..errors import InvalidInput, NSTError
from ..runtime import PreparedModels, pick_runtime
from .color import ColorMode, keep_content_colors
from .fast.model import FastModel
from .fast.run import network_pass
from .settings import Start
from .start_network import StartNetwork, at_network_size, style_vector

log = logging.getLogger(__name__)

_PREPARED = PreparedModels()  # the transformer laid out for the runtime, kept between runs
WEIGHTS = ("onepass-predictor", "onepass-transformer")  # what a one-pass start reads: the style vector, the picture


def start_image(start: Start, content: torch.Tensor, styles: Sequence[Image.Image], *, color: ColorMode,
                blend: Sequence[float] | None, guide: torch.Tensor | None, outside: Sequence[Image.Image],
                generator: torch.Generator, device: str = "auto",
                precision: str = "auto") -> tuple[torch.Tensor, list[str]]:
    """The first scale's starting picture for ``content`` (RGB in [0, 1] at that scale) and any notice.

    ``styles`` are the pictures that apply inside the region (everywhere without one), ``outside`` the one that
    applies outside it (none: the photo stays there). If the one-pass network cannot be loaded, the run starts
    from the photo and says so.
    """
    if start == "noise":
        return torch.rand(content.shape, generator=generator), []
    if start == "content":
        return content.clone(), []
    try:
        inside = one_pass(content, styles, blend, color, device, precision)
        around = one_pass(content, outside, None, color, device, precision) if outside else content
    except NSTError as exc:
        return content.clone(), _without_one_pass(exc)
    return (inside if guide is None else guide * inside + (1 - guide) * around), []


def start_network(content: torch.Tensor, styles: Sequence[Image.Image], *, color: ColorMode,
                  blend: Sequence[float] | None, device: str = "auto",
                  precision: str = "auto") -> tuple[StartNetwork | None, list[str]]:
    """The one-pass network for ``styles`` that the coarse scales will move (:mod:`.start_network`), and any notice;
    None where it cannot be loaded or used (the run then starts from the photo, as :func:`start_image` does)."""
    try:
        return StartNetwork(style_vector(content, styles, blend, color), color, pick_runtime(device, precision)), []
    except NSTError as exc:
        return None, _without_one_pass(exc)


def _without_one_pass(exc: NSTError) -> list[str]:
    """What a run that starts from the photo instead says, for the reason ``exc``."""
    if isinstance(exc, InvalidInput):  # a style picture the predictor cannot use (too small): the photo, and why
        return [f"No one-pass start: {exc} The run started from the photo instead."]
    # The network's weights: the reason goes to the log, which may name server files.
    log.warning("one-pass start unavailable: %s", exc)
    return ["The one-pass start is unavailable on this server (its network could not be loaded); the run started "
            "from the photo instead and takes more steps to reach the same style."]


def one_pass(content: torch.Tensor, styles: Sequence[Image.Image], blend: Sequence[float] | None, color: ColorMode,
             device: str = "auto", precision: str = "auto", strength: float = 1.0) -> torch.Tensor:
    """The arbitrary network's result for ``content`` (RGB in [0, 1]) with ``styles`` blended by ``blend``, at
    ``strength`` (the style vector moved that far from the photo's own)."""
    from .onepass.catalogue import load_network
    from .onepass.styles import ANY_PICTURE, vector_of

    vector = style_vector(content, styles, blend, color)
    if strength < 1.0:
        vector = strength * vector + (1.0 - strength) * vector_of(content)
    runtime = pick_runtime(device, precision)
    net = runtime.prepare_model(load_network(WEIGHTS[1]), _PREPARED)
    model = FastModel(net, ANY_PICTURE, vector)
    with torch.no_grad():
        styled = at_network_size(
            lambda picture: network_pass(model, picture, runtime, condition=model.condition), content).clone()
    styled = styled.cpu().clamp(0, 1).contiguous()  # the network's output may be channels_last; L-BFGS views it flat
    return keep_content_colors(styled, content) if color == "luminance" else styled
