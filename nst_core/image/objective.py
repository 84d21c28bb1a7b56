"""What one scale of an optimization works towards: the content, styles and region guide at its size, and the
weighted loss against them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..losses import LayerLosses, Objective, Term, range_penalty, total_variation
from ..runtime import Runtime
from .backbones import FeatureNet, backbone_spec
from .color import recolor_style
from .io import LoadedImage, fit_long_side, to_tensor
from .regions import Regions
from .settings import ImageSettings

# Below this many pixels a side, VGG's four poolings leave nothing for relu5_1 to see.
MIN_SIDE = 32


def image_objective(net: FeatureNet, runtime: Runtime, settings: ImageSettings, content: torch.Tensor,
                    styles: list[torch.Tensor], *, guide: torch.Tensor | None = None,
                    outside_styles: list[torch.Tensor] = (), style_losses: LayerLosses | None = None) -> Objective:
    """Weighted content + style + TV + range loss of an image against fixed targets at one scale.

    With a ``guide`` (the region mask at this scale), ``styles`` hold only inside it and ``outside_styles``
    (if any) outside it; elsewhere the content alone speaks. ``style_losses``, an earlier scale's style targets for
    the very same ``styles``, spares computing them again.
    """
    spec = backbone_spec(settings.backbone)
    content_layers = settings.content_layers or spec.content_layers
    style_layers = settings.style_layers or spec.style_layers

    def features(image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        with runtime.autocast():
            return net(runtime.prepare_input(image), layers)

    with torch.no_grad():
        content_features = features(content, content_layers)
        style_features = [] if style_losses is not None else [features(style, style_layers) for style in styles]
        outside_features = [features(style, style_layers) for style in outside_styles]
    s = settings
    layer_weights = s.style_layer_weights or spec.style_layer_weights
    if style_losses is None:
        style_losses = LayerLosses.style(style_features, style_layers, blend=s.style_blend,
                                         layer_weights=layer_weights, guide=guide)
    terms = [
        Term.on_features("content", s.content_weight, LayerLosses.content(content_features, content_layers)),
        Term.on_features("style", s.style_weight, style_losses),
        Term.on_input("tv", s.tv_weight, total_variation),
        Term.on_input("range", s.range_weight, range_penalty),
    ]
    if outside_features:
        terms.append(Term.on_features("style_outside", s.style_weight, LayerLosses.style(
            outside_features, style_layers, layer_weights=layer_weights, guide=1.0 - guide)))
    return Objective(features, terms)


@dataclass(frozen=True)
class ScaleTargets:
    """What one scale optimizes towards: the content and styles at its size, the region guide, the loss."""

    content: torch.Tensor
    styles: list[torch.Tensor]
    guide: torch.Tensor | None
    objective: Objective | None = None


def scale_images(long_side: int, content: LoadedImage, styles: list[LoadedImage], regions: Regions | None,
                  settings: ImageSettings) -> ScaleTargets:
    """The content, styles and region guide at one scale (no loss yet)."""
    content_t = to_tensor(fit_long_side(content.image, long_side, MIN_SIDE))
    style_ts = [
        recolor_style(to_tensor(fit_long_side(s.image, round(long_side * settings.style_scale), MIN_SIDE)),
                      content_t, settings.color)
        for s in styles
    ]
    guide = regions.at(tuple(content_t.shape[-2:])) if regions else None
    return ScaleTargets(content_t, style_ts, guide)


def scale_targets(long_side: int, content: LoadedImage, styles: list[LoadedImage], regions: Regions | None,
                   settings: ImageSettings, net: FeatureNet, runtime: Runtime, *,
                   earlier: ScaleTargets | None = None) -> ScaleTargets:
    """The scale's pictures and its loss; the style's targets taken from the ``earlier`` scale where that saw the
    very same style pictures (the network's coarse scale takes them at the final scale's size)."""
    images = scale_images(long_side, content, styles, regions, settings)
    inside, outside = regions.split(images.styles) if regions else (images.styles, [])
    objective = image_objective(net, runtime, settings, images.content, inside, guide=images.guide,
                                outside_styles=outside, style_losses=_same_style_losses(earlier, images))
    return dataclasses.replace(images, objective=objective)


def _same_style_losses(earlier: ScaleTargets | None, images: ScaleTargets) -> LayerLosses | None:
    """The earlier scale's style targets if it had no region guide and the same style pictures, to the value."""
    if earlier is None or earlier.guide is not None or images.guide is not None:
        return None
    same = len(earlier.styles) == len(images.styles) and all(
        a.shape == b.shape and torch.equal(a, b) for a, b in zip(earlier.styles, images.styles))
    return earlier.objective.term("style").parts if same else None
