"""Optimization-based style transfer (Gatys et al. 2016), coarse to fine.

``iter_stylize_image`` is a generator: it yields :class:`ImageProgress` events while it works and a
:class:`ImageResult` last. Stopping the iteration (``close()``, or simply not asking for more)
cancels the job. ``stylize_image`` runs it to the end and reports through an optional callback.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from PIL import Image

from ..control import JobControl, controlled
from ..errors import InvalidInput
from ..events import Progress, Result
from ..losses import LayerLosses, Objective, Term, range_penalty, total_variation
from ..optim import Descent, run_to_result
from ..options import Limits, check_settings, setting
from ..runtime import Precision, PreparedModels, Runtime, pick_runtime
from .backbones import BACKBONES, FeatureNet, Pooling, backbone_spec, layer_names, load_backbone
from .color import ColorMode, keep_content_colors, match_shadows, recolor_style, to_greyscale
from .io import ImageSource, LoadedImage, fit_long_side, load_image, resize_tensor, to_pil, to_tensor
from .regions import Outside, Regions, load_regions

log = logging.getLogger(__name__)

MIN_SIZE, MAX_SIZE = 32, 2048
MAX_STEPS = 5000
MAX_STYLES = 8
# Below this many pixels a side, VGG's four poolings leave nothing for relu5_1 to see.
MIN_SIDE = 32
MAX_ASPECT = 16


STEPS = dict(minimum=1, maximum=MAX_STEPS, budget="image_steps")
SIZE = dict(minimum=MIN_SIZE, maximum=MAX_SIZE, unit=" px")
WEIGHT = dict(minimum=0.0, maximum=1e9)


@dataclass(frozen=True)
class ImageSettings:
    """Every knob of an image stylization. Written into the result PNG so a run can be repeated."""

    backbone: str = setting("vgg19", "Network", "the loss network whose features are matched", panel="basic",
                            choices=tuple(BACKBONES), choice_labels=tuple(s.label for s in BACKBONES.values()))
    size: int = setting(512, "Output size (long side)", "long side of the result", step=16, panel="basic",
                        budget="image_size", **SIZE)
    steps: int = setting(40, "Steps per scale", "optimizer iterations at each scale", panel="basic", **STEPS)
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
    init: Literal["content", "noise"] = setting("content", "Start from", "the photo itself, or noise",
                                                panel="advanced")
    optimizer: Literal["lbfgs", "adam"] = setting("lbfgs", "Optimizer", "L-BFGS converges in far fewer steps",
                                                  panel="advanced")
    pooling: Pooling = setting("max", "Pooling", "avg: smoother gradients (Gatys et al. preferred it)",
                               panel="advanced")
    schedule: tuple[int, ...] | None = setting(
        None, "Steps for each scale, coarse to fine", "one count per scale, from the first scale up to the output "
        "size, e.g. 40, 40, 40, 40, 40 at 512 px (empty: the steps per scale everywhere)", panel="advanced",
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
        if not 1 <= num_styles <= MAX_STYLES:
            raise InvalidInput(f"Give between 1 and {MAX_STYLES} style images (got {num_styles}).")
        if self.outside == "second-style" and self.style_blend is not None:
            raise InvalidInput("Blend weights mix styles in one region; with a second style outside, leave them out.")
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
                raise InvalidInput(f"{self.backbone} has no layer {layer!r}; it has {', '.join(known)}.")

    def scales(self) -> list[int]:
        """Long sides from coarse to fine, ``scale_ratio`` apart, ending exactly at ``size``."""
        if self.size <= self.min_size:
            return [self.size]
        count = math.ceil(math.log(self.size / self.min_size) / math.log(self.scale_ratio))
        return [round(self.size / self.scale_ratio**k) for k in range(count, -1, -1)]

    def steps_at(self, scale_index: int, num_scales: int) -> int:
        if self.schedule is not None:
            return self.schedule[scale_index]
        return self.steps


@dataclass(frozen=True)
class ImageProgress(Progress):
    """``done`` steps of ``total``, counted over all scales."""

    scale_index: int
    num_scales: int
    size: tuple[int, int]     # (width, height) at this scale
    losses: dict[str, float]
    preview: Image.Image | None = None


@dataclass
class ImageResult(Result):
    image: Image.Image
    losses: dict[str, float]


def image_objective(net: FeatureNet, runtime: Runtime, settings: ImageSettings, content: torch.Tensor,
                    styles: list[torch.Tensor], *, guide: torch.Tensor | None = None,
                    outside_styles: list[torch.Tensor] = ()) -> Objective:
    """Weighted content + style + TV + range loss of an image against fixed targets at one scale.

    With a ``guide`` (the region mask at this scale), ``styles`` hold only inside it and ``outside_styles``
    (if any) outside it; elsewhere the content alone speaks.
    """
    spec = backbone_spec(settings.backbone)
    content_layers = settings.content_layers or spec.content_layers
    style_layers = settings.style_layers or spec.style_layers

    def features(image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        with runtime.autocast():
            return net(runtime.prepare_input(image), layers)

    with torch.no_grad():
        content_features = features(content, content_layers)
        style_features = [features(style, style_layers) for style in styles]
        outside_features = [features(style, style_layers) for style in outside_styles]
    s = settings
    layer_weights = s.style_layer_weights or spec.style_layer_weights
    terms = [
        Term.on_features("content", s.content_weight, LayerLosses.content(content_features, content_layers)),
        Term.on_features("style", s.style_weight, LayerLosses.style(
            style_features, style_layers, blend=s.style_blend, layer_weights=layer_weights, guide=guide)),
        Term.on_input("tv", s.tv_weight, total_variation),
        Term.on_input("range", s.range_weight, range_penalty),
    ]
    if outside_features:
        terms.append(Term.on_features("style_outside", s.style_weight, LayerLosses.style(
            outside_features, style_layers, layer_weights=layer_weights, guide=1.0 - guide)))
    return Objective(features, terms)


class StyleHold:
    """Keeps scales above ``size`` at least as stylized as the scale of that size.

    A larger scale sees the same style image larger, and the style's big structures (brush strokes, mosaic
    cells) then span more pixels than VGG's mid layers see at once: at fixed weights the content wins more of
    the trade-off and the result is less stylized than the smaller one (style distance 0.17 at 256 px against
    0.09 at 128 px for the cat and the mosaic, small cells repeating where the smaller result has large ones).
    So the style distance reached at ``size`` is the floor. Above it, every ``CHECK`` steps, a scale whose
    style distance, going on at the pace of its last ``CHECK`` steps, would end above the floor multiplies
    the style terms' weight by ``FACTOR``, carried on to larger scales. Judging by the pace matters: a scale
    starts from the smaller result enlarged, whose style distance at the new size is about twice the floor
    until the refinement sharpens it, and on most reference pairs it ends well below the floor unaided.
    """

    CHECK, FACTOR = 10, 1.5
    STYLE_TERMS = ("style", "style_outside")

    def __init__(self, size: int | None) -> None:
        self.size, self.floor, self.boost = size, None, 1.0
        self.previous: float | None = None  # style distance at the last check of this scale

    def scales(self) -> dict[str, float]:
        return dict.fromkeys(self.STYLE_TERMS, self.boost)

    def reached(self, long_side: int, terms: dict[str, float]) -> None:
        """At the end of a scale: one no larger than ``size`` sets the floor for those above."""
        self.previous = None
        if self.size is not None and long_side <= self.size:
            self.floor = terms.get("style")

    def raise_weight(self, long_side: int, step: int, steps: int, terms: dict[str, float]) -> bool:
        """After ``step`` (0-based) of ``steps`` at a scale above ``size``: raise the style weight if, going on
        at the pace of the last ``CHECK`` steps, the style would end this scale behind the floor."""
        if self.floor is None or long_side <= self.size or (step + 1) % self.CHECK:
            return False
        style, previous = terms.get("style", 0.0), self.previous
        self.previous = style
        if previous is None or style - (previous - style) / self.CHECK * (steps - step - 1) <= self.floor:
            return False
        self.boost *= self.FACTOR
        return True

    def notices(self) -> list[str]:
        if self.boost == 1.0:
            return []
        return [f"Above {self.size} px the style weight was raised {self.boost:.2g}x to keep the style the "
                f"{self.size} px scale reached (a larger result otherwise comes out less stylized)."]


def _initial_image(settings: ImageSettings, content: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if settings.init == "noise":
        return torch.rand(content.shape, generator=generator)
    return content.clone()


def iter_stylize_image(content: ImageSource, styles: Sequence[ImageSource], settings: ImageSettings | None = None,
                       *, network: FeatureNet | None = None, prepared: PreparedModels | None = None,
                       control: JobControl | None = None) -> Iterator[ImageProgress | ImageResult]:
    """Stylize ``content`` with ``styles``; yields progress events, then the :class:`ImageResult`.

    ``network`` overrides the pretrained backbone (used with random weights by tests and benchmarks);
    ``prepared`` keeps the network's prepared copy for the next run (see :class:`~nst_core.runtime.PreparedModels`);
    ``control`` cancels the run (it raises :class:`~nst_core.control.Cancelled` within one network stage) and
    gives it a time budget (at which it ends with the best image so far and a notice).
    """
    return controlled(_iter_stylize_image(content, styles, settings or ImageSettings(), network, prepared,
                                          control or JobControl()), control)


def _iter_stylize_image(content: ImageSource, styles: Sequence[ImageSource], settings: ImageSettings,
                        network: FeatureNet | None, prepared: PreparedModels | None,
                        control: JobControl) -> Iterator[ImageProgress | ImageResult]:
    styles = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    settings.check(len(styles))
    started = time.perf_counter()
    loaded_content, loaded_styles, notices, greyscale = _load_inputs(content, styles, settings.color)
    regions, mask_notices = load_regions(settings.mask, settings.outside, loaded_content.image.size, len(styles))
    notices += mask_notices
    runtime = pick_runtime(settings.device, settings.precision)
    net = runtime.prepare_model(network or load_backbone(settings.backbone, settings.pooling), prepared)
    generator = torch.Generator().manual_seed(settings.seed)

    sizes = settings.scales()
    total = sum(settings.steps_at(i, len(sizes)) for i in range(len(sizes)))
    done, image, terms, stopped = 0, None, {}, False
    hold = StyleHold(settings.hold_style_from)
    for index, long_side in enumerate(sizes):
        scale = _scale_targets(long_side, loaded_content, loaded_styles, regions, settings, net, runtime)
        start = _initial_image(settings, scale.content, generator) if image is None else image.detach()
        image = resize_tensor(start, tuple(scale.content.shape[-2:])).clamp(0, 1).requires_grad_(True)
        steps = settings.steps_at(index, len(sizes))
        for step, terms in enumerate(_descend(image, scale.objective, steps, settings, hold, long_side,
                                              last_scale=index == len(sizes) - 1)):
            done += 1
            show = step == steps - 1 or (settings.preview_every and done % settings.preview_every == 0)
            preview = _finish(image, scale.content, scale.styles, settings, greyscale, scale.guide) if show else None
            yield ImageProgress(done, total, index, len(sizes), (scale.content.shape[-1], scale.content.shape[-2]),
                                terms, preview)
            stopped = done < total and control.out_of_time()
            if stopped:
                break
        if stopped:
            notices.append(_budget_notice(control, done, total, long_side, sizes[-1]))
            break
        hold.reached(long_side, terms)
        log.debug("scale %d/%d (%d px) done after %.1f s", index + 1, len(sizes), long_side,
                  time.perf_counter() - started)

    if long_side != sizes[-1]:  # stopped early at a smaller scale: the best image so far, at the size asked for
        final = _scale_images(sizes[-1], loaded_content, loaded_styles, regions, settings)
        image = resize_tensor(image.detach(), tuple(final.content.shape[-2:])).clamp(0, 1)
        scale = final
    result = _finish(image, scale.content, scale.styles, settings, greyscale, scale.guide, judge=scale.objective)
    notices += hold.notices()
    record = {**dataclasses.asdict(settings), "num_styles": len(styles), "runtime": runtime.label,
              "mask": _describe(settings.mask)}
    yield ImageResult(result, terms, seconds=time.perf_counter() - started, runtime=runtime.label, settings=record,
                      notices=notices, facts={"style_weight_raised": hold.boost, "steps": done, "scales": len(sizes)},
                      stopped_at_budget=stopped)


def _budget_notice(control: JobControl, done: int, total: int, long_side: int, size: int) -> str:
    enlarged = f", enlarged from {long_side} px" if long_side != size else ""
    return (f"Stopped at this server's time budget ({control.seconds:.0f} s) after {done} of {total} steps: "
            f"this is the best image reached so far{enlarged}. Fewer steps or a smaller size finish in time.")


@dataclass(frozen=True)
class _ScaleTargets:
    """What one scale optimizes towards: the content and styles at its size, the region guide, the loss."""

    content: torch.Tensor
    styles: list[torch.Tensor]
    guide: torch.Tensor | None
    objective: Objective | None = None


def _scale_images(long_side: int, content: LoadedImage, styles: list[LoadedImage], regions: Regions | None,
                  settings: ImageSettings) -> _ScaleTargets:
    """The content, styles and region guide at one scale (no loss yet)."""
    content_t = to_tensor(fit_long_side(content.image, long_side, MIN_SIDE))
    style_ts = [
        recolor_style(to_tensor(fit_long_side(s.image, round(long_side * settings.style_scale), MIN_SIDE)),
                      content_t, settings.color)
        for s in styles
    ]
    guide = regions.at(tuple(content_t.shape[-2:])) if regions else None
    return _ScaleTargets(content_t, style_ts, guide)


def _scale_targets(long_side: int, content: LoadedImage, styles: list[LoadedImage], regions: Regions | None,
                   settings: ImageSettings, net: FeatureNet, runtime: Runtime) -> _ScaleTargets:
    images = _scale_images(long_side, content, styles, regions, settings)
    inside, outside = regions.split(images.styles) if regions else (images.styles, [])
    objective = image_objective(net, runtime, settings, images.content, inside, guide=images.guide,
                                outside_styles=outside)
    return dataclasses.replace(images, objective=objective)


def _descend(image: torch.Tensor, objective: Objective, steps: int, settings: ImageSettings, hold: StyleHold,
             long_side: int, *, last_scale: bool) -> Iterator[dict[str, float]]:
    """``steps`` optimizer steps on ``image`` at one scale, yielding each step's loss terms; the style hold may
    raise the style weight between steps."""
    objective.scales = hold.scales()
    descent = Descent(settings.optimizer, image, settings.learning_rate,
                      clamp=(0.0, 1.0) if settings.optimizer == "adam" else None)
    for step in range(steps):
        terms = descent.step(objective)
        # A raise after the very last step would change nothing but the notice.
        if (step < steps - 1 or not last_scale) and hold.raise_weight(long_side, step, steps, terms):
            objective.scales = hold.scales()
            descent.restart()
        yield terms


def _load_inputs(content: ImageSource, styles: Sequence[ImageSource],
                 color: ColorMode) -> tuple[LoadedImage, list[LoadedImage], list[str], bool]:
    """Decode the images and check their shapes: (content, styles, notices, whether the result stays grey)."""
    loaded_content = load_image(content, label="content image")
    loaded_styles = [load_image(style, label=f"style image {i + 1}") for i, style in enumerate(styles)]
    for loaded, label in ((loaded_content, "content image"), *((s, "a style image") for s in loaded_styles)):
        width, height = loaded.image.size
        if max(width, height) > MAX_ASPECT * min(width, height):
            raise InvalidInput(f"The {label} is {width}x{height}; aspect ratios beyond {MAX_ASPECT}:1 "
                               "are not supported.")
    notices = loaded_content.notices + [n for loaded in loaded_styles for n in loaded.notices]
    # Grey in, grey out: Gram statistics of grey styles still drift into colour at the optimizer's whim.
    greyscale = loaded_content.greyscale and all(s.greyscale for s in loaded_styles)
    if loaded_content.greyscale and not greyscale and color != "luminance":
        notices.append("The content image is greyscale; the result takes its colours from the style image(s). "
                       "Choose Colour: luminance to keep it grey.")
    return loaded_content, loaded_styles, notices, greyscale


def _describe(mask: ImageSource | None) -> str | None:
    """What the settings record says of a mask: a file's name, never an array's values or a folder."""
    if mask is None:
        return None
    return Path(mask).name if isinstance(mask, (str, Path)) else "given"


def _finish(image: torch.Tensor, content: torch.Tensor, styles: list[torch.Tensor], settings: ImageSettings,
            greyscale: bool, guide: torch.Tensor | None = None, *, judge: Objective | None = None) -> Image.Image:
    """The optimized tensor as the result picture: shadows matched (with ``judge_shadows``, unless ``judge``, the
    final scale's objective, finds that further from both the content and the style; previews, which have no
    judge, are not matched), grey kept grey, the content's colours kept if asked."""
    out = image.detach().clamp(0, 1)
    if settings.match_shadows and (judge is not None or not settings.judge_shadows):
        matched = match_shadows(out, styles)
        # Only where a style applies: outside a region left to the content, its tones stay the content's.
        if guide is not None and settings.outside != "second-style":
            matched = guide * matched + (1 - guide) * out
        out = _judged_shadows(judge, matched, out) if settings.judge_shadows else matched
    if greyscale:
        out = to_greyscale(out)
    elif settings.color == "luminance":
        out = keep_content_colors(out, content)
    return to_pil(out)


SHADOW_SHARES = (1.0, 0.75, 0.5, 0.25)  # how much of the shadow matching to try, most first


def _judged_shadows(objective: Objective, matched: torch.Tensor, plain: torch.Tensor) -> torch.Tensor:
    """As much of the shadow matching as the loss allows: the largest share of it that is not further from both
    the content and the style than no matching (the boston photo under udnie keeps 3/4 or less of it, which
    still lifts most crushed blacks; a deep-sky style gets none)."""
    for share in SHADOW_SHARES:
        candidate = plain + share * (matched - plain)
        if not _worse_on_both(objective, candidate, plain):
            return candidate
    return plain


def _worse_on_both(objective: Objective, candidate: torch.Tensor, reference: torch.Tensor) -> bool:
    """Whether ``candidate`` is further than ``reference`` from both the content and the style, by the loss.

    Matching the shadows to a style that is mostly black (a deep-sky photo) darkens most of a photo's shadows
    and costs both distances (the cat and the coffee cup: content 0.60 -> 0.76, style 0.34 -> 0.40 at 256 px);
    where it lifts crushed blacks toward a lighter style it trades a little of one distance for the other, and
    stays."""
    with torch.no_grad():
        _, matched = objective(candidate)
        _, plain = objective(reference)
    style = ("style", "style_outside")
    return (matched.get("content", 0.0) > plain.get("content", 0.0)
            and sum(matched.get(n, 0.0) for n in style) > sum(plain.get(n, 0.0) for n in style))


def stylize_image(content: ImageSource, styles: Sequence[ImageSource], settings: ImageSettings | None = None,
                  *, on_progress: Callable[[ImageProgress], None] | None = None,
                  network: FeatureNet | None = None, prepared: PreparedModels | None = None,
                  control: JobControl | None = None) -> ImageResult:
    """Run :func:`iter_stylize_image` to the end; ``on_progress`` sees every event (raise in it to cancel)."""
    return run_to_result(iter_stylize_image(content, styles, settings, network=network, prepared=prepared,
                                            control=control), ImageResult, on_progress)
