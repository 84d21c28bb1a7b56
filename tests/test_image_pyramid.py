"""Descending on the pyramid: the same pictures, large areas moved sooner; chosen for a one-pass start."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from conftest import EXAMPLES
from nst_core import ImageResult, ImageSettings, InvalidInput, cost, iter_stylize_image
from nst_core.image import pyramid
from nst_core.image.backbones import random_backbone
from nst_core.image.io import read_png_settings, save_png, to_tensor
from nst_core.runtime import pick_runtime

CONTENT, STYLE = EXAMPLES / "chelsea.jpg", EXAMPLES / "style_mosaic.jpg"


@pytest.fixture(scope="module")
def tiny_vgg():
    return random_backbone("vgg19", seed=3)


def test_the_pyramid_starts_at_the_picture_and_halves_down_to_its_smallest_side():
    start = torch.rand(1, 3, 342, 512)
    layers = pyramid.Pyramid(start)
    assert torch.equal(layers.picture().detach(), start)
    assert layers.shapes == [(1, 3, 342, 512), (1, 3, 171, 256), (1, 3, 86, 128), (1, 3, 43, 64)]
    assert pyramid.size_ratio(342, 512) == pytest.approx(sum(math.prod(s) for s in layers.shapes) / start.numel())
    assert 1.3 < pyramid.size_ratio(342, 512) < 4 / 3
    assert pyramid.layer_shapes((1, 3, 40, 40)) == [(1, 3, 40, 40)]  # too small to halve: the pixels alone


def test_a_gradient_step_moves_smooth_changes_further_and_leaves_the_finest_alone():
    """The gradient of <g, x> moves the picture by g plus each coarse band of g amplified GAIN**(2k) times."""
    start = torch.zeros(1, 1, 128, 128)

    def moved_by_a_gradient_step(target: torch.Tensor) -> torch.Tensor:
        layers = pyramid.Pyramid(start)
        (layers.picture() * target).sum().backward()
        return layers.picture(layers.params.detach() - layers.params.grad).detach()

    smooth = torch.ones_like(start)
    checker = (torch.arange(128).view(-1, 1) + torch.arange(128)).remainder(2).float().mul(2).sub(1).expand_as(start)
    coarse_layers = len(pyramid.layer_shapes(start.shape)) - 1
    amplified = 1 + sum(pyramid.GAIN ** (2 * k) for k in range(1, coarse_layers + 1))
    inner = (slice(None), slice(None), slice(16, -16), slice(16, -16))  # away from the borders' partial blocks
    assert -moved_by_a_gradient_step(smooth)[inner].mean() == pytest.approx(amplified, rel=0.02)
    assert torch.allclose(-moved_by_a_gradient_step(checker)[inner], checker[inner], atol=0.05)


def test_auto_descends_on_the_pyramid_from_a_one_pass_start_with_lbfgs_only():
    assert ImageSettings(init="one-pass").on_pyramid()
    assert not ImageSettings().on_pyramid()  # the photo: the pixels, as before
    assert not ImageSettings(init="one-pass", optimizer="adam").on_pyramid()
    assert ImageSettings(parametrization="pyramid").on_pyramid()
    assert not ImageSettings(init="one-pass", parametrization="pixels").on_pyramid()
    with pytest.raises(InvalidInput, match="needs the L-BFGS optimizer"):
        ImageSettings(parametrization="pyramid", optimizer="adam").check(1)


def _result(network, **fields) -> ImageResult:
    settings = ImageSettings(size=96, min_size=68, schedule=(3, 3), precision="fp32", **fields)
    return list(iter_stylize_image(CONTENT, [STYLE], settings, network=network))[-1]


def test_a_one_pass_run_with_a_region_descends_on_the_pyramid_and_records_its_choice(tiny_vgg, tmp_path):
    """With a region mask auto puts a one-pass start on the pyramid (without one it moves the network first:
    test_image_start_network.py)."""
    mask = np.zeros((300, 451), np.uint8)
    mask[:, :225] = 255
    auto = _result(tiny_vgg, init="one-pass", mask=mask)
    on_pyramid = _result(tiny_vgg, init="one-pass", parametrization="pyramid", mask=mask)
    on_pixels = _result(tiny_vgg, init="one-pass", parametrization="pixels", mask=mask)
    assert torch.equal(to_tensor(auto.image), to_tensor(on_pyramid.image))
    assert (to_tensor(auto.image) - to_tensor(on_pixels.image)).abs().mean() > 1 / 255
    assert math.isfinite(auto.losses["total"])
    saved = read_png_settings(save_png(auto.image, tmp_path / "out.png", auto.settings))
    assert (saved["init"], saved["parametrization"]) == ("one-pass", "auto")
    # From the photo auto stays on the pixels: the same picture as asking for them.
    photo = _result(tiny_vgg)
    assert torch.equal(to_tensor(photo.image), to_tensor(_result(tiny_vgg, parametrization="pixels").image))


def test_the_cost_model_holds_the_pyramids_longer_history():
    runtime, content, styles = pick_runtime(precision="fp32"), (512, 342), [(512, 512)]
    pixels = ImageSettings(init="one-pass", parametrization="pixels")
    time_pixels, memory_pixels = cost.image_features(pixels, content, styles)
    time_pyramid, memory_pyramid = cost.image_features(dataclasses.replace(pixels, parametrization="pyramid"),
                                                       content, styles)
    assert time_pyramid == time_pixels
    ratio = pyramid.size_ratio(342, 512)
    assert memory_pyramid["history_mp"] == pytest.approx(ratio * memory_pixels["history_mp"])
    assert (cost.image_cost(dataclasses.replace(pixels, parametrization="pyramid"), runtime, content, styles).memory_mb
            > cost.image_cost(pixels, runtime, content, styles).memory_mb)
