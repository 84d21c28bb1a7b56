"""The image judge: colour distance, near-black share, and the loss-defined distances at a result's own size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from conftest import EXAMPLES
from nst_core import ImageSettings, stylize_image
from nst_core.image.backbones import load_backbone
from nst_core.image.metrics import colour_distance, judge_image, near_black

CONTENT = EXAMPLES / "chelsea.jpg"
STYLE = EXAMPLES / "style_mosaic.jpg"


def _image(array: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def test_colour_distance_sees_the_palette_not_the_layout():
    photo = np.asarray(Image.open(CONTENT).convert("RGB"))
    shuffled = np.random.default_rng(0).permutation(photo.reshape(-1, 3)).reshape(photo.shape)
    assert colour_distance(_image(photo), _image(photo)) == 0.0
    assert colour_distance(_image(shuffled), _image(photo)) < 1e-9
    brighter = colour_distance(_image(photo.astype(np.int16) + 20), _image(photo))
    assert 10 < brighter < 40
    red, blue = np.zeros((8, 8, 3)), np.zeros((8, 8, 3))
    red[..., 0], blue[..., 2] = 255, 255
    assert colour_distance(_image(red), _image(blue)) > 100


def test_near_black_counts_dark_pixels():
    half = np.full((10, 10, 3), 128)
    half[:5] = 3
    assert near_black(_image(half)) == 0.5


def test_judge_scores_the_inputs_themselves_as_the_loss_defines_them():
    vgg = load_backbone("vgg19")
    content = Image.open(CONTENT).convert("RGB")
    itself = judge_image(content, CONTENT, CONTENT, network=vgg)
    assert itself.content_distance < 1e-6 and itself.style_distance < 1e-6 and itself.colour_distance == 0.0
    against_style = judge_image(content, CONTENT, STYLE, network=vgg)
    assert against_style.style_distance > 0.05 and against_style.colour_distance > 10
    blurred = judge_image(content.filter(ImageFilter.GaussianBlur(4)), CONTENT, STYLE, network=vgg)
    assert blurred.content_distance > 0.1


def test_the_style_distance_splits_into_its_layers_as_the_loss_weighs_them():
    """The per-layer parts are the loss's own: the five style layers in order, summing to the loss's style term."""
    import torch

    from nst_core.image.backbones import backbone_spec
    from nst_core.image.io import fit_long_side, to_tensor
    from nst_core.image.objective import image_objective
    from nst_core.runtime import pick_runtime

    vgg = load_backbone("vgg19")
    result = Image.open(CONTENT).convert("RGB").filter(ImageFilter.GaussianBlur(2))
    judged = judge_image(result, CONTENT, STYLE, network=vgg)
    assert tuple(judged.style_by_layer) == backbone_spec("vgg19").style_layers
    assert min(judged.style_by_layer.values()) > 0
    assert sum(judged.style_by_layer.values()) == judged.style_distance
    style = fit_long_side(Image.open(STYLE).convert("RGB"), max(result.size))
    objective = image_objective(vgg, pick_runtime("cpu", "fp32"), ImageSettings(), to_tensor(result),
                                [to_tensor(style)])
    with torch.no_grad():
        _, terms = objective(to_tensor(result))  # the content is the result itself here: only the style counts
    assert judged.style_distance == pytest.approx(terms["style"], rel=1e-5)
    assert judge_image(result, result, result, network=vgg).style_by_layer == dict.fromkeys(judged.style_by_layer, 0.0)


def test_a_larger_result_is_at_least_as_stylized_as_the_smaller_one():
    """The cat restyled by the mosaic at 256 px came out half as stylized as at 128 px (style distance 0.17
    against 0.09, each judged at its own size, small cells repeating where the 128 px result has large ones);
    holding the style from 128 px keeps it, with the style's palette."""
    vgg = load_backbone("vgg19")

    def scores(size: int, hold: int | None):
        settings = ImageSettings(size=size, min_size=64, steps=30, hold_style_from=hold)
        result = stylize_image(CONTENT, [STYLE], settings, network=vgg)
        return judge_image(result.image, CONTENT, STYLE, network=vgg), result

    small, _ = scores(128, None)
    fixed, fixed_result = scores(256, None)
    held, held_result = scores(256, 128)
    assert fixed.style_distance > 1.5 * small.style_distance and not fixed_result.notices
    assert fixed_result.facts["style_weight_raised"] == 1.0 < held_result.facts["style_weight_raised"]
    assert held.style_distance <= 1.05 * small.style_distance  # the last check comes 10 steps before the end
    assert held.colour_distance <= small.colour_distance + 1.0
    assert any("style weight was raised" in notice for notice in held_result.notices)
