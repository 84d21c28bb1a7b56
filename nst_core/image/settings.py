"""Every knob of an image stylization, declared once: the page, the command line, the client API and the
validator are made from :class:`ImageSettings`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidInput, shown
from ..options import Limits, check_settings, setting
from ..runtime import Precision
from .backbones import BACKBONES, Pooling, backbone_spec, layer_names
from .color import ColorMode
from .io import ImageSource
from .regions import Outside

# What an optimization starts from (see start.py).
Start = Literal["one-pass", "content", "noise"]
# What the optimizer moves (see pyramid.py); auto: the pyramid from a one-pass start with L-BFGS, else the pixels.
Parametrization = Literal["auto", "pixels", "pyramid"]
STEPS = 40  # L-BFGS steps per scale by default
# Steps per scale at 512 px that refine a one-pass start, on the pyramid, in about a third of the default's time
# (bench/image_start.py; docs/benchmarks.md has what it costs in distances). Without a schedule a one-pass start
# takes its last scales' steps, in proportion to the steps per scale (see ImageSettings.steps_at).
ONE_PASS_SCHEDULE = (0, 0, 0, 20, 17)
ONE_PASS_STEPS = ", ".join(map(str, ONE_PASS_SCHEDULE))
MIN_SIZE, MAX_SIZE = 32, 2048
MAX_STEPS = 5000
MAX_STYLES = 8


STEP_COUNT = dict(minimum=1, maximum=MAX_STEPS, budget="image_steps")
SIZE = dict(minimum=MIN_SIZE, maximum=MAX_SIZE, unit=" px")
WEIGHT = dict(minimum=0.0, maximum=1e9)


@dataclass(frozen=True)
class ImageSettings:
    """Every knob of an image stylization. Written into the result PNG so a run can be repeated."""

    backbone: str = setting("vgg19", "Network", "the loss network whose features are matched", panel="basic",
                            choices=tuple(BACKBONES), choice_labels=tuple(s.label for s in BACKBONES.values()))
    size: int = setting(512, "Output size (long side)", "long side of the result", step=16, panel="basic",
                        budget="image_size", **SIZE)
    steps: int = setting(STEPS, "Steps per scale", "optimizer iterations at each scale (from a one-pass start "
                         f"without a schedule: {ONE_PASS_STEPS} at 512 px for {STEPS}, in proportion)", panel="basic",
                         **STEP_COUNT)
    style_weight: float = setting(5.0, "Style weight", "how strongly the style's feature statistics are matched",
                                  panel="basic", **WEIGHT)
    color: ColorMode = setting("none", "Colour", "luminance: keep the photo's colours; match-*: recolour the style "
                               "first", panel="basic")
    style_blend: tuple[float, ...] | None = setting(
        None, "Style blend weights", "one weight per style image, e.g. 2, 1 (empty: equal)", panel="basic",
        minimum=0.0, maximum=1e6, max_count=MAX_STYLES, example=(2, 1))
    content_weight: float = setting(1.0, "Content weight", "how closely the photo's features are kept",
                                    panel="advanced", **WEIGHT)
    tv_weight: float = setting(10.0, "Smoothness (TV) weight", "penalizes differences between neighbouring pixels",
                               panel="advanced", **WEIGHT)
    style_scale: float = setting(1.0, "Style scale", "style image size relative to the content's, at every scale",
                                 minimum=0.1, maximum=4.0, step=0.05, panel="advanced")
    init: Start = setting("content", "Start from", "content: the photo itself (the most faithful); one-pass: the "
                          "arbitrary network's result for the same styles, shown at once and refined at the last two "
                          f"scales only ({ONE_PASS_STEPS} steps at 512 px unless a schedule is given: about a third "
                          "of the time, the photo's structure kept less); noise", panel="advanced")
    parametrization: Parametrization = setting(
        "auto", "Descend on", "pyramid: the picture as a sum of layers from full size down to 32 px, so early steps "
        "move large areas (L-BFGS only; faster from a one-pass start, the style lags from the photo); auto: the "
        "pyramid from a one-pass start, the pixels otherwise", panel="advanced")
    optimizer: Literal["lbfgs", "adam"] = setting("lbfgs", "Optimizer", "L-BFGS converges in far fewer steps",
                                                  panel="advanced")
    pooling: Pooling = setting("max", "Pooling", "avg: smoother gradients (Gatys et al. preferred it)",
                               panel="advanced")
    schedule: tuple[int, ...] | None = setting(
        None, "Steps for each scale, coarse to fine", "one count per scale, from the first scale up to the output "
        "size, e.g. 40, 40, 40, 40, 40 at 512 px (empty: the steps per scale everywhere, or from a one-pass "
        f"start {ONE_PASS_STEPS} at 512 px); the run starts at the first scale with steps", panel="advanced",
        minimum=0, maximum=MAX_STEPS, budget="image_steps", max_count=32, example=(40, 40, 40, 40, 40))
    scale_ratio: float = setting(math.sqrt(2), "Scale spacing", "x2 takes about 0.75x the time; its distances were "
                                 "within 3 % on some pairs and up to 6 % less stylized on others", panel="advanced",
                                 choices=(math.sqrt(2), 2.0),
                                 choice_labels=("x1.41 (5 scales up to 512 px)", "x2 (3 scales up to 512 px)"))
    hold_style_from: int | None = setting(
        512, "Keep the style reached at", "scales larger than this keep at least the style reached at it: the style "
        "weight rises if needed (empty: fixed weights at every size)", panel="advanced", **SIZE)
    seed: int = setting(0, "Seed", "the noise start and any random choice", minimum=0, maximum=2**32 - 1,
                        panel="advanced")
    precision: Precision = setting("auto", "Precision", "auto: bf16/fp16 autocast where the hardware is fast at it",
                                   panel="advanced")
    outside: Outside = setting("content", "Outside the region", "content: the photo stays; second-style: the second "
                               "style image", panel="advanced")
    min_size: int = setting(128, "First scale", "the coarsest scale; set it >= size for a single scale", **SIZE)
    # Without the range term the final clamp crushes drifting pixels (dark areas turned into pure-black blobs).
    range_weight: float = setting(1000.0, "Range weight", "pulls pixels that drift below black or above white back "
                                  "into range", **WEIGHT)
    match_shadows: bool = setting(True, "Match shadows", "the result's darkest tones follow the style's (see "
                                  "color.match_shadows)")
    judge_shadows: bool = setting(
        True, "Judge shadows", "drop the shadow matching where the loss finds it further from both the content and "
        "the style (a style that is mostly black would otherwise crush the photo's shadows)")
    content_layers: tuple[str, ...] | None = setting(None, "Content layers", "None: the backbone's defaults")
    style_layers: tuple[str, ...] | None = setting(None, "Style layers", "None: the backbone's defaults")
    style_layer_weights: tuple[float, ...] | None = setting(None, "Style layer weights", "one per style layer",
                                                            minimum=0.0, maximum=1e9)
    mask: ImageSource | None = setting(None, "Region mask", "a picture: white where the style applies (resized to "
                                       "the content)", kind="picture")
    learning_rate: float = setting(0.02, "Learning rate", "Adam only; the image lives in [0, 1]", minimum=1e-5,
                                   maximum=1.0)
    device: str = setting("auto", "Device", "auto, cpu, cuda or cuda:N")
    preview_every: int = setting(0, "Preview every", "steps between previews (0: at the end of each scale)",
                                 minimum=0, maximum=MAX_STEPS)

    def check(self, num_styles: int, limits: Limits | None = None) -> None:
        """Raise :class:`InvalidInput` for any value a run cannot use (``limits``: a server's budget)."""
        check_settings(self, limits)
        spec = backbone_spec(self.backbone)
        if self.schedule is not None:
            if len(self.schedule) != len(self.scales()):
                raise InvalidInput(f"The schedule gives {len(self.schedule)} step counts for {len(self.scales())} "
                                   f"scales ({', '.join(map(str, self.scales()))} px).")
            if self.schedule[-1] < 1:
                raise InvalidInput("The schedule's last scale needs at least one step.")
        if self.parametrization == "pyramid" and self.optimizer != "lbfgs":
            raise InvalidInput("Descending on the pyramid needs the L-BFGS optimizer (Adam scales each number "
                               "on its own, which undoes the pyramid's weighting).")
        if not 1 <= num_styles <= MAX_STYLES:
            raise InvalidInput(f"Give between 1 and {MAX_STYLES} style images (got {num_styles}).")
        if self.outside == "second-style" and self.style_blend is not None:
            raise InvalidInput("Blend weights mix styles in one region; with a second style outside, leave them out.")
        if self.outside == "second-style" and num_styles != 2:
            raise InvalidInput(f"With a second style outside the region, give exactly two style images (got "
                               f"{num_styles}).")
        if self.style_blend is not None:
            if len(self.style_blend) != num_styles:
                raise InvalidInput(f"Give one style blend weight per style image: {num_styles} images, "
                                   f"{len(self.style_blend)} weights.")
            if sum(self.style_blend) <= 0:
                raise InvalidInput("Style blend weights must be non-negative and not all zero.")
        style_layers = self.style_layers or spec.style_layers
        if self.style_layer_weights is not None and len(self.style_layer_weights) != len(style_layers):
            raise InvalidInput(f"{len(self.style_layer_weights)} style layer weights for {len(style_layers)} layers.")
        known = layer_names(self.backbone)
        for layer in (*(self.content_layers or ()), *style_layers):
            if layer not in known:
                raise InvalidInput(f"{self.backbone} has no layer {shown(layer)}; it has {', '.join(known)}.")

    def on_pyramid(self) -> bool:
        """Whether the optimizer moves the pyramid's layers (pyramid.py) rather than the pixels."""
        if self.parametrization == "auto":
            return self.init == "one-pass" and self.optimizer == "lbfgs"
        return self.parametrization == "pyramid"

    def scales(self) -> list[int]:
        """Long sides from coarse to fine, ``scale_ratio`` apart, ending exactly at ``size``; the first is the
        smallest of them that is not below ``min_size`` (768 px from 128 starts at 136, not 96)."""
        count = 0  # scales below the final one: judged on the rounded sides, as they are used
        while round(self.size / self.scale_ratio ** (count + 1)) >= self.min_size:
            count += 1
        return [round(self.size / self.scale_ratio**k) for k in range(count, -1, -1)]

    def first_scale_index(self) -> int:
        """The scale a run starts at: the first with steps (a schedule's leading zeros skip scales)."""
        count = len(self.scales())
        return next((i for i in range(count) if self.steps_at(i, count) > 0), count - 1)

    def steps_at(self, scale_index: int, num_scales: int) -> int:
        if self.schedule is not None:
            return self.schedule[scale_index]
        if self.init == "one-pass":
            return self.one_pass_schedule(num_scales)[scale_index]
        return self.steps

    def one_pass_schedule(self, num_scales: int) -> tuple[int, ...]:
        """A one-pass start's steps without a schedule: ``ONE_PASS_SCHEDULE``'s last ``num_scales`` counts, scaled
        by the steps per scale against the default's (the final scale keeps at least one step)."""
        counts = [round(n * self.steps / STEPS) for n in ((0,) * num_scales + ONE_PASS_SCHEDULE)[-num_scales:]]
        counts[-1] = max(1, counts[-1])
        return tuple(counts)
