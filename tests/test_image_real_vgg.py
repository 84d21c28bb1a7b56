"""Real stylization with the bundled original VGG19: the pretrained network that works offline."""

from __future__ import annotations

import torch

from conftest import EXAMPLES
from nst_core import ImageSettings, stylize_image
from nst_core.image.backbones import load_backbone
from nst_core.image.io import fit_long_side, load_image, to_tensor
from nst_core.image.objective import image_objective
from nst_core.runtime import pick_runtime

CONTENT = EXAMPLES / "coffee.jpg"
STYLE = EXAMPLES / "style_swirls.jpg"


def _distances(image, content, style, settings):
    """Content and style distances of ``image`` under the real network, as the objective defines them."""
    runtime = pick_runtime("cpu", "fp32")
    objective = image_objective(runtime.prepare_model(load_backbone("vgg19")), runtime, settings, content, [style])
    with torch.no_grad():
        terms = objective(image)[1]
    return terms["content"], terms["style"]


def test_real_vgg19_moves_noise_to_content_and_style():
    # Style weight 1 balances the two terms, so that both can fall far from a noise start.
    settings = ImageSettings(size=96, min_size=96, steps=100, init="noise", seed=1, style_weight=1.0)
    result = stylize_image(CONTENT, [STYLE], settings)
    content = to_tensor(fit_long_side(load_image(CONTENT).image, 96))
    style = to_tensor(fit_long_side(load_image(STYLE).image, 96))
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(1))
    start_content, start_style = _distances(noise, content, style, settings)
    end_content, end_style = _distances(to_tensor(result.image), content, style, settings)
    assert end_content < 0.4 * start_content, (start_content, end_content)
    assert end_style < 0.5 * start_style, (start_style, end_style)


def test_real_vgg19_default_run_moves_the_photo_toward_the_style():
    settings = ImageSettings(size=96, min_size=64, steps=30)
    result = stylize_image(CONTENT, [STYLE], settings)
    content = to_tensor(fit_long_side(load_image(CONTENT).image, 96))
    style = to_tensor(fit_long_side(load_image(STYLE).image, 96))
    _, photo_style = _distances(content, content, style, settings)
    end_content, end_style = _distances(to_tensor(result.image), content, style, settings)
    assert end_style < 0.2 * photo_style, (photo_style, end_style)
    assert end_content < 1.0  # still the photo: relative feature error well under 100 %
