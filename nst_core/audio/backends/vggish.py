"""VGGish (Hershey et al. 2017) as a loss network: its log-mel front end in torch, then its conv trunk.

Front end after the reference: 16 kHz, 25 ms periodic Hann window (400 samples) in a 512-point FFT, 10 ms
hop, magnitude, 64 HTK mel bands 125-7500 Hz, log(mel + 0.01). The reference cuts 96-frame patches for
its embedding layers; the conv trunk is fully convolutional, so here it sees the whole clip at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ... import hub
from ...health import HealthResult
from ...layers import NamedStages
from ..spectral import SpectralFrame, log_magnitude, mel_filterbank
from .base import AudioBackend, BackendDefaults

# (name, module) in torchvggish's ``features`` order: conv indices 0, 3, 6, 8, 11, 13.
_PLAN = (("conv1", 1, 64), ("pool1",), ("conv2", 64, 128), ("pool2",), ("conv3_1", 128, 256),
         ("conv3_2", 256, 256), ("pool3",), ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("pool4",))


class VGGish(AudioBackend):
    name = "vggish"
    floor_seconds = 1.0
    defaults = BackendDefaults(
        content_layers=("relu2",), style_layers=("relu1", "relu2", "relu3_1", "relu4_1"),
        content_weight=1.0, style_weight=10.0, spectral_content_weight=1.0, steps=100,
    )

    def __init__(self) -> None:
        super().__init__()
        self.frame = SpectralFrame(16000, 512, 160, win_length=400)
        self.register_buffer("mel", mel_filterbank(16000, 512, 64, 125.0, 7500.0, "vggish"))
        layers, names = [], []
        for item in _PLAN:
            if len(item) == 1:
                layers.append(nn.MaxPool2d(2, 2))
                names.append(item[0])
            else:
                layers += [nn.Conv2d(item[1], item[2], 3, padding=1), nn.ReLU()]
                names += [item[0], item[0].replace("conv", "relu")]
        self.features_ = nn.Sequential(*layers)
        self.stages = NamedStages(list(zip(names, layers)))
        self.layer_names = ("input", "logmel", *names)

    def log_mel(self, log_magnitude: torch.Tensor) -> torch.Tensor:
        magnitude = torch.expm1(log_magnitude).clamp_min(0)
        return torch.log(torch.einsum("mf,bft->bmt", self.mel, magnitude) + 0.01)

    def features(self, log_magnitude: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
        out = {"input": log_magnitude} if "input" in layers else {}
        log_mel = self.log_mel(log_magnitude)
        if "logmel" in layers:
            out["logmel"] = log_mel
        image = log_mel.transpose(1, 2).unsqueeze(1)  # (batch, 1, frames, 64): VGGish's example layout
        out.update(self.stages(image, layers))
        return out


def _torchvggish_trunk(raw: object) -> dict[str, torch.Tensor]:
    """torchvggish's ``features.N.*`` -> this module's ``features_.N.*``; embeddings and PCA are dropped."""
    return {name.replace("features.", "features_.", 1): t for name, t in raw.items() if name.startswith("features.")}


# The reference smoke test (tensorflow/models research/audioset/vggish/vggish_smoke_test.py): 3 s of a 1 kHz
# sine must give embeddings with mean 0.131 and standard deviation 0.238, each within 10 %. torchvggish
# repeats the same test for its port. The sine is made at 16 kHz here (the reference makes it at 44.1 kHz and
# resamples to 16 kHz, which leaves the same tone).
SMOKE_MEAN, SMOKE_STD, SMOKE_TOLERANCE = 0.131, 0.238, 0.10
_EXAMPLE_FRAMES = 96  # 0.96 s patches, VGGish's examples


def vggish_smoke_test(raw: object) -> HealthResult:
    """The reference smoke test through this module's own front end and trunk plus the file's embedding head."""
    net = VGGish()
    hub.load_strict(net, {**_torchvggish_trunk(raw), "mel": net.mel}, "vggish")
    t = torch.arange(3 * 16000, dtype=torch.float64) / 16000
    tone = torch.sin(2 * torch.pi * 1000 * t).float().numpy()
    log_mag, _ = log_magnitude(net.frame, tone)
    with torch.inference_mode():
        log_mel = net.log_mel(log_mag.unsqueeze(0))[0].T  # (frames, 64)
        count = log_mel.shape[0] // _EXAMPLE_FRAMES
        examples = log_mel[: count * _EXAMPLE_FRAMES].reshape(count, 1, _EXAMPLE_FRAMES, 64)
        x = net.features_(examples)
        # torchvggish flattens in TensorFlow's (height, width, channels) order before the embedding layers.
        x = x.permute(0, 2, 3, 1).reshape(count, -1)
        for index in (0, 2, 4):
            x = F.relu(F.linear(x, raw[f"embeddings.{index}.weight"], raw[f"embeddings.{index}.bias"]))
    mean, std = x.mean().item(), x.std(correction=0).item()
    passed = (abs(mean - SMOKE_MEAN) <= SMOKE_TOLERANCE * SMOKE_MEAN
              and abs(std - SMOKE_STD) <= SMOKE_TOLERANCE * SMOKE_STD)
    return HealthResult(passed, f"smoke-test embedding mean {mean:.3f} (reference {SMOKE_MEAN}), std {std:.3f} "
                                f"(reference {SMOKE_STD}), tolerance {SMOKE_TOLERANCE:.0%}")


# Every file this module's network loads, by key.
WEIGHTS: dict[str, hub.WeightEntry] = {"vggish": hub.WeightEntry(
    key="vggish",
    # torch.hub names files <name>-<first 8 hex digits of their sha256>.pth; that prefix is what is checked.
    # No full sha256 of this file was found on a public page.
    source=hub.UrlFile("https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
                       "10086976", "vggish-10086976.pth"),
    convert=_torchvggish_trunk,
    description="VGGish conv trunk (torchvggish port of the AudioSet VGGish)",
    license="Apache-2.0",
    size_mb=277,
    check=vggish_smoke_test,
    check_source="tensorflow/models research/audioset/vggish/vggish_smoke_test.py (mean 0.131, std 0.238, 10 %)",
    pin_source="torchvggish v0.1 release; sha256 prefix from the torch.hub file name",
)}


def load_vggish() -> VGGish:
    net = VGGish()
    item = WEIGHTS["vggish"]
    hub.load_strict(net, {**hub.load_state_dict(item), "mel": net.mel}, item.source.describe())
    net.weights_note = "pretrained (torchvggish v0.1, smoke test passed)"
    return net.eval().requires_grad_(False)
