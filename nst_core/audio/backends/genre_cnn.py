"""A small genre-classification CNN on power mel spectrograms (after the Ambience-to-Music NST network).

22.05 kHz, n_fft 1024, hop 256, 384 Slaney mel bands of power (not dB), 431-frame (~5 s) segments;
input BatchNorm, 8 x [2x2 valid conv with 32 filters, ReLU, 2x2 max pooling (stride 1 for the last two)],
BatchNorm, dropout 0.3, dense 64, dense 10. Content at the input and conv1, style at conv2 ... conv8
(the original's layers 0, 2 and 4-16). Trained by ``python -m nst_core.audio.train_genre`` on GTZAN;
without trained weights it runs on seeded random weights, and says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ... import hub
from ...errors import InvalidInput, WeightsMismatch
from ...layers import NamedStages
from ...runtime import seeded
from ...sources import ModelSource, model_source
from ..spectral import SpectralFrame, mel_filterbank
from .base import AudioBackend, BackendDefaults

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
SEGMENT_FRAMES = 431
N_MELS = 384


class GenreCNN(AudioBackend):
    name = "genre"
    # Content at the input and conv1, style at conv2 ... conv8 (the original's Keras layers 0, 2 and 4-16).
    defaults = BackendDefaults(
        content_layers=("input", "conv1"),
        style_layers=("conv2", "pool2", "conv3", "pool3", "conv4", "pool4", "conv5", "pool5", "conv6", "pool6",
                      "conv7", "pool7", "conv8"),
        content_weight=1.0, style_weight=10.0, spectral_content_weight=0.0, steps=100,
    )

    def __init__(self, num_classes: int = len(GENRES)) -> None:
        super().__init__()
        self.frame = SpectralFrame(22050, 1024, 256)
        self.register_buffer("mel", mel_filterbank(22050, 1024, N_MELS, 0.0, 11025.0, "slaney"))
        self.bn_in = nn.BatchNorm2d(1)
        self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else 32, 32, 2) for i in range(8))
        self.bn_out = nn.BatchNorm2d(32)
        self.dense = nn.Linear(32, 64)
        self.head = nn.Linear(64, num_classes)
        stages: list[tuple[str | None, nn.Module]] = [("bn", self.bn_in)]
        for index, conv in enumerate(self.convs, start=1):
            stages += [(f"conv{index}", nn.Sequential(conv, nn.ReLU())),
                       (f"pool{index}", nn.MaxPool2d(2, stride=2 if index <= 6 else 1))]
        self.stages = NamedStages(stages)
        self.layer_names = ("input", *self.stages.layer_names)
        self.weights_note = "random weights (no trained model given)"

    def mel_power(self, log_magnitude: torch.Tensor) -> torch.Tensor:
        power = torch.expm1(log_magnitude).clamp_min(0).pow(2)
        return torch.einsum("mf,bft->bmt", self.mel, power).unsqueeze(1)  # (batch, 1, mels, frames)

    def features(self, log_magnitude: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
        x = self.mel_power(log_magnitude)
        out = self.stages(x, layers)
        return {"input": x, **out} if "input" in layers else out

    def classify(self, mel_power: torch.Tensor) -> torch.Tensor:
        """Class logits for (batch, 1, mels, frames) power mel spectrograms."""
        x = F.adaptive_avg_pool2d(self.bn_out(self.stages.run_all(mel_power)), 1).flatten(1)
        return self.head(F.dropout(F.relu(self.dense(x)), 0.3, self.training))


def load_genre_cnn(source: ModelSource | str | Path | None = None, *, seed: int = 0) -> GenreCNN:
    """Trained weights from a :class:`~nst_core.sources.ModelSource`, or the text of one (a Hub repo id, or a
    local ``.safetensors`` path: see :func:`~nst_core.sources.model_source`); seeded random weights when there is
    none. A ``config.json`` names the classes. Messages name the file, never its folder."""
    if not isinstance(source, ModelSource):
        source = model_source(source, local_paths=True)
    if source is None:
        with seeded(seed):
            return GenreCNN().eval().requires_grad_(False)
    path, config_path = source.files()
    origin = source.origin
    try:
        classes = json.loads(config_path.read_text()).get("classes", GENRES) if config_path.is_file() else GENRES
        net = GenreCNN(num_classes=len(classes))
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise InvalidInput(f"The genre model's config.json is not a valid config ({type(exc).__name__}).") from exc
    try:
        hub.load_strict(net, hub.read_file(path, origin), origin)
    except WeightsMismatch as exc:
        raise InvalidInput(str(exc)) from exc
    net.weights_note = f"trained ({origin})"
    return net.eval().requires_grad_(False)
