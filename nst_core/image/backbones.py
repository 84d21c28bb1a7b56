"""Feature networks for image style transfer: VGG19, VGG16 and ResNet50 trunks with named layers.

A :class:`FeatureNet` takes an RGB image in [0, 1], applies its own input normalization, runs only as
deep as the deepest requested layer and returns the requested activations by name
(``relu4_2`` for VGG, ``layer2`` for ResNet50).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torchvision.models import resnet50

from .. import hub
from ..runtime import freeze

Pooling = Literal["max", "avg"]

VGG19_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
VGG16_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class CaffeNormalize(nn.Module):
    """The original VGG's input: BGR, 0-255, minus the ImageNet mean pixel."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean_bgr", torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return rgb.flip(1) * 255.0 - self.mean_bgr


class TorchvisionNormalize(nn.Module):
    """torchvision's input: RGB in [0, 1], standardized per channel."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return (rgb - self.mean) / self.std


class FeatureNet(nn.Module):
    """A normalization followed by a sequence of named stages; returns activations by name.

    ``body`` owns the parameters under the checkpoint's own names (``features.0.weight``, ``layer1.0...``);
    ``stages`` lists the same modules in execution order under their public layer names.
    """

    def __init__(self, normalize: nn.Module, body: nn.Module, stages: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.normalize = normalize
        self.body = body
        self.layer_names = [name for name, _ in stages]
        self._stages = [stage for _, stage in stages]
        self._position = {name: i for i, name in enumerate(self.layer_names)}
        # An in-place ReLU would overwrite a requested pre-activation; such outputs are copied first.
        following = [stage for _, stage in stages[1:]] + [None]
        self._overwritten_next = [isinstance(nxt, nn.ReLU) and nxt.inplace for nxt in following]

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        unknown = wanted - self._position.keys()
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)}; this network has {self.layer_names}")
        deepest = max(self._position[name] for name in wanted)
        features: dict[str, torch.Tensor] = {}
        x = self.normalize(image)
        for position, (name, stage) in enumerate(zip(self.layer_names[: deepest + 1], self._stages)):
            x = stage(x)
            if name in wanted:
                features[name] = x.clone() if self._overwritten_next[position] else x
        return features


def build_vgg(plan: tuple, normalize: nn.Module, pooling: Pooling) -> FeatureNet:
    """torchvision's VGG ``features`` layout, with jcjohnson-style names (conv1_1, relu1_1, pool1, ...)."""
    layers: list[nn.Module] = []
    names: list[str] = []
    block, index, channels = 1, 1, 3
    for item in plan:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
            names.append(f"pool{block}")
            block, index = block + 1, 1
            continue
        layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
        names += [f"conv{block}_{index}", f"relu{block}_{index}"]
        channels, index = item, index + 1
    body = nn.Module()
    body.features = nn.Sequential(*layers)
    return FeatureNet(normalize, body, list(zip(names, layers)))


def build_resnet50(pooling: Pooling) -> FeatureNet:
    """ResNet50 up to ``layer4``; stage outputs named stem (after the first ReLU), pool, layer1..layer4."""
    net = resnet50(weights=None)
    if pooling == "avg":
        net.maxpool = nn.AvgPool2d(3, 2, 1)
    del net.fc, net.avgpool
    modules = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
    names = ("conv1", "bn1", "stem", "pool", "layer1", "layer2", "layer3", "layer4")
    return FeatureNet(TorchvisionNormalize(), net, [(name, getattr(net, attr)) for name, attr in zip(names, modules)])


@dataclass(frozen=True)
class BackboneSpec:
    """A selectable loss network: its weights, its architecture and sensible default layers."""

    name: str
    label: str
    weights: str
    build: Callable[[Pooling], FeatureNet]
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    # Deep layers have far fewer, larger Gram entries; weighting shallow layers up evens them out.
    style_layer_weights: tuple[float, ...]


_VGG_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_VGG_STYLE_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0)

BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            "vgg19", "VGG19 (original weights, offline)", "vgg19-original",
            lambda pooling: build_vgg(VGG19_PLAN, CaffeNormalize(), pooling),
            ("relu4_2",), _VGG_STYLE, _VGG_STYLE_WEIGHTS,
        ),
        BackboneSpec(
            "vgg19-torchvision", "VGG19 (torchvision weights)", "vgg19-torchvision",
            lambda pooling: build_vgg(VGG19_PLAN, TorchvisionNormalize(), pooling),
            ("relu4_2",), _VGG_STYLE, _VGG_STYLE_WEIGHTS,
        ),
        BackboneSpec(
            "vgg16", "VGG16 (torchvision weights)", "vgg16-torchvision",
            lambda pooling: build_vgg(VGG16_PLAN, TorchvisionNormalize(), pooling),
            ("relu4_2",), _VGG_STYLE, _VGG_STYLE_WEIGHTS,
        ),
        BackboneSpec(
            "resnet50", "ResNet50 (torchvision weights)", "resnet50-torchvision",
            build_resnet50,
            ("layer2",), ("stem", "layer1", "layer2", "layer3"), (1.0, 1.0, 1.0, 1.0),
        ),
    )
}


def backbone_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}") from None


@functools.cache
def layer_names(name: str) -> tuple[str, ...]:
    """The named layers of backbone ``name`` (the same for either pooling), built once per process."""
    return tuple(backbone_spec(name).build("max").layer_names)


@functools.lru_cache(maxsize=4)
def load_backbone(name: str, pooling: Pooling = "max") -> FeatureNet:
    """The pretrained network ``name``, loaded strictly from the registry and frozen (cached)."""
    spec = backbone_spec(name)
    net = spec.build(pooling)
    state = hub.load_state_dict(spec.weights)
    hub.load_strict(net.body, state, origin=hub.entry(spec.weights).source.describe())
    return freeze(net)


def random_backbone(name: str, pooling: Pooling = "max", seed: int = 0) -> FeatureNet:
    """The same architecture with seeded random weights: for tests and speed benchmarks only."""
    torch.manual_seed(seed)
    return freeze(backbone_spec(name).build(pooling))
