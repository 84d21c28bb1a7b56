"""The one-pass networks rebuilt in torch: conditional instance norm transformers and the style predictor.

* :class:`ConditionalTransformer`: a feed-forward style network whose instance norms take their scale and shift
  from a *condition*: the 26-style network of Dumoulin et al. (2017) is conditioned on 26 style weights, the
  transformer of Magenta's arbitrary stylization (Ghiasi et al. 2017) on a 100-number style vector. Both map
  the condition to each norm's scale and shift with an affine map (the 26-style network's has no offset).
* :class:`StylePredictor`: MobileNetV2 averaged over the picture, then a 1x1 convolution to the style vector
  (Ghiasi et al.'s predictor distilled to MobileNetV2, as in Magenta's TF Lite export).

Like :class:`~nst_core.image.fast.network.TransformerNet`, the transformers take norm statistics as an argument
(tiles of a large picture share the whole picture's) and the condition as an argument (never kept on a network
that requests share). Both are fully convolutional: any size that is a multiple of 4 runs as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..norms import NormStatistics, instance_norm

EPSILON = 1e-5  # the files' own: the arbitrary transformer's dequantized "batchnorm/add/y", the 26-style's Add


class ConditionalNorm(nn.Module):
    """Instance norm with scale ``condition @ gamma.T + gamma_offset`` and shift likewise (one row per channel)."""

    def __init__(self, channels: int, condition_size: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(channels, condition_size))
        self.gamma_offset = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels, condition_size))
        self.beta_offset = nn.Parameter(torch.zeros(channels))
        self.index = 0

    def forward(self, x: torch.Tensor, condition: torch.Tensor, stats: NormStatistics | None,
                record: list | None) -> torch.Tensor:
        condition = condition.float()
        scale = F.linear(condition, self.gamma, self.gamma_offset)
        shift = F.linear(condition, self.beta, self.beta_offset)
        given = None if stats is None else stats[self.index]
        return instance_norm(x, scale, shift, EPSILON, given=given, record=record)


class Layer(nn.Module):
    """[nearest x2 upsampling], reflection padding, convolution, [conditional norm], activation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, *, norm: int = 0, bias: bool = True,
                 activation: str = "relu", upsample: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, bias=bias)
        self.norm = ConditionalNorm(cout, norm) if norm else None
        self.activation, self.upsample, self.pad = activation, upsample, kernel // 2

    def forward(self, x: torch.Tensor, condition: torch.Tensor, stats: NormStatistics | None,
                record: list | None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = self.conv(F.pad(x, (self.pad,) * 4, mode="reflect"))
        if self.norm is not None:
            x = self.norm(x, condition, stats, record)
        if self.activation == "relu":
            return F.relu(x)
        return torch.sigmoid(x.float()) if self.activation == "sigmoid" else x


@dataclass(frozen=True)
class TransformerShape:
    """What tells the two conditional transformers apart."""

    condition_size: int          # 100 (a style vector) or 26 (style weights)
    contract: tuple[int, int, int]
    expand: tuple[int, int]
    residuals: int
    contract_norm: bool          # the arbitrary transformer's contract layers have batch norm folded in instead
    bias: bool


ARBITRARY = TransformerShape(100, (8, 16, 32), (16, 8), 5, contract_norm=False, bias=True)
MULTISTYLE = TransformerShape(26, (32, 32, 32), (8, 4), 6, contract_norm=True, bias=False)


class ConditionalTransformer(nn.Module):
    """Downsample x4, residual blocks, upsample x4 (nearest + convolution), a sigmoid: RGB in [0, 1] both ways."""

    def __init__(self, shape: TransformerShape) -> None:
        super().__init__()
        size, (c1, c2, c3), (e1, e2) = shape.condition_size, shape.contract, shape.expand
        contract_norm = size if shape.contract_norm else 0
        self.contract = nn.ModuleList([Layer(3, c1, 9, norm=contract_norm, bias=shape.bias),
                                       Layer(c1, c2, 3, 2, norm=contract_norm, bias=shape.bias),
                                       Layer(c2, c3, 3, 2, norm=contract_norm, bias=shape.bias)])
        self.residual = nn.ModuleList(nn.ModuleList([Layer(c3, c3, 3, norm=size, bias=shape.bias),
                                                     Layer(c3, c3, 3, norm=size, bias=shape.bias, activation="none")])
                                      for _ in range(shape.residuals))
        self.expand = nn.ModuleList([Layer(c3, e1, 3, norm=size, bias=shape.bias, upsample=True),
                                     Layer(e1, e2, 3, norm=size, bias=shape.bias, upsample=True),
                                     Layer(e2, 3, 9, norm=size, bias=shape.bias, activation="sigmoid")])
        for index, norm in enumerate(m for m in self.modules() if isinstance(m, ConditionalNorm)):
            norm.index = index  # registration order is execution order

    def forward(self, x: torch.Tensor, stats: NormStatistics | None = None, record: list | None = None,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        if condition is None:
            raise ValueError("a conditional transformer needs its condition (style vector or style weights)")
        for layer in self.contract:
            x = layer(x, condition, stats, record)
        for first, second in self.residual:
            x = x + second(first(x, condition, stats, record), condition, stats, record)
        for layer in self.expand:
            x = layer(x, condition, stats, record)
        return x

    def statistics(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> list[tuple[torch.Tensor,
                                                                                               torch.Tensor]]:
        record: list = []
        self(x, record=record, condition=condition)
        return record


class Conditioned(nn.Module):
    """A conditional transformer bound to one condition, for code that runs plain networks (the health check)."""

    def __init__(self, net: ConditionalTransformer, condition: torch.Tensor) -> None:
        super().__init__()
        self.net, self.condition = net, condition

    def forward(self, x: torch.Tensor, stats: NormStatistics | None = None, record: list | None = None) -> torch.Tensor:
        return self.net(x, stats, record, self.condition)


def same_padding(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero padding as TensorFlow's 'SAME' places it: the odd pixel goes after (bottom, right)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max(kernel - (size % stride or stride), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class SameConv(nn.Conv2d):
    """A convolution with TensorFlow's 'SAME' padding, optionally followed by ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu6: bool = True):
        super().__init__(cin, cout, kernel, stride, groups=groups)
        self.relu6 = relu6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(same_padding(x, self.kernel_size[0], self.stride[0]))
        return F.relu6(x) if self.relu6 else x


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.expand = SameConv(cin, hidden, 1) if expansion != 1 else None
        self.depthwise = SameConv(hidden, hidden, 3, stride, groups=hidden)
        self.project = SameConv(hidden, cout, 1, relu6=False)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x) if self.expand is not None else x))
        return x + y if self.skip else y


# MobileNetV2's stages (expansion, channels, repeats, first stride), Sandler et al. 2018, Table 2.
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))
STYLE_VECTOR_SIZE = 100


class StylePredictor(nn.Module):
    """A picture (RGB in [0, 1]) -> its style vector (1, 100)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = SameConv(3, 32, 3, 2)
        blocks, cin = [], 32
        for expansion, cout, repeats, stride in MOBILENET_V2:
            for index in range(repeats):
                blocks.append(InvertedResidual(cin, cout, stride if index == 0 else 1, expansion))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = SameConv(cin, 1280, 1)
        self.bottleneck = nn.Conv2d(1280, STYLE_VECTOR_SIZE, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x))).float().mean(dim=(2, 3), keepdim=True)
        return self.bottleneck(x.to(self.bottleneck.weight.dtype)).float().flatten(1)
