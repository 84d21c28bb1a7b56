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
# What the optimizer moves: the pixels, the pyramid (pyramid.py), or on a one-pass start's coarse scales the
# one-pass network itself and then the pyramid (start_network.py); auto: the network from a one-pass start with
# L-BFGS and no region mask, the pyramid from one with a mask, else the pixels.
Parametrization = Literal["auto", "pixels", "pyramid", "network"]
STEPS = 40  # L-BFGS steps per scale by default
# Steps per scale at 512 px that refine a one-pass start in about a third of the default's time (bench/image_start.py;
# docs/benchmarks.md has what each costs in distances): the network's 20 steps at 181 px, then the pyramid's at
# 512 px; a picture moved (the pyramid or the pixels), 20 steps at 362 px and 17 at 512 px. Without a schedule a
# one-pass start takes its last scales' steps, in proportion to the steps per scale (see ImageSettings.steps_at).
ONE_PASS_SCHEDULE = (0, 20, 0, 0, 23)
ONE_PASS_PICTURE_SCHEDULE = (0, 0, 0, 20, 17)
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
                          "arbitrary network's result for the same styles, shown at once, the network tuned to the "
                          f"picture at a small scale, then refined at full size ({ONE_PASS_STEPS} steps at 512 px "
                          "unless a schedule is given: about a third of the time, the photo's structure kept less); "
                          "noise", panel="advanced")
    parametrization: Parametrization = setting(
        "auto", "Descend on", "pyramid: the picture as a sum of layers from full size down to 32 px, so early steps "
        "move large areas (L-BFGS only; faster from a one-pass start, the style lags from the photo); network: from "
        "a one-pass start, the coarse scales move the one-pass network's weights and the full-size steps the "
        "pyramid (no region mask); auto: the network from a one-pass start, the pyramid there with a mask, the "
        "pixels otherwise", panel="advanced")
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
        if self.parametrization in ("pyramid", "network") and self.optimizer != "lbfgs":
            raise InvalidInput(f"Descending on the {self.parametrization} needs the L-BFGS optimizer (Adam scales each "
                               "number on its own, which undoes the pyramid's weighting).")
        if self.parametrization == "network" and self.init != "one-pass":
            raise InvalidInput("parametrization 'network' moves the one-pass network: it needs init 'one-pass'.")
        if self.parametrization == "network" and self.mask is not None:
            raise InvalidInput("parametrization 'network' renders the whole picture in one style; with a region "
                               "mask choose 'pyramid' (or 'auto').")
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
        """Whether the full-size steps move the pyramid's layers (pyramid.py) rather than the pixels."""
        if self.parametrization == "auto":
            return self.init == "one-pass" and self.optimizer == "lbfgs"
        return self.parametrization in ("pyramid", "network")

    def on_network(self) -> bool:
        """Whether the coarse scales move the one-pass network (start_network.py) rather than a picture."""
        if self.parametrization == "auto":
            return self.on_pyramid() and self.mask is None
        return self.parametrization == "network"

    def style_scale_at(self, scale_index: int) -> float:
        """The style pictures' size relative to the photo's at a scale: where the network learns, the final
        scale's pixel size, so that the patterns it learns are the size its full-size rendering needs."""
        sizes = self.scales()
        if self.on_network() and scale_index < len(sizes) - 1:
            return self.style_scale * sizes[-1] / sizes[scale_index]
        return self.style_scale

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

    def builds_scale(self, scale_index: int) -> bool:
        """Whether a run works at a scale (builds its targets): from the first with steps on, except the network's
        scales without steps (the network renders the next scale afresh: there is no picture to carry)."""
        count = len(self.scales())
        if scale_index < self.first_scale_index():
            return False
        return scale_index == count - 1 or self.steps_at(scale_index, count) > 0 or not self.on_network()

    def steps_at(self, scale_index: int, num_scales: int) -> int:
        if self.schedule is not None:
            return self.schedule[scale_index]
        if self.init == "one-pass":
            return self.one_pass_schedule(num_scales)[scale_index]
        return self.steps

    def one_pass_schedule(self, num_scales: int) -> tuple[int, ...]:
        """A one-pass start's steps without a schedule: ``ONE_PASS_SCHEDULE``'s last ``num_scales`` counts (with a
        picture moved at every scale, ``ONE_PASS_PICTURE_SCHEDULE``'s), those of any scales before them added to
        the first, scaled by the steps per scale against the default's (the final scale keeps at least one step)."""
        schedule = ONE_PASS_SCHEDULE if self.on_network() else ONE_PASS_PICTURE_SCHEDULE
        kept = list(((0,) * num_scales + schedule)[-num_scales:])
        if num_scales > 1:  # steps of scales below the first go to it (256 px: the network's 20 at 128 px)
            kept[0] += sum(schedule[:-num_scales])
        counts = [round(n * self.steps / STEPS) for n in kept]
        counts[-1] = max(1, counts[-1])
        return tuple(counts)
