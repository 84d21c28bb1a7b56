"""Style by region: inside the mask the result takes the style, outside it keeps the content or a second style."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import EXAMPLES
from nst_core import ImageSettings, InvalidInput, stylize_image
from nst_core.image.backbones import load_backbone
from nst_core.losses import gram_matrix, guided_gram, relative_mse

CONTENT, STYLE, SECOND = (Image.open(EXAMPLES / name) for name in ("chelsea.jpg", "style_mosaic.jpg",
                                                                    "style_waves.jpg"))


def _left_half_mask() -> np.ndarray:
    width, height = CONTENT.size
    mask = np.zeros((height, width), np.uint8)
    mask[:, : width // 2] = 255
    return mask


def _gram_distance(net, image: Image.Image, style: Image.Image) -> float:
    def gram(picture):
        x = torch.from_numpy(np.asarray(picture.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)[None]
        with torch.no_grad():
            return gram_matrix(net(x, ["relu2_1"])["relu2_1"])

    return float(relative_mse(gram(image), gram(style.resize(image.size))))


def _halves(image: Image.Image) -> tuple[Image.Image, Image.Image]:
    width, height = image.size  # a margin either side of the edge, where the regions blend
    return image.crop((0, 0, width // 2 - 8, height)), image.crop((width // 2 + 8, 0, width, height))


@pytest.mark.parametrize("outside", ["content", "second-style"])
def test_the_style_goes_inside_the_mask_and_the_rest_follows_its_own_target(outside):
    net = load_backbone("vgg19")
    styles = [STYLE] if outside == "content" else [STYLE, SECOND]
    settings = ImageSettings(size=128, min_size=128, steps=40, precision="fp32", mask=_left_half_mask(),
                             outside=outside)
    result = stylize_image(CONTENT, styles, settings, network=net)
    inside, rest = _halves(result.image)
    content_inside, content_rest = _halves(CONTENT.resize(result.image.size))
    # Inside: the style's statistics, far closer than the content's own.
    assert _gram_distance(net, inside, STYLE) < 0.2 * _gram_distance(net, content_inside, STYLE)
    changed_inside = np.abs(np.asarray(inside, float) - np.asarray(content_inside, float)).mean()
    changed_rest = np.abs(np.asarray(rest, float) - np.asarray(content_rest, float)).mean()
    if outside == "content":
        assert changed_rest < 0.25 * changed_inside  # the rest stays the photo
    else:
        assert _gram_distance(net, rest, SECOND) < 0.3 * _gram_distance(net, content_rest, SECOND)
    assert result.settings["mask"] == "given" and result.settings["outside"] == outside


def test_a_guided_gram_is_the_gram_of_its_region():
    features = torch.randn(1, 4, 8, 8)
    guide = torch.zeros(1, 1, 8, 8)
    guide[..., :4] = 1.0
    assert torch.allclose(guided_gram(features, guide), gram_matrix(features[..., :4]), atol=1e-5)


def test_bad_masks_and_region_settings():
    blank = np.zeros((40, 60), np.uint8)
    with pytest.raises(InvalidInput, match="no white region"):
        stylize_image(CONTENT, [STYLE], ImageSettings(size=64, min_size=64, steps=1, mask=blank))
    with pytest.raises(InvalidInput, match="exactly two style images"):
        stylize_image(CONTENT, [STYLE], ImageSettings(size=64, min_size=64, steps=1, mask=_left_half_mask(),
                                                      outside="second-style"))
    with pytest.raises(InvalidInput, match="region mask is missing"):
        stylize_image(CONTENT, [STYLE, SECOND], ImageSettings(size=64, min_size=64, steps=1, outside="second-style"))
    with pytest.raises(InvalidInput, match="outside must be one of"):
        ImageSettings(outside="everywhere").check(1)
