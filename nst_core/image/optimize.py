"""Optimization-based style transfer (Gatys et al. 2016), coarse to fine.

``iter_stylize_image`` is a generator: it yields :class:`ImageProgress` events while it works and a
:class:`ImageResult` last. Stopping the iteration (``close()``, or simply not asking for more)
cancels the job. ``stylize_image`` runs it to the end and reports through an optional callback.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..control import JobControl, controlled
from ..errors import InvalidInput
from ..events import Progress, Result
from ..losses import Objective
from ..optim import Descent, run_to_result
from ..runtime import PreparedModels, pick_runtime
from .backbones import FeatureNet, load_backbone
from .color import ColorMode, keep_content_colors, match_shadows, to_greyscale
from .hold import StyleHold
from .io import ImageSource, LoadedImage, load_image, resize_tensor, to_pil
from .objective import ScaleTargets, scale_images, scale_targets
from .pyramid import Pixels, Pyramid, canvas
from .regions import Regions, load_regions
from .settings import ImageSettings
from .shadows import judged_shadows
from .start import start_image, start_network
from .start_network import StartNetwork

log = logging.getLogger(__name__)

MAX_ASPECT = 16


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
    regions, mask_notices = load_regions(settings.mask, settings.outside, loaded_content.image.size)
    notices += mask_notices
    runtime = pick_runtime(settings.device, settings.precision)
    net = runtime.prepare_model(network or load_backbone(settings.backbone, settings.pooling), prepared)
    generator = torch.Generator().manual_seed(settings.seed)

    sizes = settings.scales()
    total = sum(settings.steps_at(i, len(sizes)) for i in range(len(sizes)))
    done, image, network, terms, stopped = 0, None, None, {}, False
    scale: ScaleTargets | None = None  # the last scale built: its style targets may serve the next
    hold = StyleHold(settings.hold_style_from)
    for index, long_side in enumerate(sizes):
        steps, last = settings.steps_at(index, len(sizes)), index == len(sizes) - 1
        if not settings.builds_scale(index):
            continue  # a schedule 0, 0, 20, ... starts at 256 px; the network renders any later scale afresh
        at_scale = dataclasses.replace(settings, style_scale=settings.style_scale_at(index))
        scale = scale_targets(long_side, loaded_content, loaded_styles, regions, at_scale, net, runtime,
                              earlier=scale)
        if image is None:
            start, network, start_notices = _start(settings, scale, loaded_styles, regions, generator)
            notices += start_notices
            if settings.init == "one-pass" and not start_notices:  # shown at once, before the first step
                yield ImageProgress(0, total, index, len(sizes), (scale.content.shape[-1], scale.content.shape[-2]),
                                    {}, _finish(start, scale.content, scale.styles, settings, greyscale, scale.guide))
        elif network is not None:  # the network's own rendering at this size: no enlargement to make up for
            with torch.no_grad():
                start = network.render(scale.content)
        else:
            start = image.detach()
        moved = (network.at(scale.content) if network is not None and not last else
                 canvas(resize_tensor(start, tuple(scale.content.shape[-2:])).clamp(0, 1), settings.on_pyramid()))
        for step, terms in enumerate(_descend(moved, scale.objective, steps, settings, hold, long_side,
                                              last_scale=last)):
            done += 1
            show = step == steps - 1 or (settings.preview_every and done % settings.preview_every == 0)
            preview = (_finish(moved.picture().detach(), scale.content, scale.styles, settings, greyscale,
                               scale.guide) if show else None)
            yield ImageProgress(done, total, index, len(sizes), (scale.content.shape[-1], scale.content.shape[-2]),
                                terms, preview)
            stopped = done < total and control.out_of_time()
            if stopped:
                break
        image = moved.picture().detach()  # the picture the scale ended at (on the pyramid: composed once)
        if stopped:
            notices.append(_budget_notice(control, done, total, long_side, sizes[-1], network is not None))
            break
        hold.reached(long_side, terms)
        log.debug("scale %d/%d (%d px) done after %.1f s", index + 1, len(sizes), long_side,
                  time.perf_counter() - started)

    if long_side != sizes[-1]:  # stopped early at a smaller scale: the best image so far, at the size asked for
        final = scale_images(sizes[-1], loaded_content, loaded_styles, regions, settings)
        with torch.no_grad():
            image = (network.render(final.content) if network is not None else
                     resize_tensor(image, tuple(final.content.shape[-2:]))).clamp(0, 1)
        scale = final
    result = _finish(image, scale.content, scale.styles, settings, greyscale, scale.guide, judge=scale.objective)
    notices += hold.notices()
    record = {**dataclasses.asdict(settings), "num_styles": len(styles), "runtime": runtime.label,
              "mask": _describe(settings.mask)}
    yield ImageResult(result, terms, seconds=time.perf_counter() - started, runtime=runtime.label, settings=record,
                      notices=notices, facts={"style_weight_raised": hold.boost, "steps": done, "scales": len(sizes)},
                      stopped_at_budget=stopped)


def _start(settings: ImageSettings, scale: ScaleTargets, styles: list[LoadedImage], regions: Regions | None,
           generator: torch.Generator) -> tuple[torch.Tensor, StartNetwork | None, list[str]]:
    """The first scale's start (see :mod:`.start`): the styles that apply inside a region, and the one outside;
    with the network's coarse scales, the network too, its rendering the start."""
    inside, outside = regions.split(styles) if regions else (styles, [])
    if settings.on_network():
        network, notices = start_network(scale.content, [s.image for s in inside], color=settings.color,
                                         blend=settings.style_blend, device=settings.device,
                                         precision=settings.precision)
        if network is None:
            return scale.content.clone(), None, notices
        with torch.no_grad():
            return network.render(scale.content).clamp(0, 1), network, notices
    start, notices = start_image(settings.init, scale.content, [s.image for s in inside], color=settings.color,
                                 blend=settings.style_blend, guide=scale.guide, outside=[s.image for s in outside],
                                 generator=generator, device=settings.device, precision=settings.precision)
    return start, None, notices


def _budget_notice(control: JobControl, done: int, total: int, long_side: int, size: int, rendered: bool) -> str:
    how = "rendered at full size by the network tuned at" if rendered else "enlarged from"
    enlarged = f", {how} {long_side} px" if long_side != size else ""
    return (f"Stopped at this server's time budget ({control.seconds:.0f} s) after {done} of {total} steps: "
            f"this is the best image reached so far{enlarged}. Fewer steps or a smaller size finish in time.")


def _descend(moved: Pyramid | Pixels, objective: Objective, steps: int, settings: ImageSettings, hold: StyleHold,
             long_side: int, *, last_scale: bool) -> Iterator[dict[str, float]]:
    """``steps`` optimizer steps on ``moved`` (the pixels or the pyramid) at one scale, yielding each step's loss
    terms; the style hold may raise the style weight between steps."""
    objective.scales = hold.scales()
    descent = Descent(settings.optimizer, moved.params, settings.learning_rate,
                      clamp=(0.0, 1.0) if settings.optimizer == "adam" else None)
    def on_picture(params: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        return objective(moved.picture(params))

    for step in range(steps):
        terms = descent.step(on_picture)
        # A raise after the very last step would change nothing but the notice.
        if (step < steps - 1 or not last_scale) and hold.raise_weight(long_side, step, steps, terms):
            objective.scales = hold.scales()
            descent.restart()
        yield terms


def _load_inputs(content: ImageSource, styles: Sequence[ImageSource],
                 color: ColorMode) -> tuple[LoadedImage, list[LoadedImage], list[str], bool]:
    """Decode the images and check their shapes: (content, styles, notices, whether the result stays grey)."""
    labels = ["content image", *(f"style image {i + 1}" for i in range(len(styles)))]
    pictures = [load_image(image, label=label) for image, label in zip([content, *styles], labels)]
    loaded_content, *loaded_styles = pictures
    for image, label in zip(pictures, labels):
        width, height = image.image.size
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
        out = judged_shadows(judge, matched, out) if settings.judge_shadows else matched
    if greyscale:
        out = to_greyscale(out)
    elif settings.color == "luminance":
        out = keep_content_colors(out, content)
    return to_pil(out)


def stylize_image(content: ImageSource, styles: Sequence[ImageSource], settings: ImageSettings | None = None,
                  *, on_progress: Callable[[ImageProgress], None] | None = None,
                  network: FeatureNet | None = None, prepared: PreparedModels | None = None,
                  control: JobControl | None = None) -> ImageResult:
    """Run :func:`iter_stylize_image` to the end; ``on_progress`` sees every event (raise in it to cancel)."""
    return run_to_result(iter_stylize_image(content, styles, settings, network=network, prepared=prepared,
                                            control=control), ImageResult, on_progress)
