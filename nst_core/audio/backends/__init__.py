"""The audio backends, by name: each builds a feature network over log1p|STFT|."""

from __future__ import annotations

from ...errors import InvalidInput
from .base import AudioBackend, BackendDefaults
from .cnn14 import CNN14, load_cnn14
from .genre_cnn import GenreCNN, load_genre_cnn
from .shallow import DEFAULT_FILTERS, ShallowNet
from .vggish import VGGish, load_vggish

BACKEND_NAMES = ("shallow", "vggish", "cnn14", "genre")
BACKEND_CLASSES: dict[str, type[AudioBackend]] = {"shallow": ShallowNet, "vggish": VGGish, "cnn14": CNN14,
                                                  "genre": GenreCNN}
# Registry keys of the weights each pretrained backend needs (for the app's availability report).
BACKEND_WEIGHTS = {"vggish": "vggish", "cnn14": "cnn14-16k"}


def load_backend(name: str, *, filters: tuple[int, ...] = DEFAULT_FILTERS, kernel: int = 11, seed: int = 0,
                 cnn14_variant: str = "16k", genre_model: str | None = None) -> AudioBackend:
    """Build backend ``name``; pretrained ones raise ``WeightsUnavailable`` when their weights cannot be had."""
    if name == "shallow":
        return ShallowNet(filters=filters, kernel=kernel, seed=seed)
    if name == "vggish":
        return load_vggish()
    if name == "cnn14":
        if cnn14_variant not in ("16k", "32k"):
            raise InvalidInput(f"CNN14 comes as '16k' or '32k' (got {cnn14_variant!r}).")
        return load_cnn14(cnn14_variant)
    if name == "genre":
        return load_genre_cnn(genre_model)
    raise InvalidInput(f"Unknown audio backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}.")


__all__ = ["BACKEND_CLASSES", "BACKEND_NAMES", "BACKEND_WEIGHTS", "CNN14", "AudioBackend", "BackendDefaults",
           "GenreCNN", "ShallowNet", "VGGish", "load_backend"]
