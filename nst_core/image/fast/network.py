"""The feed-forward style network (Johnson et al. 2016, with instance normalization).

:class:`TransformerNet` is the architecture of the published ``maze/FastStyleTransfer`` checkpoints and of
the models ``train_fast`` writes. Its instance norms can run on statistics given as an argument: tiles of one
large picture are normalized with the statistics of the whole (see :mod:`.run`), so they agree and no seams
show. Statistics are arguments, never state kept on a network that requests share.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..norms import NormStatistics, instance_norm


class InstanceNorm(nn.InstanceNorm2d):
    """Instance norm that can also apply given statistics, or record its own (``index``: its place in the net)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)
        self.index = 0

    def forward(self, x: torch.Tensor, stats: NormStatistics | None = None,
                record: list | None = None) -> torch.Tensor:
        given = None if stats is None else stats[self.index]
        return instance_norm(x, self.weight, self.bias, self.eps, given=given, record=record)


class ConvNormAct(nn.Module):
    """Reflection padding, convolution, optional instance norm and ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: bool = True,
                 relu: bool = True) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride)
        self.norm = InstanceNorm(cout) if norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor, stats: NormStatistics | None = None, record: list | None = None) -> torch.Tensor:
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x, stats, record)
        return F.relu(x) if self.relu else x


class UpConvNormAct(nn.Module):
    """Transposed convolution (x2), instance norm, ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
        self.norm = InstanceNorm(cout)

    def forward(self, x: torch.Tensor, stats: NormStatistics | None = None, record: list | None = None) -> torch.Tensor:
        return F.relu(self.norm(self.deconv(x), stats, record))


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(channels, channels, 3)
        self.conv2 = ConvNormAct(channels, channels, 3, relu=False)

    def forward(self, x: torch.Tensor, stats: NormStatistics | None = None, record: list | None = None) -> torch.Tensor:
        return x + self.conv2(self.conv1(x, stats, record), stats, record)


class TransformerNet(nn.Module):
    """Downsample x4, five residual blocks of 128 channels, upsample x4 (Johnson et al. 2016)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Sequential(ConvNormAct(3, 32, 9), ConvNormAct(32, 64, 3, 2), ConvNormAct(64, 128, 3, 2))
        self.residual = nn.Sequential(*(Residual(128) for _ in range(5)))
        self.up = nn.Sequential(UpConvNormAct(128, 64), UpConvNormAct(64, 32))
        self.out = ConvNormAct(32, 3, 9, norm=False, relu=False)
        for index, norm in enumerate(m for m in self.modules() if isinstance(m, InstanceNorm)):
            norm.index = index  # registration order is execution order

    def forward(self, x: torch.Tensor, stats: NormStatistics | None = None, record: list | None = None,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """A pass on the image's own statistics, or on ``stats``; ``record`` collects the ones computed. (Its norms
        are not conditional: ``condition`` is accepted, as every feed-forward style network takes it, and unused.)"""
        for block in (*self.down, *self.residual, *self.up):
            x = block(x, stats, record)
        return self.out(x)

    def statistics(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> list[tuple[torch.Tensor,
                                                                                               torch.Tensor]]:
        """Every instance norm's (mean, variance) for the picture ``x``, in order."""
        record: list = []
        for block in (*self.down, *self.residual, *self.up):  # the output layer has no norm: not run
            x = block(x, None, record)
        return record
