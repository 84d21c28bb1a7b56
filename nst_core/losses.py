"""The loss terms every objective is made of, and the one way they are summed.

Small modules: content and Gram style losses per layer (:class:`ContentLoss`, :class:`StyleLoss`), summed
over layers by :class:`LayerLosses`; penalties on the optimized tensor itself (:func:`total_variation`,
:func:`range_penalty`, :func:`relative_mse` against a target). An :class:`Objective` is a list of named,
weighted :class:`Term` s over one feature network: image optimization, audio optimization and fast-style
training each build one from these parts rather than writing their own sum.

Content and style losses are divided by the mean square of their target, so each layer's loss is a
relative error. That keeps one set of default weights meaningful across backbones (the original
VGG sees 0-255 inputs, torchvision's nets standardized ones) and across image sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
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
    """(B, C, H, W) or (B, C, T) -> (B, C, C) fp32: channel co-activations averaged over positions.

    The product runs in the activations' own dtype: under bf16 autocast that is 4x the fp32 matmul
    throughput on CPUs with AVX-512 bf16, and the rounding is far below the optimization's noise.
    """
    if features.dim() == 3:  # 1-D feature maps (audio over time) are images one row high
        features = features.unsqueeze(2)
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


def guided_gram(features: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """The Gram matrix of one region (Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer",
    CVPR 2017): activations weighted by the guide, a (1, 1, h, w) map in [0, 1] downsampled to the layer's size,
    and averaged over the region rather than the whole map, so a small region's statistics count fully."""
    guide = F.interpolate(guide.float(), size=features.shape[-2:], mode="bilinear", align_corners=False).clamp(0, 1)
    return gram_matrix(features * guide.to(features.dtype)) / guide.square().mean().clamp_min(EPS)


class GuidedStyleLoss(nn.Module):
    """Relative squared distance between one region's Gram matrix and a style's."""

    def __init__(self, target_gram: torch.Tensor, guide: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target_gram.detach().float())
        self.register_buffer("guide", guide.detach().float())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return relative_mse(guided_gram(features, self.guide), self.target)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels: penalizes high-frequency noise."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def range_penalty(image: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """Mean squared distance of values outside [low, high] from the range: pulls drifting pixels back."""
    return ((image - low).clamp_max(0).square() + (image - high).clamp_min(0).square()).mean()


Features = dict[str, torch.Tensor]


class LayerLosses(nn.Module):
    """Per-layer losses summed with layer weights: the content or the style part of an objective."""

    def __init__(self, losses: dict[str, nn.Module], weights: dict[str, float] | None = None) -> None:
        super().__init__()
        self.losses = nn.ModuleDict(losses)
        self.weights = weights or dict.fromkeys(losses, 1.0)

    @classmethod
    def content(cls, features: Features, layers: Sequence[str]) -> LayerLosses:
        """Content at ``layers``, each layer's relative error counting once."""
        return cls({layer: ContentLoss(features[layer]) for layer in layers})

    @classmethod
    def style(cls, styles: Sequence[Features], layers: Sequence[str], *, blend: Sequence[float] | None = None,
              layer_weights: Sequence[float] | None = None, guide: torch.Tensor | None = None) -> LayerLosses:
        """Gram style at ``layers`` of several styles blended into one target; layer weights sum to one.

        With a ``guide`` (a region map in [0, 1]), only that region of the result is held to the style.
        """
        blend = list(blend or [1.0] * len(styles))
        layer_weights = list(layer_weights or [1.0] * len(layers))
        total = sum(layer_weights)
        losses: dict[str, nn.Module] = {}
        for layer in layers:
            blended = StyleLoss.blended([features[layer] for features in styles], blend)
            losses[layer] = blended if guide is None else GuidedStyleLoss(blended.target, guide)
        return cls(losses, {layer: weight / total for layer, weight in zip(layers, layer_weights)})

    @property
    def layers(self) -> frozenset[str]:
        return frozenset(self.losses.keys())

    def by_layer(self, features: Features) -> dict[str, torch.Tensor]:
        """Each layer's weighted loss: the parts :meth:`forward` sums."""
        return {layer: self.weights[layer] * loss(features[layer]) for layer, loss in self.losses.items()}

    def forward(self, features: Features) -> torch.Tensor:
        return sum(self.by_layer(features).values())


@dataclass
class Term:
    """One named part of an objective: ``weight * loss(x, features)``; ``layers`` are the features it reads, and
    ``parts`` (a term on features) its per-layer losses."""

    name: str
    weight: float
    loss: Callable[[torch.Tensor, Features], torch.Tensor]
    layers: frozenset[str] = frozenset()
    parts: LayerLosses | None = None

    @classmethod
    def on_features(cls, name: str, weight: float, losses: LayerLosses) -> Term:
        return cls(name, weight, lambda x, features: losses(features), losses.layers, losses)

    @classmethod
    def on_input(cls, name: str, weight: float, loss: Callable[[torch.Tensor], torch.Tensor]) -> Term:
        return cls(name, weight, lambda x, features: loss(x))


class Objective:
    """The weighted sum of named terms over one feature network: ``(total, {name: value, ..., "total": ...})``.

    ``features(x, layers)`` runs the network once per evaluation for every layer the active terms read.
    Terms of weight zero are not computed (their value reads 0). ``scales`` multiply named terms' weights
    while a run goes on (the audio style strength scales its style terms).
    """

    def __init__(self, features: Callable[[torch.Tensor, set[str]], Features], terms: Sequence[Term]) -> None:
        self.features = features
        self.terms = list(terms)
        self.scales: dict[str, float] = {}

    def add(self, term: Term) -> None:
        self.terms.append(term)

    def term(self, name: str) -> Term:
        return next(term for term in self.terms if term.name == name)

    def weight(self, term: Term) -> float:
        return term.weight * self.scales.get(term.name, 1.0)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        active = [term for term in self.terms if self.weight(term)]
        layers = set().union(*(term.layers for term in active))
        features = self.features(x, layers) if layers else {}
        values = {term.name: term.loss(x, features) for term in active}
        total = sum(self.weight(term) * values[term.name] for term in active)
        if not torch.is_tensor(total):  # every weight zero
            total = (x * 0).sum()
        report = {term.name: 0.0 for term in self.terms} | {name: float(v.detach()) for name, v in values.items()}
        return total, report | {"total": float(total.detach())}

    @torch.no_grad()
    def by_layer(self, x: torch.Tensor) -> dict[str, dict[str, float]]:
        """Each term on features, layer by layer (unweighted by the term's own weight): what its value sums."""
        terms = [term for term in self.terms if term.parts is not None]
        features = self.features(x, set().union(*(term.layers for term in terms)))
        return {term.name: {layer: float(value) for layer, value in term.parts.by_layer(features).items()}
                for term in terms}
