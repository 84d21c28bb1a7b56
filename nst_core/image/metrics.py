"""How a stylized image is judged: its distances to the content and the style, its colours, its shadows.

Content and style distances are the loss's own (relu4_2; Gram matrices at relu1_1-relu5_1, layer weights as
the defaults) under the bundled original VGG19 in fp32, against the content and style images resized to the
result's size, so results of different sizes are each judged at their own size. The colour distance does
not depend on a network: the sliced Wasserstein distance between the result's and the style's RGB pixel
distributions, in levels of 255 (0: the same palette in the same proportions). It is what a reader means by
"the colours of the style are missing", which a Gram distance mixes with texture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..runtime import pick_runtime
from .backbones import FeatureNet, load_backbone
from .io import ImageSource, fit_long_side, load_image, to_tensor
from .objective import image_objective
from .settings import ImageSettings

# Fixed projection directions: the three channels, the grey axis and twelve seeded ones, so figures repeat.
_DIRECTIONS = np.concatenate([np.eye(3), np.ones((1, 3)) / np.sqrt(3),
                              np.random.default_rng(0).normal(size=(12, 3))])
_DIRECTIONS /= np.linalg.norm(_DIRECTIONS, axis=1, keepdims=True)
_QUANTILES = (np.arange(256) + 0.5) / 256
# Luminance below this (of 255) counts as near-black.
NEAR_BLACK = 10


@dataclass(frozen=True)
class ImageScores:
    content_distance: float  # lower = closer to the content
    style_distance: float    # lower = more stylized
    colour_distance: float   # to the style's palette, levels of 255
    near_black: float        # share of pixels with luminance below NEAR_BLACK
    # The style distance layer by layer (relu1_1: the finest texture ... relu5_1: the largest structures); the
    # parts sum to ``style_distance``: where a result lags, they say at which scale of structure.
    style_by_layer: dict[str, float] = field(default_factory=dict)


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3)


def colour_distance(image: Image.Image, reference: Image.Image) -> float:
    """Sliced Wasserstein-1 distance between two images' RGB distributions, in levels of 255."""
    a, b = _pixels(image) @ _DIRECTIONS.T, _pixels(reference) @ _DIRECTIONS.T
    return float(np.abs(np.quantile(a, _QUANTILES, axis=0) - np.quantile(b, _QUANTILES, axis=0)).mean())


def near_black(image: Image.Image) -> float:
    """Share of pixels whose mean of R, G and B is below :data:`NEAR_BLACK`."""
    return float((_pixels(image).mean(axis=1) < NEAR_BLACK).mean())


def judge_image(result: Image.Image, content: ImageSource, style: ImageSource, *,
                network: FeatureNet | None = None) -> ImageScores:
    """Score ``result`` against its content and style image at the result's own size."""
    side = max(result.size)
    content_image = fit_long_side(load_image(content, label="content image").image, side)
    style_image = fit_long_side(load_image(style, label="style image").image, side)
    objective = image_objective(network or load_backbone("vgg19"), pick_runtime("cpu", "fp32"), ImageSettings(),
                                to_tensor(content_image), [to_tensor(style_image)])
    parts = objective.by_layer(to_tensor(result))
    return ImageScores(sum(parts["content"].values()), sum(parts["style"].values()),
                       colour_distance(result, style_image), near_black(result), parts["style"])
