"""The one-pass option's coarse scale: the one-pass network itself moved, its full-size rendering refined."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import EXAMPLES
from nst_core import ImageResult, ImageSettings, InvalidInput, cost, iter_stylize_image
from nst_core.control import JobControl
from nst_core.image import objective, start_network
from nst_core.image.backbones import random_backbone
from nst_core.image.io import fit_long_side, fitted_size, read_png_settings, save_png, to_tensor
from nst_core.image.objective import MIN_SIDE
from nst_core.image.onepass.catalogue import load_network
from nst_core.image.settings import ONE_PASS_PICTURE_SCHEDULE, ONE_PASS_SCHEDULE
from nst_core.image.start import one_pass
from nst_core.runtime import pick_runtime

CONTENT, STYLE, SECOND = EXAMPLES / "chelsea.jpg", EXAMPLES / "style_mosaic.jpg", EXAMPLES / "style_waves.jpg"
# 68 and 96 px: one network step at 68 px, two pyramid steps at 96 px.
TINY = dict(size=96, min_size=64, schedule=(1, 2), precision="fp32", init="one-pass")


@pytest.fixture(scope="module")
def tiny_vgg():
    return random_backbone("vgg19", seed=3)


def _photo(side: int) -> torch.Tensor:
    return to_tensor(fit_long_side(Image.open(CONTENT).convert("RGB"), side, MIN_SIDE))


def _network(color: str = "none") -> start_network.StartNetwork:
    vector = start_network.style_vector(_photo(96), [Image.open(STYLE).convert("RGB")], None, color)
    return start_network.StartNetwork(vector, color, pick_runtime(precision="fp32"))


def test_the_network_renders_the_one_pass_result_and_moves_as_one_flat_tensor():
    photo, network = _photo(96), _network()
    shared = {name: t.clone() for name, t in load_network("onepass-transformer").state_dict().items()}
    weights = sum(t.numel() for t in load_network("onepass-transformer").parameters())
    assert network.params.shape == (weights + 100,) and network.params.requires_grad
    expected = one_pass(photo, [Image.open(STYLE).convert("RGB")], None, "none", precision="fp32")
    assert torch.allclose(network.render(photo).clamp(0, 1), expected, atol=1e-4)
    # The same network renders any size: 68 px is the 96 px rendering's own, not an enlargement.
    assert network.render(_photo(68)).shape[-2:] == _photo(68).shape[-2:]
    canvas = network.at(photo)
    canvas.picture().square().mean().backward()
    grad = network.params.grad
    assert grad[:weights].abs().sum() > 0 and grad[weights:].abs().sum() > 0  # the weights and the style vector
    with torch.no_grad():
        network.params -= 0.1 * grad.sign()
    assert (canvas.picture() - expected).abs().mean() > 0.01  # moving the params changes the rendering
    # The loaded network every request shares never moves.
    assert all(torch.equal(t, shared[n]) for n, t in load_network("onepass-transformer").state_dict().items())


def test_the_network_keeps_the_photos_colours_where_asked():
    photo, network = _photo(96), _network("luminance")
    chroma = lambda x: x - x.mean(1, keepdim=True)  # noqa: E731
    free = _network().render(photo).clamp(0, 1)
    kept = network.render(photo)
    assert (chroma(kept) - chroma(photo)).abs().mean() < 0.5 * (chroma(free) - chroma(photo)).abs().mean()


def test_auto_moves_the_network_from_a_one_pass_start_with_lbfgs_and_no_mask():
    mask = np.full((8, 8), 255, np.uint8)
    assert ImageSettings(init="one-pass").on_network()
    assert ImageSettings(init="one-pass").on_pyramid()  # its full-size steps: the pyramid
    assert not ImageSettings().on_network()  # the photo: the pixels, as before
    assert not ImageSettings(init="one-pass", mask=mask).on_network()  # a region: the picture, on the pyramid
    assert ImageSettings(init="one-pass", mask=mask).on_pyramid()
    assert not ImageSettings(init="one-pass", optimizer="adam").on_network()
    assert not ImageSettings(init="one-pass", parametrization="pyramid").on_network()
    assert ImageSettings(init="one-pass", parametrization="network").on_network()
    for fields, message in (({"optimizer": "adam"}, "needs the L-BFGS optimizer"),
                            ({"init": "content"}, "needs init 'one-pass'"),
                            ({"mask": mask}, "with a region mask choose 'pyramid'")):
        with pytest.raises(InvalidInput, match=message):
            ImageSettings(**{"init": "one-pass", "parametrization": "network", **fields}).check(1)


def test_the_networks_scale_sees_the_style_at_the_final_scales_pixel_size():
    settings = ImageSettings(init="one-pass")
    assert settings.scales() == [128, 181, 256, 362, 512]
    assert settings.style_scale_at(1) == pytest.approx(512 / 181)
    assert settings.style_scale_at(4) == 1.0
    assert ImageSettings(init="one-pass", style_scale=0.5).style_scale_at(1) == pytest.approx(0.5 * 512 / 181)
    assert ImageSettings(init="one-pass", parametrization="pyramid").style_scale_at(1) == 1.0
    assert ImageSettings().style_scale_at(1) == 1.0


def test_the_one_pass_schedule_moves_the_network_at_181_px_then_the_pyramid_at_512_px():
    def schedule(**fields) -> list[int]:
        settings = ImageSettings(init="one-pass", **fields)
        return [settings.steps_at(i, len(settings.scales())) for i in range(len(settings.scales()))]

    assert schedule() == list(ONE_PASS_SCHEDULE) == [0, 20, 0, 0, 23]
    assert schedule(steps=80) == [0, 40, 0, 0, 46]
    assert schedule(size=1024) == [0, 0, 0, 20, 0, 0, 23]  # the same ratio below the final size
    assert schedule(size=256) == [20, 0, 23]  # fewer scales: the network's steps at the first
    assert schedule(scale_ratio=2.0) == [20, 0, 23]
    assert schedule(size=128) == [23]
    assert schedule(parametrization="pyramid") == list(ONE_PASS_PICTURE_SCHEDULE) == [0, 0, 0, 20, 17]
    assert schedule(parametrization="pyramid", size=256) == [0, 20, 17]


def _run(network, styles=(STYLE,), control: JobControl | None = None, **fields) -> tuple[list, ImageResult]:
    events = list(iter_stylize_image(CONTENT, list(styles), ImageSettings(**{**TINY, **fields}), network=network,
                                     control=control))
    return events[:-1], events[-1]


def test_the_coarse_scale_moves_the_network_and_the_final_scale_starts_from_its_full_size_rendering(
        tiny_vgg, monkeypatch, tmp_path):
    rendered = []
    render = start_network.StartNetwork.render

    def recording(self, photo, params=None):
        rendered.append((tuple(photo.shape[-2:]), params is not None))
        return render(self, photo, params)

    monkeypatch.setattr(start_network.StartNetwork, "render", recording)
    progress, result = _run(tiny_vgg)
    coarse, final = tuple(_photo(68).shape[-2:]), tuple(_photo(96).shape[-2:])
    # The start and its preview, the step's evaluation and its preview at 68 px, then one rendering at 96 px.
    assert rendered[0] == (coarse, False) and (coarse, True) in rendered
    assert rendered[-1] == (final, False) and [size for size, _ in rendered].count(final) == 1
    assert [(p.done, p.scale_index) for p in progress] == [(0, 0), (1, 0), (2, 1), (3, 1)]
    assert math.isfinite(result.losses["total"]) and result.notices == []
    saved = read_png_settings(save_png(result.image, tmp_path / "out.png", result.settings))
    assert (saved["init"], saved["parametrization"]) == ("one-pass", "auto")
    monkeypatch.undo()
    explicit = _run(tiny_vgg, parametrization="network")[1]
    assert torch.equal(to_tensor(result.image), to_tensor(explicit.image))
    on_pyramid = _run(tiny_vgg, parametrization="pyramid")[1]
    assert (to_tensor(result.image) - to_tensor(on_pyramid.image)).abs().mean() > 1 / 255


def test_regions_colours_and_several_styles_run_from_the_network(tiny_vgg):
    mask = np.zeros((300, 451), np.uint8)
    mask[:, :225] = 255
    for fields, styles in (({"style_blend": (2, 1)}, (STYLE, SECOND)), ({"color": "luminance"}, (STYLE,)),
                           ({"color": "match-histogram"}, (STYLE,)), ({"mask": mask}, (STYLE,))):
        progress, result = _run(tiny_vgg, styles, **fields)
        assert progress[0].done == 0 and progress[0].preview is not None
        assert result.image.size == (96, 64) and result.notices == []


def test_a_budget_reached_on_the_networks_scale_gives_its_full_size_rendering(tiny_vgg):
    _, result = _run(tiny_vgg, control=JobControl(seconds=0.0), schedule=(3, 2))
    assert result.stopped_at_budget and result.facts["steps"] == 1
    assert result.image.size == (96, 64)
    assert "rendered at full size by the network tuned at 68 px" in result.notices[-1]


def test_the_cost_model_counts_network_steps_and_the_styles_at_full_size():
    content, styles = (512, 341), [(512, 512)]
    network = ImageSettings(init="one-pass")
    pyramid = ImageSettings(init="one-pass", parametrization="pyramid", schedule=ONE_PASS_SCHEDULE)
    (time_network, _), (time_pyramid, _) = (cost.image_features(s, content, styles) for s in (network, pyramid))
    coarse = math.prod(fitted_size(*content, 181, MIN_SIDE)) / 1e6
    assert time_network["step_mp"] - time_pyramid["step_mp"] == pytest.approx(
        (start_network.STEP_COST - 1) * 20 * coarse)
    # Targets at 181 and 512 px only (the network renders 512 px afresh); the style, at 512 px's size at both, read
    # once (recoloured towards the content of each scale, twice).
    photos = sum(math.prod(fitted_size(*content, side, MIN_SIDE)) for side in (181, 512))
    assert time_network["target_mp"] == pytest.approx((photos + 512 * 512) / 1e6)
    recoloured = ImageSettings(init="one-pass", color="match-histogram")
    assert cost.image_features(recoloured, content, styles)[0]["target_mp"] == pytest.approx(
        (photos + 2 * 512 * 512) / 1e6)
    assert time_pyramid["target_mp"] == pytest.approx(
        sum(math.prod(fitted_size(*content, side, MIN_SIDE)) + side * side for side in (181, 256, 362, 512)) / 1e6)
    runtime = pick_runtime(precision="fp32")
    photo = cost.image_cost(ImageSettings(), runtime, content, styles)
    assert 0.25 < cost.image_cost(network, runtime, content, styles).seconds / photo.seconds < 0.4


@pytest.mark.parametrize(("color", "styles"), [("none", (STYLE,)), ("luminance", (STYLE, SECOND)),
                                               ("match-histogram", (STYLE,))])
def test_the_style_targets_are_computed_once_where_both_scales_see_the_same_pictures(tiny_vgg, monkeypatch,
                                                                                      color, styles):
    """The network's scale reads the style at the final scale's size: the final scale reuses those targets, to
    the value, unless the style is recoloured towards each scale's content; the cost model counts the same."""
    seen = []
    forward = type(tiny_vgg).forward

    def recording(self, image, layers):
        if not torch.is_grad_enabled():  # a target, not an evaluation of the moved picture
            seen.append(tuple(image.shape[-2:]))
        return forward(self, image, layers)

    monkeypatch.setattr(type(tiny_vgg), "forward", recording)
    result = _run(tiny_vgg, styles, color=color)[1]
    monkeypatch.undo()
    style_shapes = {tuple(to_tensor(fit_long_side(Image.open(s).convert("RGB"), 96, MIN_SIDE)).shape[-2:])
                    for s in styles}
    reads = sum(shape in style_shapes for shape in seen)
    assert reads == (2 if color == "match-histogram" else 1) * len(styles)
    # The targets reused are the very ones the final scale would compute afresh: the same picture, to the value.
    monkeypatch.setattr(objective, "_same_style_losses", lambda earlier, images: None)
    assert torch.equal(to_tensor(result.image), to_tensor(_run(tiny_vgg, styles, color=color)[1].image))
    settings = ImageSettings(**{**TINY, "color": color})
    counted = cost.image_features(settings, Image.open(CONTENT).size, [Image.open(s).size for s in styles])[0]
    photos = sum(math.prod(fitted_size(*Image.open(CONTENT).size, side, MIN_SIDE)) for side in settings.scales())
    style_pixels = sum(math.prod(fitted_size(*Image.open(s).size, 96, MIN_SIDE)) for s in styles)
    assert counted["target_mp"] * 1e6 == pytest.approx(photos + style_pixels * reads / len(styles))
